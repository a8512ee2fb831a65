"""The multi-asset task: a point-in-time universe over uneven histories, and its episodes.

Assets list, delist and take holidays at different dates. The universe is built on the
union calendar of all assets (never cut to the shortest history) as [T, N] index arrays over
the single-asset ``Task``'s panel, so the features (raw normalised or a frozen-feature
cache), the splits and the normaliser are exactly the single-asset task's:

* ``cell_row[t, n]``: the panel row of asset n on calendar day t, or -1 when it has no bar
  that day (not listed yet, delisted, suspended or its own holiday). Nothing is
  forward-filled: a day without a bar has no features.
* ``available[t, n]``: asset n is in the universe on day t: it trades that day AND has a full
  stage-1 feature window behind it (the single-asset episode rule). Only available assets can
  be traded or given a target weight; features of other cells read as 0.
* ``next_returns[t, n]``: ``r_{t+1}``, what a position held from close t to close t+1 earns.
  A held position is marked at the asset's last close, so the return is 0 across a day the
  asset does not trade and the move since its last close lands on the day it trades again.
  This mark values what is held; it is never a tradable price or a feature.
* ``prev_returns[t, n]``: the return into day t from the asset's previous bar (known at close
  t; NaN without a bar), for the price-limit rule.

Episodes are E consecutive calendar days inside one split (the same date-based splits as the
single-asset task) whose first day has at least one available asset.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from quantray.config import CostConfig
from quantray.data.errors import DataError
from quantray.data.load import load_bars
from quantray.data.sample import SAMPLE_PATH
from quantray.data.task import Task, TaskOptions, load_task
from quantray.data.windows import take_episodes

if TYPE_CHECKING:
    from typing_extensions import Unpack


@dataclass(frozen=True)
class PortfolioEpisodes:
    """A fixed list of E-day portfolio episodes over N assets (arrays gathered once)."""

    days: np.ndarray
    """[n, E] int64 calendar-day index of each decision day."""
    rows: np.ndarray
    """[n, E, N] int64 panel rows of each cell (-1: no bar that day)."""
    mask: np.ndarray
    """[n, E, N] bool: the asset is in the universe that day (tradable, full window)."""
    next_returns: np.ndarray
    """[n, E, N] float64 ``r_{t+1}`` per asset (0 across days it does not trade)."""
    prev_returns: np.ndarray
    """[n, E, N] float64 return into day t (NaN without a bar), for price-limit flags."""

    def __len__(self) -> int:
        return len(self.days)

    @property
    def starts(self) -> np.ndarray:
        """[n] calendar-day index of each episode's first decision day."""
        return self.days[:, 0]

    def features(self, table: np.ndarray, idx: np.ndarray | None = None) -> np.ndarray:
        """[n, E, N, D] float32 features of each cell from a per-row table [rows, D]; 0 where
        the asset is not in the universe. ``idx`` gathers only those episodes."""
        rows = self.rows if idx is None else self.rows[idx]
        mask = self.mask if idx is None else self.mask[idx]
        out = table[np.where(mask, rows, 0)]  # [n, E, N] rows -> [n, E, N, D]
        out[~mask] = 0.0
        return out.astype(np.float32, copy=False)

    def fill_flags(self, cost: CostConfig) -> tuple[np.ndarray, np.ndarray]:
        """``(can_buy, can_sell)`` [n, E, N]: in the universe and, with an enforced price
        limit, not closed at the limit in that direction."""
        from quantray.portfolio_accounting import fill_flags

        return fill_flags(self.mask, self.prev_returns, cost)

    def subset(self, idx: np.ndarray) -> PortfolioEpisodes:
        """The episodes ``idx``."""
        return take_episodes(self, idx)


@dataclass(frozen=True)
class PortfolioTask:
    """A single-asset ``Task`` seen as a [T, N] universe (module docstring)."""

    task: Task
    calendar: np.ndarray
    """[T] datetime64[D] union of all assets' trading days."""
    cell_row: np.ndarray
    """[T, N] int64 panel row of (day, asset), -1 without a bar."""
    available: np.ndarray
    """[T, N] bool: in the universe (trades that day, full feature window)."""
    next_returns: np.ndarray
    """[T, N] float64 r_{t+1} of a position held from close t (0 on the last day)."""
    prev_returns: np.ndarray
    """[T, N] float64 return into day t from the asset's previous bar, NaN without a bar."""
    day_split: np.ndarray
    """[T] int8: 0 train, 1 valid, 2 test, -1 embargo."""

    @property
    def symbols(self) -> tuple[str, ...]:
        return self.task.panel.symbols

    @property
    def n_assets(self) -> int:
        return len(self.symbols)

    @property
    def dim(self) -> int:
        return self.task.dim

    @property
    def episode_len(self) -> int:
        return self.task.data.episode_len

    @classmethod
    def from_task(cls, task: Task) -> PortfolioTask:
        panel = task.panel
        calendar = np.unique(panel.dates)  # [T], the calendar make_splits cuts
        day = np.searchsorted(calendar, panel.dates)  # [rows]
        cell_row = np.full((len(calendar), len(panel.symbols)), -1, dtype=np.int64)
        cell_row[day, panel.symbol_id] = np.arange(panel.n_rows)
        present = cell_row >= 0
        windowed = panel.first_window_row(task.data.window)
        available = present & windowed[np.where(present, cell_row, 0)]
        # The mark of a held position: the last close at or before each day (NaN before the
        # asset's first bar). Used for valuation only.
        close = np.where(present, panel.close[np.where(present, cell_row, 0)], np.nan)
        mark = pd.DataFrame(close).ffill().to_numpy()  # [T, N]
        next_returns = np.zeros_like(mark)
        with np.errstate(invalid="ignore"):
            moved = mark[1:] / mark[:-1] - 1.0  # [T-1, N]
        next_returns[:-1] = np.nan_to_num(moved, nan=0.0)
        prev_returns = np.where(
            present, panel.prev_returns()[np.where(present, cell_row, 0)], np.nan
        )
        day_split = np.full(len(calendar), -1, dtype=np.int8)
        day_split[day] = task.splits.row_split
        return cls(task, calendar, cell_row, available, next_returns, prev_returns, day_split)

    def episode_starts(self, split: str, stride: int = 1) -> np.ndarray:
        """Calendar days s whose episode s..s+E-1 (and the close of s+E) lie inside
        ``split`` and whose first day has an available asset; ``stride=E`` gives the
        non-overlapping evaluation list."""
        code = self.task.splits.code(split)
        E = self.episode_len
        T = len(self.calendar)
        inside = self.day_split == code  # [T]
        # Splits are contiguous date ranges: checking both ends checks every day between.
        ok = np.zeros(T, dtype=bool)
        ok[: T - E] = inside[: T - E] & inside[E:]
        ok &= self.available.any(axis=1)
        starts = np.flatnonzero(ok)
        if stride > 1 and len(starts):
            starts = starts[(starts - starts[0]) % stride == 0]
        return starts

    def episodes(self, split: str, stride: int = 1) -> PortfolioEpisodes:
        """The episodes of ``split`` as gathered [n, E, N] arrays."""
        starts = self.episode_starts(split, stride)
        days = starts[:, None] + np.arange(self.episode_len)  # [n, E]
        return PortfolioEpisodes(
            days=days,
            rows=self.cell_row[days],
            mask=self.available[days],
            next_returns=self.next_returns[days],
            prev_returns=self.prev_returns[days],
        )

    def realised_returns(self, episodes: PortfolioEpisodes, lookback: int) -> np.ndarray:
        """[n, lookback + E, N]: column lookback + t is the return INTO day t of each asset
        (marked like ``next_returns``; 0 where the asset had no price yet, and for days
        before the calendar starts), known at close t:
        the trailing data that volatility, covariance and momentum baselines read."""
        # [K + T, N]: r_t = what close t-1 earned, after K rows of 0 for days before the data.
        into = np.zeros((lookback + len(self.calendar), self.n_assets))
        into[lookback + 1 :] = self.next_returns[:-1]
        days = episodes.starts[:, None] + np.arange(self.episode_len + lookback)  # [n, K + E]
        return into[days]  # [n, K + E] -> [n, K + E, N]

    def episode_dates(self, episodes: PortfolioEpisodes) -> np.ndarray:
        """[n, E] datetime64 decision days of ``episodes`` (for date-block statistics)."""
        return self.calendar[episodes.days]

    def describe(self) -> str:
        return (
            f"universe of {self.n_assets} assets ({', '.join(self.symbols[:8])}"
            f"{', ...' if self.n_assets > 8 else ''}) on {len(self.calendar)} calendar days; "
            f"{self.task.describe()}"
        )


def select_universe(
    bars: dict[str, pd.DataFrame], universe: list[str] | tuple[str, ...] | None
) -> dict[str, pd.DataFrame]:
    """The bars of the named symbols (all when None); a clear error for unknown names."""
    if universe is None:
        return bars
    missing = [s for s in universe if s not in bars]
    if missing:
        raise DataError(
            "--universe",
            "symbol(s) not found in the data",
            found=", ".join(missing),
            expected=f"symbols of the data: {', '.join(sorted(bars))}",
            fix="fix the --universe list or add the missing files to --data",
        )
    if len(set(universe)) < 2:
        raise DataError(
            "--universe",
            "a portfolio needs at least 2 distinct symbols",
            found=", ".join(universe),
            fix="name two or more symbols, or leave --universe out to use all of them",
        )
    return {s: bars[s] for s in universe}


def load_portfolio_task(
    data: str | Path | None = None,
    *,
    universe: list[str] | tuple[str, ...] | None = None,
    bars: dict[str, pd.DataFrame] | None = None,
    **options: Unpack[TaskOptions],
) -> PortfolioTask:
    """Load bars (default: the bundled sample), keep ``universe``, build the [T, N] task;
    ``options`` (features, data_config, split_config) as in ``load_task``."""
    if bars is None:
        bars = load_bars(SAMPLE_PATH if data is None else data)
    task = load_task(bars=select_universe(bars, universe), **options)
    return PortfolioTask.from_task(task)
