"""Episode-day values as ONE daily series on the calendar: the equal-weight cross-section.

Episodes of several symbols on overlapping dates are not separate pieces of evidence: what a
trader could earn from them is the equal-weight portfolio of the symbols traded each day. Its
length is the number of distinct trading days, which is the T that the deflated Sharpe ratio
and Hansen's SPA test need, and its dates line up across strategies for paired tests.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike


def equal_weight_daily(values: ArrayLike, dates: ArrayLike) -> pd.Series:
    """Mean over the episodes active on each date of per-episode-day values.

    Args:
        values: [n, E] daily values (net returns, active returns, ...).
        dates: [n, E] datetime64 decision date of each value (``task.episode_dates``).

    Returns:
        A Series indexed by the T distinct dates in increasing order; on each date the
        equal-weight average of the values of that date (symbols present that day only).
    """
    v = np.asarray(values, dtype=np.float64)
    d = np.asarray(dates)
    if v.shape != d.shape or v.ndim != 2:
        raise ValueError(
            f"equal_weight_daily: values {v.shape} and dates {d.shape} must both be [n, E] "
            "and aligned (one date per episode-day)."
        )
    calendar, where = np.unique(d.reshape(-1), return_inverse=True)  # [n*E] -> [T]
    totals = np.bincount(where, weights=v.reshape(-1), minlength=len(calendar))
    counts = np.bincount(where, minlength=len(calendar))
    return pd.Series(totals / counts, index=pd.DatetimeIndex(calendar), name="equal_weight")


def distinct_days(dates: ArrayLike) -> int:
    """T: the number of distinct trading days among the episode-days [n, E]."""
    return int(np.unique(np.asarray(dates)).size)


__all__ = ["distinct_days", "equal_weight_daily"]
