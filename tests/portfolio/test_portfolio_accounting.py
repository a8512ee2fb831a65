"""The portfolio accounting rule: hand-computed days, numpy == torch, N=1 == the single-asset
rule, and the fill / weight invariants."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from quantray import accounting
from quantray import portfolio_accounting as pa
from quantray.config import CostConfig

COST = CostConfig(commission=0.001, stamp_duty=0.002)  # buy 10 bp, sell 30 bp


def test_golden_two_days_with_a_blocked_buy() -> None:
    weights = np.array([[[0.5, 0.3], [0.2, 0.6]]])  # [B=1, E=2, N=2]
    next_returns = np.array([[[0.10, -0.10], [0.0, 0.05]]])
    can_buy = np.array([[[True, True], [True, False]]])  # asset 1 cannot be bought on day 1
    net, costs, executed = pa.run_np(weights, next_returns, COST, can_buy=can_buy)
    # Day 0 from cash: buy 0.8 at 10 bp = 0.0008; gross 0.5*0.1 - 0.3*0.1 = 0.02.
    assert costs[0, 0] == pytest.approx(0.0008, abs=1e-12)
    assert net[0, 0] == pytest.approx(0.0192, abs=1e-12)
    # Drift: [0.55, 0.27] / 1.02. Day 1: asset 0 sells 0.539216 -> 0.2 (30 bp); asset 1's buy
    # does not fill, it stays at its drifted 0.27/1.02.
    # Day 1 is the episode's last: the executed weights [0.2, 0.2647] are also sold (30 bp).
    held1 = np.array([0.55, 0.27]) / 1.02
    np.testing.assert_allclose(executed[0, 1], [0.2, held1[1]], atol=1e-12)
    rebalance, exit_sale = 0.003 * (held1[0] - 0.2), 0.003 * (0.2 + held1[1])
    assert costs[0, 1] == pytest.approx(rebalance + exit_sale, abs=1e-12)
    assert net[0, 1] == pytest.approx(held1[1] * 0.05 - rebalance - exit_sale, abs=1e-12)
    # Without the exit charge the last day pays the rebalance only; day 0 is unchanged.
    net_k, costs_k, _ = pa.run_np(
        weights, next_returns, COST.replace(charge_exit=False), can_buy=can_buy
    )
    assert costs_k[0, 1] == pytest.approx(rebalance, abs=1e-12)
    assert net_k[0, 0] == net[0, 0] and costs_k[0, 0] == costs[0, 0]


def test_golden_blocked_sell_cannot_finance_buys() -> None:
    held = np.array([0.6, 0.4, 0.0])  # fully invested
    wanted = np.array([0.1, 0.0, 0.9])
    can_sell = np.array([False, True, True])  # asset 0 closed limit-down: its sell fails
    net, cost, executed, drifted = pa.step_np(
        wanted, held, np.array([0.0, 0.0, 0.1]), COST, can_sell=can_sell
    )
    # After sells: [0.6, 0, 0], free cash 0.4, wanted buy 0.9 -> scaled by 0.4/0.9.
    np.testing.assert_allclose(executed, [0.6, 0.0, 0.4], atol=1e-12)
    assert cost == pytest.approx(0.4 * 0.003 + 0.4 * 0.001, abs=1e-12)
    assert net == pytest.approx(0.04 - 0.0016, abs=1e-12)
    np.testing.assert_allclose(drifted, np.array([0.6, 0.0, 0.44]) / 1.04, atol=1e-12)


def _random_case(seed: int, batch: int = 7, days: int = 20, n_assets: int = 5):
    rng = np.random.default_rng(seed)
    raw = rng.dirichlet(np.ones(n_assets + 1), size=(batch, days))  # [B, E, N+1]
    weights = raw[..., :-1]
    next_returns = rng.normal(0.0, 0.03, size=(batch, days, n_assets))
    can_buy = rng.random((batch, days, n_assets)) > 0.2
    can_sell = rng.random((batch, days, n_assets)) > 0.2
    return weights, next_returns, can_buy, can_sell


@pytest.mark.parametrize("preset", ["none", "us_equity", "cn_a_share"])
def test_numpy_and_torch_agree(preset: str) -> None:
    cost = CostConfig.preset(preset)
    weights, next_returns, can_buy, can_sell = _random_case(seed=1)
    ref = pa.run_np(weights, next_returns, cost, can_buy, can_sell)
    got = pa.run_torch(
        torch.from_numpy(weights),
        torch.from_numpy(next_returns),
        cost,
        torch.from_numpy(can_buy),
        torch.from_numpy(can_sell),
    )
    for a, b in zip(ref, got, strict=True):
        np.testing.assert_allclose(a, b.numpy(), atol=1e-6, rtol=0)


def test_torch_rule_is_differentiable() -> None:
    weights, next_returns, _, _ = _random_case(seed=2)
    w = torch.from_numpy(weights).requires_grad_(True)
    net, _, _ = pa.run_torch(w, torch.from_numpy(next_returns), COST)
    net.sum().backward()
    assert w.grad is not None and torch.isfinite(w.grad).all() and w.grad.abs().sum() > 0


def test_one_asset_all_in_or_out_equals_single_asset_rule() -> None:
    rng = np.random.default_rng(3)
    # Both rules sell the final position at the episode's end (charge_exit, on by default).
    cost = CostConfig.preset("cn_a_share")
    assert cost.charge_exit
    positions = rng.integers(0, 2, size=(6, 20)).astype(float)  # {0, 1}: no drift
    next_returns = rng.normal(0.0, 0.06, size=(6, 20))
    prev_returns = rng.normal(0.0, 0.06, size=(6, 20))
    up, down = accounting.limit_flags(prev_returns, cost.price_limit)
    ref_net, ref_cost, ref_exec = accounting.net_returns_np(
        positions, next_returns, cost, can_buy=~up, can_sell=~down
    )
    can_buy, can_sell = pa.fill_flags(np.ones((6, 20), dtype=bool), prev_returns, cost)
    net, costs, executed = pa.run_np(
        positions[..., None], next_returns[..., None], cost, can_buy[..., None], can_sell[..., None]
    )
    np.testing.assert_allclose(net, ref_net, atol=1e-12)
    np.testing.assert_allclose(costs, ref_cost, atol=1e-12)
    np.testing.assert_allclose(executed[..., 0], ref_exec, atol=1e-12)


def test_fill_invariants_on_random_days() -> None:
    weights, next_returns, can_buy, can_sell = _random_case(seed=4, batch=50)
    held = np.random.default_rng(5).dirichlet(np.ones(6), size=(50, 20))[..., :-1]
    _, _, executed, drifted = pa.step_np(weights, held, next_returns, COST, can_buy, can_sell)
    assert executed.min() >= -1e-12
    assert executed.sum(-1).max() <= 1 + 1e-9
    blocked = ((weights > held) & ~can_buy) | ((weights < held) & ~can_sell)
    np.testing.assert_allclose(executed[blocked], held[blocked], atol=1e-12)
    assert drifted.min() >= -1e-12 and drifted.sum(-1).max() <= 1 + 1e-9


def test_scores_to_weights_mask_cap_and_torch() -> None:
    rng = np.random.default_rng(6)
    scores = rng.uniform(-1, 1, size=(40, 9))  # N = 8 assets + cash
    mask = rng.random((40, 8)) > 0.3
    weights = pa.scores_to_weights_np(scores, mask, cap=0.3)
    assert np.all(weights[~mask] == 0.0)
    assert weights.max() <= 0.3 and weights.min() >= 0 and weights.sum(-1).max() <= 1 + 1e-12
    got = pa.scores_to_weights_torch(torch.from_numpy(scores), torch.from_numpy(mask), cap=0.3)
    np.testing.assert_allclose(got.numpy(), weights, atol=1e-12)
    uncapped = pa.scores_to_weights_np(scores, mask)
    np.testing.assert_allclose(uncapped.sum(-1) + _cash(scores, mask), 1.0, atol=1e-12)


def _cash(scores: np.ndarray, mask: np.ndarray) -> np.ndarray:
    e = np.exp(pa.SCORE_SCALE * scores)
    return e[:, -1] / (e[:, -1] + (e[:, :-1] * mask).sum(-1))


def test_limit_flags_block_the_right_side() -> None:
    cost = CostConfig.preset("cn_a_share")
    can_buy, can_sell = pa.fill_flags(
        np.array([True, True, True, False]), np.array([0.10, -0.10, 0.02, 0.0]), cost
    )
    np.testing.assert_array_equal(can_buy, [False, True, True, False])
    np.testing.assert_array_equal(can_sell, [True, False, True, False])


def test_check_weights_messages() -> None:
    with pytest.raises(ValueError, match="long-only"):
        pa.check_weights(np.array([-0.1, 0.5]))
    with pytest.raises(ValueError, match="sums to"):
        pa.check_weights(np.array([0.7, 0.5]))
    with pytest.raises(ValueError, match="absent"):
        pa.check_weights(np.array([0.2, 0.5]), mask=np.array([True, False]))
