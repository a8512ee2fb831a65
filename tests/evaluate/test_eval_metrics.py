"""Per-episode metrics: empyrical parity, hand-computed golden numbers, NaN rules, the path."""

from __future__ import annotations

import empyrical
import numpy as np
import pandas as pd
import pytest

from quantray.config import CostConfig
from quantray.evaluate import (
    METRIC_COLUMNS,
    annual_return,
    annual_volatility,
    calmar_ratio,
    episode_metrics,
    evaluate_positions,
    hit_rate,
    max_drawdown,
    pooled_metrics,
    run_backtest,
    sharpe_ratio,
    sortino_ratio,
    total_return,
    turnover,
)

# The 4-day golden example: net returns of days 0..3.
NET4 = np.array([0.01, -0.02, 0.03, -0.01])


def _random_returns(n: int, e: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.normal(0.0005, 0.015, size=(n, e)) + rng.standard_t(3, size=(n, e)) * 0.003


@pytest.mark.parametrize("days", [20, 250])
def test_metrics_match_empyrical(days: int) -> None:
    r = _random_returns(64, days, seed=days)  # [N, E]
    # empyrical works column-wise on [T, N].
    np.testing.assert_allclose(sharpe_ratio(r), empyrical.sharpe_ratio(r.T), rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(
        sortino_ratio(r), empyrical.sortino_ratio(r.T), rtol=1e-8, atol=1e-10
    )
    np.testing.assert_allclose(
        annual_volatility(r), empyrical.annual_volatility(r.T), rtol=1e-8, atol=1e-12
    )
    np.testing.assert_allclose(
        annual_return(r), empyrical.annual_return(r.T), rtol=1e-8, atol=1e-12
    )
    np.testing.assert_allclose(total_return(r), empyrical.cum_returns_final(r.T), atol=1e-12)
    # empyrical's max drawdown is negative; ours is the positive fraction.
    np.testing.assert_allclose(max_drawdown(r), -empyrical.max_drawdown(r.T), atol=1e-12)
    calmar_ref = np.array([empyrical.calmar_ratio(row) for row in r])
    np.testing.assert_allclose(calmar_ratio(r), calmar_ref, rtol=1e-8, atol=1e-10)


def test_first_day_loss_is_a_drawdown_like_empyrical() -> None:
    r = np.array([[-0.05, 0.01, 0.02]])
    assert max_drawdown(r)[0] == pytest.approx(0.05)
    assert max_drawdown(r)[0] == pytest.approx(-empyrical.max_drawdown(r[0]))


def test_golden_four_day_example() -> None:
    # Equity 1 -> 1.01 -> 0.9898 -> 1.019494 -> 1.00929906.
    assert total_return(NET4) == pytest.approx(0.00929906, abs=1e-12)
    # CAGR over 4 of 252 days: 1.00929906 ** 63 - 1.
    assert annual_return(NET4) == pytest.approx(1.00929906**63 - 1, rel=1e-12)
    assert annual_return(NET4) == pytest.approx(0.79164405570, rel=1e-9)
    # mean 0.0025; deviations .0075 -.0225 .0275 -.0125; sum sq 1.475e-3; var = 1.475e-3/3.
    std = np.sqrt(1.475e-3 / 3)  # 0.0221735578
    assert annual_volatility(NET4) == pytest.approx(std * np.sqrt(252), rel=1e-12)
    assert annual_volatility(NET4) == pytest.approx(0.35199431814, rel=1e-9)
    assert sharpe_ratio(NET4) == pytest.approx(0.0025 / std * np.sqrt(252), rel=1e-12)
    assert sharpe_ratio(NET4) == pytest.approx(1.78980161764, rel=1e-9)
    # Downside: (0.02^2 + 0.01^2) / 4 days = 1.25e-4 -> 0.0111803399 per day.
    downside = np.sqrt(1.25e-4)
    assert sortino_ratio(NET4) == pytest.approx(0.0025 * 252 / (downside * np.sqrt(252)))
    assert sortino_ratio(NET4) == pytest.approx(3.54964786986, rel=1e-9)
    # Peaks 1, 1.01, 1.01, 1.019494, 1.019494 -> drawdowns 0, 0, .02, 0, .01.
    assert max_drawdown(NET4) == pytest.approx(0.02, abs=1e-12)
    assert calmar_ratio(NET4) == pytest.approx((1.00929906**63 - 1) / 0.02, rel=1e-9)
    # Positions 0.5, 0.5, 0, 1 from cash: |trades| .5, 0, .5, 1 -> mean 0.5.
    positions = np.array([0.5, 0.5, 0.0, 1.0])
    assert turnover(positions) == pytest.approx(0.5)
    assert turnover(positions, prev_position=0.5) == pytest.approx(0.375)
    # Invested on days 0, 1, 3 with nets +.01, -.02, -.01 -> 1 hit of 3.
    assert hit_rate(NET4, positions) == pytest.approx(1 / 3)


def test_evaluate_positions_golden_with_costs() -> None:
    # commission 10 bp both sides, stamp duty 10 bp on sells.
    cost = CostConfig(commission=0.001, stamp_duty=0.001, charge_exit=False)  # exit: below
    positions = np.array([[1.0, 1.0, 0.0, 0.5]])
    next_returns = np.array([[0.02, -0.01, 0.05, 0.04]])
    frame = evaluate_positions("hand", positions, next_returns, cost)
    # Day 0: buy 1.0 -> cost .001, net .02 - .001 = .019
    # Day 1: hold    -> cost 0,    net -.01
    # Day 2: sell 1  -> cost .002, net 0 - .002 = -.002
    # Day 3: buy .5  -> cost .0005, net .5*.04 - .0005 = .0195
    net = np.array([0.019, -0.01, -0.002, 0.0195])
    row = frame.iloc[0]
    assert list(frame.columns) == ["method", "episode", *METRIC_COLUMNS]
    assert row["method"] == "hand" and row["episode"] == 0
    assert row["total_return"] == pytest.approx(np.prod(1 + net) - 1, abs=1e-14)
    assert row["total_cost"] == pytest.approx(0.0035, abs=1e-14)
    # Buy-and-hold benchmark compounds the raw next-day returns (no costs).
    bench = 1.02 * 0.99 * 1.05 * 1.04 - 1
    assert row["benchmark_return"] == pytest.approx(bench, abs=1e-14)
    assert row["excess_return"] == pytest.approx(np.prod(1 + net) - 1 - bench, abs=1e-14)
    assert row["turnover"] == pytest.approx((1 + 0 + 1 + 0.5) / 4)
    # Invested days 0, 1, 3: nets +, -, + -> 2/3.
    assert row["hit_rate"] == pytest.approx(2 / 3)
    assert row["mean_position"] == pytest.approx(0.625)
    assert row["n_days"] == 4
    assert row["sharpe"] == pytest.approx(sharpe_ratio(net), rel=1e-12)


def test_nan_rules_for_cash_and_no_losses() -> None:
    frame = episode_metrics(np.zeros((3, 20)), np.zeros((3, 20)))
    assert (frame["total_return"] == 0).all() and (frame["max_drawdown"] == 0).all()
    assert (frame["sharpe"] == 0).all(), "an all-cash path has Sharpe 0 (no risk, no return)"
    assert frame["sortino"].isna().all() and frame["calmar"].isna().all()
    assert frame["hit_rate"].isna().all(), "no invested day -> hit rate undefined"
    assert (frame["turnover"] == 0).all()
    # Constant positive returns: no volatility, no losing day, no drawdown.
    up = np.full((1, 20), 0.001)
    assert np.isnan(sharpe_ratio(up)[0]) and np.isnan(sortino_ratio(up)[0])
    assert np.isnan(calmar_ratio(up)[0]) and max_drawdown(up)[0] == 0
    # One day is too few for a dispersion estimate.
    assert np.isnan(sharpe_ratio(np.array([[0.01]]))[0])


def test_vectorised_rows_equal_single_episode_metrics() -> None:
    r = _random_returns(8, 20, seed=3)
    p = np.random.default_rng(4).uniform(size=r.shape)
    prev = np.linspace(0, 1, 8)
    frame = episode_metrics(r, p, prev_position=prev, benchmark_returns=r)
    for i in range(8):
        single = episode_metrics(
            r[i : i + 1], p[i : i + 1], prev_position=prev[i], benchmark_returns=r[i : i + 1]
        )
        pd.testing.assert_frame_equal(frame.iloc[[i]].reset_index(drop=True), single)


def test_pooled_metrics_concatenate_episodes() -> None:
    r = _random_returns(10, 20, seed=5)
    p = np.random.default_rng(6).uniform(size=r.shape)
    pooled = pooled_metrics(r, p, prev_position=0.3, benchmark_returns=r)
    flat = r.reshape(-1)
    assert pooled["sharpe"] == pytest.approx(empyrical.sharpe_ratio(flat), rel=1e-10)
    assert pooled["max_drawdown"] == pytest.approx(-empyrical.max_drawdown(flat), rel=1e-10)
    assert pooled["total_return"] == pytest.approx(np.prod(1 + flat) - 1, rel=1e-10)
    assert pooled["excess_return"] == pytest.approx(0.0, abs=1e-12)
    # Each episode's entry restarts from prev_position, not from the previous episode's end.
    assert pooled["turnover"] == pytest.approx(turnover(p, 0.3).mean())
    assert pooled["n_days"] == 200
    single = episode_metrics(r[:1], p[:1], prev_position=0.3, benchmark_returns=r[:1])
    one = pooled_metrics(r[:1], p[:1], prev_position=0.3, benchmark_returns=r[:1])
    for name in METRIC_COLUMNS:
        assert one[name] == pytest.approx(float(single[name].iloc[0]), nan_ok=True)


def test_limits_use_executed_positions_for_turnover() -> None:
    cost = CostConfig.preset("cn_a_share")
    positions = np.array([[1.0, 1.0, 1.0]])
    next_returns = np.array([[0.01, 0.02, -0.01]])
    limit_up = np.array([[True, False, False]])  # day 0 closed limit-up: the buy cannot fill
    bt = run_backtest(
        positions, next_returns, cost, can_buy=~limit_up, can_sell=np.ones_like(limit_up)
    )
    np.testing.assert_array_equal(bt.executed, [[0.0, 1.0, 1.0]])
    frame = bt.episode_metrics()
    assert frame["turnover"].iloc[0] == pytest.approx(1 / 3)
    assert frame["mean_position"].iloc[0] == pytest.approx(2 / 3)


def test_buy_and_hold_without_costs_has_zero_excess() -> None:
    r = _random_returns(5, 20, seed=7)
    frame = evaluate_positions(
        "bh", np.ones_like(r), r, CostConfig.preset("none"), episode_ids=np.arange(100, 105)
    )
    np.testing.assert_allclose(frame["excess_return"], 0.0, atol=1e-15)
    assert frame["episode"].tolist() == [100, 101, 102, 103, 104]


def test_bad_inputs_raise_clear_errors() -> None:
    r = _random_returns(2, 5)
    cost = CostConfig.preset("none")
    with pytest.raises(ValueError, match=r"expected \[0, 1\]"):
        evaluate_positions("x", np.full_like(r, 1.5), r, cost)
    with pytest.raises(ValueError, match="same as the returns"):
        evaluate_positions("x", np.ones((2, 4)), r, cost)
    bad = r.copy()
    bad[1, 3] = np.nan
    with pytest.raises(ValueError, match="episode 1, day 3"):
        evaluate_positions("x", np.ones_like(r), bad, cost)
    with pytest.raises(ValueError, match="one per episode"):
        evaluate_positions("x", np.ones_like(r), r, cost, prev_position=np.zeros(3))
    # A misspelt option is refused, not silently dropped (every order would fill).
    with pytest.raises(TypeError, match=r"unknown option\(s\) \['can_by'\]"):
        evaluate_positions("x", np.ones_like(r), r, cost, can_by=np.zeros_like(r, dtype=bool))
