"""Learnability: on a regime task the trained GRU beats buy-and-hold and cash out of sample."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import torch

from quantray.accounting import net_returns_torch
from quantray.config import CostConfig, StrategyConfig
from quantray.losses.strategy import StrategyLoss
from quantray.models.strategy_gru import StrategyGRU, anneal_tau

E, D = 20, 8
DRIFT, VOL = 0.004, 0.01


def regime_episodes(n: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Half bull (+0.4 %/day drift), half bear (-0.4 %/day); feature[0] reveals the regime
    (+1 / -1) every day, the other D - 1 features are noise. Daily noise 1 %."""
    regime = torch.where(torch.rand(n, generator=gen) < 0.5, 1.0, -1.0)  # [B]
    features = torch.randn(n, E, D, generator=gen)
    features[:, :, 0] = regime[:, None]
    next_returns = regime[:, None] * DRIFT + VOL * torch.randn(n, E, generator=gen)
    return features, next_returns


@pytest.fixture
def one_thread() -> Iterator[None]:
    # Tiny matmuls: a second thread only adds synchronisation (and suffers most when the
    # test machine is busy).
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize(("hard", "bf16"), [(False, False), (True, False), (False, True)])
def test_gru_learns_the_regime_and_beats_both_baselines(
    one_thread: None, hard: bool, bf16: bool
) -> None:
    steps = 150
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    cfg = StrategyConfig(
        feature_dim=D,
        hidden_size=32,
        head_hidden=32,
        tau_start=1.0,
        tau_min=0.3,
        tau_decay_steps=steps,
        hard=hard,
        bf16=bf16,
        lr=3e-3,
    )
    cost = CostConfig.preset("cn_a_share")
    model = StrategyGRU(cfg)
    loss_fn = StrategyLoss(cfg, cost)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    start = time.perf_counter()
    for step in range(steps):
        features, next_returns = regime_episodes(64, gen)
        out = model(features, next_returns, cost, training=True, tau=anneal_tau(step, cfg))
        loss, _ = loss_fn(out, next_returns)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
    assert time.perf_counter() - start < 30

    # Held-out episodes from a different seed, evaluated with argmax positions.
    features, next_returns = regime_episodes(2000, torch.Generator().manual_seed(1))
    with torch.no_grad():
        out = model(features, next_returns, cost, training=False)
    gru = out.net_returns.sum(-1).mean().item()
    buy_hold = net_returns_torch(torch.ones_like(next_returns), next_returns, cost)[0]
    buy_hold_return = buy_hold.sum(-1).mean().item()
    cash_return = 0.0
    # Perfect regime timing earns ~ 0.5 * 20 * 0.4 % = 4 % per episode; both baselines ~0.
    assert gru > max(buy_hold_return, cash_return) + 0.025, (gru, buy_hold_return)
    bull = features[:, 0, 0] > 0
    assert out.positions[bull].mean() > 0.8
    assert out.positions[~bull].mean() < 0.2
