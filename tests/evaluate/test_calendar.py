"""Held-out episodes over calendar time: the equal-weight daily portfolio, by hand."""

from __future__ import annotations

import numpy as np
import pytest

from quantray.evaluate.calendar import (
    calendar_summary,
    drawdown,
    equal_weight_daily,
    return_dates,
)

# Two symbols in one panel: A is rows 0..4, B rows 5..9 (different, partly shared dates).
A_DATES = ["2024-01-02", "2024-01-03", "2024-01-04", "2024-01-05", "2024-01-08"]
B_DATES = ["2024-01-04", "2024-01-05", "2024-01-08", "2024-01-09", "2024-01-10"]
DATES = np.array([*A_DATES, *B_DATES], dtype="datetime64[D]")
ROWS = np.array([[0, 1, 2], [5, 6, 7]])  # one 3-day episode per symbol
NET = np.array([[0.01, -0.02, 0.03], [0.05, 0.01, -0.01]])


def test_returns_are_booked_on_the_next_trading_day_of_their_symbol():
    dates = return_dates(DATES, ROWS)
    expected = np.array(
        [["2024-01-03", "2024-01-04", "2024-01-05"], ["2024-01-05", "2024-01-08", "2024-01-09"]],
        dtype="datetime64[D]",
    )
    np.testing.assert_array_equal(dates, expected)


def test_equal_weight_series_matches_a_hand_computation():
    daily = equal_weight_daily(NET, return_dates(DATES, ROWS))
    # A alone on Jan 3 and 4; both on Jan 5 (mean of A's +3% and B's +5%); B alone after.
    assert [str(d.date()) for d in daily.index] == [
        "2024-01-03",
        "2024-01-04",
        "2024-01-05",
        "2024-01-08",
        "2024-01-09",
    ]
    np.testing.assert_allclose(daily.to_numpy(), [0.01, -0.02, 0.04, 0.01, -0.01], atol=1e-15)

    summary = calendar_summary(daily)
    equity = 1.01 * 0.98 * 1.04 * 1.01 * 0.99
    assert summary["total_return"] == pytest.approx(equity - 1, abs=1e-12)
    assert summary["cagr"] == pytest.approx(equity ** (252 / 5) - 1, rel=1e-12)
    # Peak 1.01 after Jan 3, trough 1.01 * 0.98 on Jan 4: a 2% drawdown, the largest.
    assert summary["max_drawdown"] == pytest.approx(0.02, abs=1e-12)
    np.testing.assert_allclose(drawdown(daily).to_numpy(), [0, 0.02, 0, 0, 0.01], atol=1e-12)
    assert summary["n_days"] == 5 and summary["first"] == "2024-01-03"


def test_seed_copies_average_per_date():
    dates = return_dates(DATES, ROWS)
    other = NET + 0.02  # a second seed on the same episodes
    daily = equal_weight_daily(np.vstack([NET, other]), np.vstack([dates, dates]))
    np.testing.assert_allclose(daily.to_numpy(), [0.02, -0.01, 0.05, 0.02, 0.0], atol=1e-15)


def test_task_episodes_book_inside_their_own_symbol(regime_task):
    test = regime_task.episodes("test", stride=regime_task.data.episode_len)
    dates = return_dates(regime_task.panel.dates, test.rows)
    sym = regime_task.panel.symbol_id
    assert (sym[test.rows + 1] == sym[test.rows]).all()
    assert (dates > regime_task.panel.dates[test.rows]).all()
