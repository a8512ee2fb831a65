"""Baselines: shapes, causality of momentum, and the oracle as an exact ceiling."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from quantray import accounting
from quantray.accounting import position_levels
from quantray.config import CostConfig
from quantray.evaluate import (
    buy_and_hold,
    cash,
    evaluate_baselines,
    momentum,
    perfect_foresight,
    random_policy,
)

N, E = 24, 20


def _returns(n: int = N, e: int = E, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(0.0003, 0.02, size=(n, e))


def _objective(positions: np.ndarray, r: np.ndarray, cost: CostConfig, prev: float) -> np.ndarray:
    """Sum of daily net returns through the one accounting rule: [..., E] -> [...]."""
    net, _, _ = accounting.net_returns_np(
        positions, np.broadcast_to(r, positions.shape), cost, prev_position=prev
    )
    return net.sum(axis=-1)


def test_constant_baselines_and_levels() -> None:
    np.testing.assert_array_equal(buy_and_hold(3, 5), np.ones((3, 5)))
    np.testing.assert_array_equal(cash(3, 5), np.zeros((3, 5)))
    np.testing.assert_allclose(position_levels(), np.arange(11) / 10)


def test_random_policy_is_seeded_and_uniform_over_levels() -> None:
    a = random_policy(200, 20, 7)
    np.testing.assert_array_equal(a, random_policy(200, 20, np.random.default_rng(7)))
    assert not np.array_equal(a, random_policy(200, 20, 8))
    levels = np.round(a * 10).astype(int)
    np.testing.assert_allclose(levels / 10, a)
    counts = np.bincount(levels.ravel(), minlength=11)
    assert counts.size == 11 and (counts > 0).all()
    # 4000 draws, 11 levels: each ~364 +- 18; 5 sigma band.
    assert np.abs(counts - 4000 / 11).max() < 5 * np.sqrt(4000 / 11)


def test_momentum_golden_window_two() -> None:
    # lookback 1, E 3: column lookback + t holds r_t, so the columns are r_-1, r_0, r_1, r_2.
    realised = np.array([[0.02, -0.03, 0.05, -0.01]])
    # t=0: (1.02)(0.97)-1 = -0.0106 < 0 -> 0; t=1: (0.97)(1.05)-1 = 0.0185 -> 1;
    # t=2: (1.05)(0.99)-1 = 0.0395 -> 1.
    np.testing.assert_array_equal(momentum(realised, episode_len=3, window=2), [[0, 1, 1]])
    # Exactly zero trailing return is not > 0.
    np.testing.assert_array_equal(momentum(np.zeros((1, 3)), 3, window=1), [[0, 0, 0]])


def test_momentum_is_causal() -> None:
    lookback, window = 25, 20
    realised = _returns(N, lookback + E, seed=1)
    base = momentum(realised, E, window)
    assert 0 < base.mean() < 1, "test data must produce both positions"
    rng = np.random.default_rng(2)
    for t in range(E):
        changed = realised.copy()
        # Rewrite every return AFTER close t (columns lookback + t + 1 onwards).
        changed[:, lookback + t + 1 :] = rng.normal(0, 0.05, size=(N, E - t - 1))
        np.testing.assert_array_equal(momentum(changed, E, window)[:, : t + 1], base[:, : t + 1])
    # ...and it does react to the return known at close t (so the test can fail).
    flipped = realised.copy()
    flipped[:, lookback] = np.where(base[:, 0] > 0, -0.9, 0.9)
    assert (momentum(flipped, E, window)[:, 0] != base[:, 0]).all()


def test_momentum_needs_enough_lookback() -> None:
    with pytest.raises(ValueError, match="lookback >= 19"):
        momentum(np.zeros((2, 30)), episode_len=20, window=20)


@pytest.mark.parametrize("preset", ["none", "us_equity", "cn_a_share"])
def test_oracle_beats_every_baseline_and_1000_random_policies(preset: str) -> None:
    cost = CostConfig.preset(preset)
    lookback = 19
    realised = _returns(N, lookback + E, seed=3)
    r = realised[:, lookback:]  # any [N, E]; the oracle only needs next returns
    prev = 0.3
    oracle = perfect_foresight(r, cost, prev_position=prev)
    best = _objective(oracle, r, cost, prev)  # [N]
    for positions in (buy_and_hold(N, E), cash(N, E), momentum(realised, E)):
        assert (best >= _objective(positions, r, cost, prev) - 1e-12).all()
    randoms = random_policy(1000 * N, E, 0).reshape(1000, N, E)  # [1000 * N, E] -> [R, N, E]
    assert (best[None, :] >= _objective(randoms, r, cost, prev) - 1e-12).all()


def test_oracle_matches_brute_force_on_short_episodes() -> None:
    # Every one of the 11^4 position paths for a 4-day episode, with asymmetric costs.
    cost = CostConfig(commission=0.002, stamp_duty=0.003, slippage=0.001)
    r = np.random.default_rng(4).normal(0, 0.006, size=(6, 4))  # costs matter at this scale
    levels = position_levels()
    paths = np.array(list(itertools.product(levels, repeat=4)))  # [11^4, 4]
    oracle = perfect_foresight(r, cost, prev_position=0.45)
    for i in range(r.shape[0]):
        brute = _objective(paths, r[i], cost, 0.45).max()
        assert _objective(oracle[i], r[i], cost, 0.45) == pytest.approx(brute, abs=1e-14)
    # The costs change the answer here (so this test exercises the cost terms).
    free = perfect_foresight(r, CostConfig.preset("none"), prev_position=0.45)
    assert not np.array_equal(oracle, free)


def test_oracle_with_zero_costs_earns_sum_of_positive_returns() -> None:
    r = _returns(seed=5)
    cost = CostConfig.preset("none")
    oracle = perfect_foresight(r, cost)
    np.testing.assert_allclose(
        _objective(oracle, r, cost, 0.0), np.maximum(r, 0).sum(axis=1), atol=1e-14
    )
    np.testing.assert_array_equal(oracle, (r > 0).astype(float))


def test_evaluate_baselines_table() -> None:
    lookback = 19
    realised = _returns(N, lookback + E, seed=6)
    r = realised[:, lookback:]
    frame = evaluate_baselines(r, realised, CostConfig.preset("none"), seed=1)
    assert frame.shape[0] == 5 * N
    by_method = frame.groupby("method")["total_return"]
    assert set(by_method.groups) == {
        "buy_and_hold",
        "cash",
        "momentum",
        "random",
        "perfect_foresight",
    }
    # Without costs the oracle is best on every day, hence on the compounded return too.
    table = frame.pivot(index="episode", columns="method", values="total_return")
    assert (table["perfect_foresight"].to_numpy()[:, None] >= table.to_numpy() - 1e-12).all()
    assert (table["cash"] == 0).all()
