"""Held-out episodes as one portfolio over calendar time.

Episodes of different symbols overlap in time, so chaining them back to back describes trades
nobody could make. Here every episode-day is booked on the date its return is REALISED (the
position decided at the close of day t earns r_{t+1} at the close of the symbol's next
trading day, row t+1) and each date's portfolio return is the equal-weight mean over the
episode-days booked on it: capital split equally across the symbols traded that day.
Dates on which no episode is open are absent (the portfolio holds nothing then). The equity
curve, drawdown and CAGR of a method come from this daily series
(``evaluate.daily.equal_weight_daily`` over ``return_dates``); buy-and-hold of the same
symbols on the same days is the same computation on the assets' own returns.

Pure numpy / pandas; used by the comparison report and any report over held-out dates
(walk-forward).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from .daily import equal_weight_daily
from .metrics import (
    TRADING_DAYS_PER_YEAR,
    annual_return,
    equity_curve,
    max_drawdown,
    sharpe_ratio,
    total_return,
)


def return_dates(panel_dates: np.ndarray, rows: ArrayLike) -> np.ndarray:
    """[n, E] datetime64[D] dates on which decision rows [n, E] earn their returns: the date
    of row + 1 (the same symbol's next trading day; episodes never end a symbol's rows)."""
    rows = np.asarray(rows)
    return np.asarray(panel_dates)[rows + 1]  # [n, E] rows -> [n, E] dates


def majority_by_date(labels: ArrayLike, dates: ArrayLike) -> pd.Series:
    """Per-date most frequent label of the episode-days booked on it (ties: the smallest
    label), e.g. the market regime of the episodes open that day."""
    lab = np.asarray(labels)
    d = np.asarray(dates)
    if lab.shape != d.shape:
        raise ValueError(f"majority_by_date: labels {lab.shape} and dates {d.shape} differ")
    frame = pd.DataFrame(
        {"date": pd.to_datetime(d.reshape(-1)), "label": lab.reshape(-1)}  # [n, E] -> [n*E]
    )
    return frame.groupby("date", sort=True)["label"].agg(
        lambda s: s.value_counts().sort_index().idxmax()
    )


def drawdown(daily: pd.Series) -> pd.Series:
    """Drawdown path (positive fraction below the running peak) of a daily return series,
    with equity starting at 1 before its first day."""
    equity = equity_curve(daily.to_numpy())  # [T + 1], starting at 1
    peak = np.maximum.accumulate(equity)
    return pd.Series((1.0 - equity / peak)[1:], index=daily.index, name="drawdown")


def calendar_summary(
    daily: pd.Series, periods_per_year: int = TRADING_DAYS_PER_YEAR
) -> dict[str, float | str]:
    """Total return, CAGR, annualised Sharpe and max drawdown of a daily series, its number
    of days and date range (CAGR over the series' trading days, 252 a year)."""
    r = daily.to_numpy()
    if r.size == 0:
        raise ValueError("calendar_summary: the daily series is empty (no episode-days)")
    return {
        "total_return": float(total_return(r)),
        "cagr": float(annual_return(r, periods_per_year)),
        "sharpe": float(sharpe_ratio(r, periods_per_year)),
        "max_drawdown": float(max_drawdown(r)),
        "n_days": float(r.size),
        "first": str(daily.index[0].date()),
        "last": str(daily.index[-1].date()),
    }


__all__ = ["calendar_summary", "drawdown", "equal_weight_daily", "majority_by_date", "return_dates"]
