"""Portfolio baselines and metrics: hand-checkable weights, causality of the trailing
estimates, and metrics that say what they should for known portfolios."""

from __future__ import annotations

import numpy as np
import pytest

from quantray.config import CostConfig
from quantray.data.universe import PortfolioTask
from quantray.evaluate import portfolio as pe

COST = CostConfig.preset("us_equity")


def test_equal_weight_and_hold(uneven: PortfolioTask, even: PortfolioTask) -> None:
    eps = uneven.episodes("train", stride=uneven.episode_len)
    w = pe.equal_weight(eps)
    n_live = eps.mask.sum(-1)
    np.testing.assert_allclose(w.sum(-1), (n_live > 0).astype(float))
    assert (w[~eps.mask] == 0).all()
    np.testing.assert_allclose(w[eps.mask], np.repeat(1.0 / n_live, n_live.reshape(-1))[()])
    # Bought and held: on a universe without gaps it trades only on day 0, and sells out
    # (all of it: fully invested) at the episode's end (the exit charge).
    full = even.episodes("test", stride=even.episode_len)
    frame, _ = pe.evaluate_weights("hold", pe.equal_weight_hold(full), full, COST)
    np.testing.assert_allclose(frame["total_cost"], COST.buy_rate + COST.sell_rate, atol=1e-12)
    np.testing.assert_allclose(frame["turnover"], 1.0 / even.episode_len, atol=1e-12)
    daily, _ = pe.evaluate_weights("ew", pe.equal_weight(full), full, COST)
    np.testing.assert_allclose(daily["excess_return"], 0.0, atol=1e-15)
    assert (daily["turnover"] > 1.0 / even.episode_len).all()  # rebalancing trades every day
    np.testing.assert_allclose(daily["concentration"], 4.0, atol=1e-9)


def _trailing_by_hand(task: PortfolioTask, day: int, k: int) -> np.ndarray:
    """[k, N] returns INTO days day-k+1..day (r_t = what close t-1 earned)."""
    return task.next_returns[day - k : day]


def test_inverse_volatility_and_momentum_by_hand(even: PortfolioTask) -> None:
    eps = even.episodes("valid", stride=even.episode_len)
    inv = pe.inverse_volatility(even, eps)
    mom = pe.momentum_top_k(even, eps, k=2)
    for i, t in ((0, 0), (1, 7), (len(eps) - 1, even.episode_len - 1)):
        past = _trailing_by_hand(even, int(eps.days[i, t]), pe.LOOKBACK)
        expected = 1.0 / past.std(axis=0, ddof=1)
        np.testing.assert_allclose(inv[i, t], expected / expected.sum(), atol=1e-12)
        best = np.argsort(-(np.prod(1 + past, axis=0) - 1))[:2]
        np.testing.assert_allclose(mom[i, t][best], 0.5)
        assert mom[i, t].sum() == pytest.approx(1.0)


def test_baselines_read_only_the_past(even: PortfolioTask) -> None:
    eps = even.episodes("valid", stride=even.episode_len)
    day = int(eps.days[0, 5])
    changed = PortfolioTask(
        even.task,
        even.calendar,
        even.cell_row,
        even.available,
        np.where(np.arange(len(even.calendar))[:, None] >= day, 0.2, even.next_returns),
        even.prev_returns,
        even.day_split,
    )
    for fn in (pe.inverse_volatility, pe.minimum_variance, pe.momentum_top_k):
        a, b = fn(even, eps), fn(changed, eps)
        np.testing.assert_allclose(a[0, :6], b[0, :6], atol=1e-12)  # days <= 5: r up to r_5


def test_minimum_variance_matches_the_closed_form_and_beats_others(even: PortfolioTask) -> None:
    eps = even.episodes("test", stride=even.episode_len).subset(np.arange(2))
    mv = pe.minimum_variance(even, eps)
    ew, inv = pe.equal_weight(eps), pe.inverse_volatility(even, eps)
    assert (mv >= -1e-9).all()
    np.testing.assert_allclose(mv.sum(-1), 1.0, atol=1e-6)
    for t in (0, 10):
        past = _trailing_by_hand(even, int(eps.days[0, t]), pe.LOOKBACK)
        sigma = np.cov(past, rowvar=False)
        sigma = (1 - pe.COV_SHRINK) * sigma + pe.COV_SHRINK * np.diag(np.diag(sigma))
        closed = np.linalg.solve(sigma, np.ones(4))
        if (closed > 0).all():  # interior optimum: the unconstrained closed form
            np.testing.assert_allclose(mv[0, t], closed / closed.sum(), atol=1e-4)
        var = lambda w, s=sigma: w @ s @ w  # noqa: E731
        assert var(mv[0, t]) <= min(var(ew[0, t]), var(inv[0, t])) + 1e-12


def test_pooled_summary_cash_is_zero_sharpe(even: PortfolioTask) -> None:
    eps = even.episodes("test", stride=even.episode_len)
    _, paths = pe.evaluate_weights("cash", np.zeros(eps.mask.shape), eps, COST)
    assert pe.pooled_summary(paths) == {
        "pooled_sharpe": 0.0,
        "pooled_return": 0.0,
        "pooled_max_drawdown": 0.0,
    }


def test_scored_table_judges_against_one_over_n(even: PortfolioTask) -> None:
    """The report's table is the shared ``Scored`` one with 1/N as the benchmark: the IR is
    the pooled Sharpe of the daily active return against 1/N, and 1/N has none of its own."""
    from quantray.evaluate.metrics import pooled_sharpe

    eps = even.episodes("test", stride=even.episode_len)
    weights = {
        "momentum_top_k": pe.momentum_top_k(even, eps),
        pe.BENCHMARK: pe.equal_weight(eps),
    }
    _, paths = pe.evaluate_all(weights, eps, COST)
    table = pe.scored(paths, even.episode_dates(eps)).table().set_index("method")
    active = paths["momentum_top_k"]["net"] - paths[pe.BENCHMARK]["net"]
    assert table.loc["momentum_top_k", "ir"].estimate == pytest.approx(pooled_sharpe(active))
    assert table.loc["momentum_top_k", "sharpe"].estimate == pytest.approx(
        pooled_sharpe(paths["momentum_top_k"]["net"])
    )
    assert table.loc[pe.BENCHMARK, "ir"] is None
