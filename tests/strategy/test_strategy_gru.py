"""StrategyGRU: shapes, accounting consistency, gradient flow through the feedback, causality."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from quantray.accounting import limit_flags, net_returns_np, net_returns_torch
from quantray.config import CostConfig, StrategyConfig
from quantray.losses.strategy import StrategyLoss
from quantray.models.strategy_gru import StrategyGRU, StrategyOutput, anneal_tau

B, E, D = 8, 20, 16


def _model(seed: int = 0, **changes: object) -> StrategyGRU:
    torch.manual_seed(seed)
    return StrategyGRU(StrategyConfig(feature_dim=D, hidden_size=32, head_hidden=32, **changes))


def _batch(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    features = torch.randn(B, E, D, generator=gen)
    next_returns = torch.randn(B, E, generator=gen) * 0.02
    return features, next_returns


def test_shapes_and_position_grid() -> None:
    model = _model()
    features, next_returns = _batch()
    cost = CostConfig.preset("us_equity")
    out = model(features, next_returns, cost, training=False)
    assert isinstance(out, StrategyOutput)
    assert out.positions.shape == (B, E) and out.logits.shape == (B, E, 11)
    assert out.net_returns.shape == (B, E) and out.costs.shape == (B, E)
    # Eval: argmax -> exactly one of 0, 0.1, ..., 1.0.
    grid = out.positions * 10
    assert torch.allclose(grid, grid.round(), atol=1e-6)
    assert torch.equal(out.positions, out.logits.argmax(-1).float() / 10)
    out_train = model(features, next_returns, cost, training=True, tau=0.5)
    assert (out_train.positions >= 0).all() and (out_train.positions <= 1).all()
    hard = _model(hard=True)(features, next_returns, cost, training=True)
    assert torch.allclose(hard.positions * 10, (hard.positions * 10).round(), atol=1e-5)
    with pytest.raises(ValueError, match=r"features must be \[B, E, D=16\]"):
        model(features[..., :5], next_returns, cost)


def test_training_flag_defaults_to_module_mode() -> None:
    model = _model()
    features, next_returns = _batch()
    cost = CostConfig.preset("none")
    model.eval()
    a = model(features, next_returns, cost).positions
    b = model(features, next_returns, cost).positions
    assert torch.equal(a, b)  # argmax: deterministic
    model.train()
    torch.manual_seed(1)
    c = model(features, next_returns, cost).positions
    torch.manual_seed(2)
    d = model(features, next_returns, cost).positions
    assert not torch.equal(c, d)  # Gumbel sampling


@pytest.mark.parametrize("training", [False, True])
def test_model_accounting_is_the_one_rule(training: bool) -> None:
    model = _model().double()
    features, next_returns = _batch()
    features, next_returns = features.double(), next_returns.double()
    cost = CostConfig.preset("cn_a_share")
    # Big moves so that limit days occur; r_t into day 0 taken as 0.
    next_returns = (next_returns * 6).clamp(-0.1, 0.1)
    into_day = torch.cat([torch.zeros(B, 1, dtype=torch.float64), next_returns[:, :-1]], dim=1)
    up, down = limit_flags(into_day, cost.price_limit)
    assert up.any() and down.any()
    out = model(features, next_returns, cost, training=training, can_buy=~up, can_sell=~down)
    # The limit rule holds for the positions actually held.
    prev = torch.cat([torch.zeros(B, 1, dtype=torch.float64), out.positions[:, :-1]], dim=1)
    assert (out.positions[up] <= prev[up] + 1e-12).all()
    assert (out.positions[down] >= prev[down] - 1e-12).all()
    # Replaying the wanted positions through the episode accounting gives the same P&L.
    net, costs, executed = net_returns_torch(out.wanted, next_returns, cost, 0.0, ~up, ~down)
    torch.testing.assert_close(executed, out.positions)
    torch.testing.assert_close(net, out.net_returns)
    torch.testing.assert_close(costs, out.costs)
    net_np, _, _ = net_returns_np(
        out.wanted.detach().numpy(), next_returns.numpy(), cost, 0.0, ~up.numpy(), ~down.numpy()
    )
    np.testing.assert_allclose(out.net_returns.detach().numpy(), net_np, atol=1e-12)
    # The loss reads the output's own accounting; replaying the wanted positions agrees.
    loss_fn = StrategyLoss(model.config, cost)
    _, from_output = loss_fn(out, next_returns, can_buy=~up, can_sell=~down)
    _, from_wanted = loss_fn(out.wanted, next_returns, can_buy=~up, can_sell=~down)
    for name, value in from_output.items():
        assert value == pytest.approx(from_wanted[name], abs=1e-12), name


def test_anneal_tau_is_exponential() -> None:
    cfg = StrategyConfig(tau_start=2.0, tau_min=0.5, tau_decay_steps=100)
    assert anneal_tau(0, cfg) == pytest.approx(2.0)
    assert anneal_tau(50, cfg) == pytest.approx(1.0)  # geometric mean of 2.0 and 0.5
    assert anneal_tau(100, cfg) == pytest.approx(0.5)
    assert anneal_tau(10_000, cfg) == pytest.approx(0.5)
    taus = [anneal_tau(s, cfg) for s in range(0, 101, 10)]
    assert all(a > b for a, b in itertools.pairwise(taus))


def test_every_parameter_gets_a_gradient() -> None:
    model = _model()
    features, next_returns = _batch()
    cost = CostConfig.preset("cn_a_share").replace(enforce_price_limit=False, price_limit=None)
    cfg = model.config.replace(information_ratio_weight=0.1, transaction_cost_weight=1.0)
    out = model(features, next_returns, cost, training=True, tau=1.0)
    loss, terms = StrategyLoss(cfg, cost)(out, next_returns)
    loss.backward()
    for name, param in model.named_parameters():
        assert param.grad is not None, name
        assert param.grad.abs().sum() > 0, name
    assert np.isfinite(list(terms.values())).all()


def _logits_of_day0_gradient(detach_feedback: bool) -> torch.Tensor:
    """d (net return of the last day) / d (logits of day 0), via a hook on the head."""
    model = _model()
    features, next_returns = _batch()
    captured: list[torch.Tensor] = []
    handle = model.head.register_forward_hook(lambda _m, _i, out: captured.append(out))
    torch.manual_seed(0)
    out = model(
        features,
        next_returns,
        CostConfig.preset("us_equity"),
        training=True,
        tau=1.0,
        detach_feedback=detach_feedback,
    )
    handle.remove()
    assert len(captured) == E
    last_day_loss = -out.net_returns[:, E - 1].sum()
    (grad,) = torch.autograd.grad(last_day_loss, captured[0], allow_unused=True)
    return torch.zeros_like(captured[0]) if grad is None else grad


def test_last_day_loss_reaches_day0_logits_through_the_feedback() -> None:
    through = _logits_of_day0_gradient(detach_feedback=False)
    assert through.abs().sum() > 1e-8
    # Cut the fed-back position (and the portfolio state that depends on it): the only path
    # from day 0's decision to day 19's P&L is gone.
    cut = _logits_of_day0_gradient(detach_feedback=True)
    assert cut.abs().sum() == 0


@pytest.mark.parametrize("training", [False, True])
@pytest.mark.parametrize("day", [0, 5, 19])
def test_position_of_day_t_ignores_the_future(training: bool, day: int) -> None:
    model = _model()
    features, next_returns = _batch()
    cost = CostConfig.preset("cn_a_share").replace(enforce_price_limit=False, price_limit=None)

    def run(f: torch.Tensor, r: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        torch.manual_seed(123)  # the same Gumbel noise for the same day in every run
        with torch.no_grad():
            out = model(f, r, cost, training=training, tau=0.7)
        return out.positions, out.logits

    base, base_logits = run(features, next_returns)
    gen = torch.Generator().manual_seed(99)
    future_features = features.clone()
    future_features[:, day + 1 :] = torch.randn(B, E - day - 1, D, generator=gen) * 5
    # next_returns[:, day] = r_{day+1} is already the future at the close of `day`.
    future_returns = next_returns.clone()
    future_returns[:, day:] = torch.randn(B, E - day, generator=gen) * 0.1
    changed, changed_logits = run(future_features, future_returns)
    torch.testing.assert_close(changed[:, : day + 1], base[:, : day + 1], rtol=0, atol=0)
    # Logits too: an argmax can hide a small leak, a continuous logit cannot.
    torch.testing.assert_close(
        changed_logits[:, : day + 1], base_logits[:, : day + 1], rtol=0, atol=0
    )
    if day < E - 1:
        # The perturbation is strong enough to move later positions: the check has teeth.
        assert not torch.equal(changed[:, day + 1 :], base[:, day + 1 :])


def test_realised_return_of_day_t_does_enter_day_t_state() -> None:
    # r_t (next_returns[:, t-1]) is known at close t and feeds the cumulative-return input:
    # the soft training position of day t moves with it (the causality test is not vacuous).
    model = _model()
    features, next_returns = _batch()
    cost = CostConfig.preset("none")
    torch.manual_seed(5)
    base = model(features, next_returns, cost, training=True).positions.detach()
    bumped = next_returns.clone()
    bumped[:, 4] += 0.05
    torch.manual_seed(5)
    moved = model(features, bumped, cost, training=True).positions.detach()
    torch.testing.assert_close(moved[:, :5], base[:, :5], rtol=0, atol=0)
    assert (moved[:, 5] - base[:, 5]).abs().max() > 1e-6
