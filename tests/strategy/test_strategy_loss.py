"""StrategyLoss: golden numbers and the sign of every term."""

from __future__ import annotations

import pytest
import torch

from quantray.config import BEAR, BULL, SIDEWAYS, CostConfig, StrategyConfig
from quantray.losses.market import classify_market
from quantray.losses.strategy import (
    TERM_NAMES,
    StrategyLoss,
    benchmark_positions,
    downside_deviation,
    max_drawdown,
)

E = 20
NONE = CostConfig.preset("none")
US = CostConfig.preset("us_equity")


def _flat(level: float, returns: torch.Tensor) -> torch.Tensor:
    return torch.full_like(returns, level)


def _rising(batch: int = 4) -> torch.Tensor:
    gen = torch.Generator().manual_seed(0)
    return 0.008 + 0.003 * torch.randn(batch, E, generator=gen, dtype=torch.float64)


def _falling(batch: int = 4) -> torch.Tensor:
    return -_rising(batch)


def test_golden_small_episode() -> None:
    # E = 4, bull path r = [0.01, 0.02, 0.01, 0.02] (every voter says bull), no costs,
    # constant half position, starting at 0.5 (so no entry trade):
    #   strategy = 0.5 * 0.06 = 0.03, bull benchmark (p = 1) = 0.06 -> relative loss = 0.03
    #   opportunity = sum (1 - 0.5) * r = 0.03
    #   no losing day: drawdown 0, downside sqrt(0 + 1e-12) = 1e-6 -> risk = 1e-6
    #   active = -0.5 * r = [-.005, -.01, -.005, -.01]: mean -0.0075, std 0.0025
    #     -> IR = -0.0075 / (0.0025 + 1e-4) = -2.884615..., term = +2.884615...
    returns = torch.tensor([[0.01, 0.02, 0.01, 0.02]], dtype=torch.float64)
    cfg = StrategyConfig(
        risk_cost_weight=2.0, opportunity_cost_weight=3.0, information_ratio_weight=0.5
    )
    assert classify_market(returns, cfg).tolist() == [BULL]
    total, terms = StrategyLoss(cfg, NONE)(_flat(0.5, returns), returns, prev_position=0.5)
    assert terms["relative_return_loss"] == pytest.approx(0.03, abs=1e-12)
    assert terms["opportunity_cost"] == pytest.approx(0.03, abs=1e-12)
    assert terms["risk_cost"] == pytest.approx(1e-6, abs=1e-12)
    assert terms["transaction_cost"] == 0.0
    assert terms["information_ratio_term"] == pytest.approx(0.0075 / 0.0026, rel=1e-9)
    want_total = 0.03 + 2.0 * 1e-6 + 3.0 * 0.03 + 0.5 * 0.0075 / 0.0026
    assert total.item() == pytest.approx(want_total, rel=1e-9)
    assert terms["total"] == pytest.approx(want_total, rel=1e-9)
    assert set(TERM_NAMES) <= set(terms)
    assert all(isinstance(v, float) for v in terms.values())


def test_risk_helpers_golden() -> None:
    # equity 1 -> 1.1 -> 0.55 -> 0.66: peak 1.1, deepest 0.55 -> drawdown 0.5
    assert max_drawdown(torch.tensor([0.1, -0.5, 0.2])).item() == pytest.approx(0.5)
    # losses only from the start: equity 1 -> 0.9 -> 0.81: drawdown 0.19 (from the initial 1.0)
    assert max_drawdown(torch.tensor([-0.1, -0.1])).item() == pytest.approx(0.19)
    # min(net, 0)^2 = [0, 0.04, 0, 0.01], mean 0.0125, sqrt = 0.1118034
    dd = downside_deviation(torch.tensor([0.1, -0.2, 0.0, -0.1], dtype=torch.float64))
    assert dd.item() == pytest.approx(0.0125**0.5, rel=1e-9)


def test_benchmark_positions_by_market() -> None:
    market = torch.tensor([BULL, BEAR, SIDEWAYS])
    bench = benchmark_positions(market, 3, torch.float32)
    assert bench.tolist() == [[1.0] * 3, [0.0] * 3, [0.5] * 3]


def test_relative_return_sign() -> None:
    loss = StrategyLoss(StrategyConfig(), US)
    up, down = _rising(), _falling()
    assert classify_market(up).eq(BULL).all() and classify_market(down).eq(BEAR).all()
    _, all_in_up = loss(_flat(1.0, up), up)
    _, cash_up = loss(_flat(0.0, up), up)
    assert all_in_up["relative_return_loss"] == pytest.approx(0.0, abs=1e-12)  # = benchmark
    assert cash_up["relative_return_loss"] > all_in_up["relative_return_loss"] + 0.1
    _, all_in_down = loss(_flat(1.0, down), down)
    _, cash_down = loss(_flat(0.0, down), down)
    assert cash_down["relative_return_loss"] == pytest.approx(0.0, abs=1e-12)
    assert all_in_down["relative_return_loss"] > cash_down["relative_return_loss"] + 0.1


def test_risk_opportunity_cost_and_ir_signs() -> None:
    loss = StrategyLoss(StrategyConfig(), US)
    up, down = _rising(), _falling()
    _, all_in_down = loss(_flat(1.0, down), down)
    _, cash_down = loss(_flat(0.0, down), down)
    assert all_in_down["risk_cost"] > cash_down["risk_cost"] + 0.1  # ~15 % drawdown vs none
    # Missed upside only counts in bull episodes, and only while under-invested.
    _, cash_up = loss(_flat(0.0, up), up)
    _, half_up = loss(_flat(0.5, up), up)
    _, all_in_up = loss(_flat(1.0, up), up)
    assert cash_up["opportunity_cost"] > half_up["opportunity_cost"] > 0.0
    assert all_in_up["opportunity_cost"] == 0.0
    assert cash_down["opportunity_cost"] == 0.0 and all_in_down["opportunity_cost"] == 0.0
    # Beating the benchmark gives a negative (rewarding) IR term, lagging a positive one.
    assert all_in_down["information_ratio_term"] > 0
    assert cash_up["information_ratio_term"] > 0
    market = torch.full((4,), SIDEWAYS)  # benchmark 0.5: all-in beats it on a rising path
    _, beat = loss(_flat(1.0, up), up, market=market)
    assert beat["information_ratio_term"] < 0
    assert beat["relative_return_loss"] < 0


def test_transaction_cost_penalises_churn() -> None:
    loss = StrategyLoss(
        StrategyConfig(transaction_cost_weight=1.0),
        CostConfig.preset("cn_a_share").replace(charge_exit=False),  # exit: tested below
    )
    returns = _rising()
    churn = torch.tensor([0.0, 1.0], dtype=torch.float64).repeat(E // 2).expand(4, E)
    _, churn_terms = loss(churn, returns)
    _, hold_terms = loss(_flat(1.0, returns), returns)
    # Hold: one buy of 1.0 at 2.5 bp. Churn: 10 buys (2.5 bp) + 9 sells (7.5 bp) of 1.0.
    assert hold_terms["transaction_cost"] == pytest.approx(0.00025)
    assert churn_terms["transaction_cost"] == pytest.approx(10 * 0.00025 + 9 * 0.00075)


def test_loss_gradient_pushes_toward_the_right_position() -> None:
    # d loss / d position is negative on a bull path (buy more) and positive on a bear path.
    loss = StrategyLoss(StrategyConfig(), US)
    for returns, sign in ((_rising(), -1.0), (_falling(), 1.0)):
        positions = _flat(0.5, returns).requires_grad_(True)
        total, _ = loss(positions, returns, prev_position=0.5)
        total.backward()
        assert (positions.grad.sum() * sign) > 0


def test_shape_error_message() -> None:
    with pytest.raises(ValueError, match=r"must both be \[B, E\]"):
        StrategyLoss(StrategyConfig(), NONE)(torch.zeros(3, E), torch.zeros(3, E - 1))
