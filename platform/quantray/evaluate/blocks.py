"""Date-block bootstrap: confidence intervals that know episodes sharing dates are not independent.

Episodes of different symbols that fall on the same calendar days move together (the bundled
S&P 500 and NASDAQ daily returns correlate at ~0.95), so resampling episodes one by one
treats copies of the same market move as fresh evidence and gives intervals that are too
narrow. Here every episode is assigned to the calendar block of its first day (blocks of
``block_days`` consecutive trading days of the union calendar of the episode list); a
resample draws whole blocks (all episodes of a block together) and, to keep the weak serial
dependence between neighbouring blocks, draws runs of consecutive blocks with arch's
``CircularBlockBootstrap`` (run length from ``arch.bootstrap.optimal_block_length`` on the
block-level series, at least 1).

Every statistic here is a ratio of sums over episodes (a mean per episode, a pooled Sharpe),
so a resample is a count vector over blocks and the statistic follows from per-block sums
with one matrix product: [R, C] counts @ [C, k] sums. Intervals are percentile intervals.

Property (tested): a data set of one symbol copied K times gives the same interval as the
single symbol — copies add no information — while K independent symbols narrow it by about
sqrt(K).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypedDict

import numpy as np
from numpy.typing import ArrayLike, NDArray

from quantray.evaluate.metrics import TRADING_DAYS_PER_YEAR, sharpe_from_moments
from quantray.evaluate.stats import ConfidenceInterval

if TYPE_CHECKING:
    from typing_extensions import Unpack

Array = NDArray[np.float64]

BLOCK_RESAMPLES: int = 2000
"""Bootstrap resamples behind every date-block interval in the reports."""
CONFIDENCE: float = 0.95
"""Two-sided confidence level of every interval in the reports."""


@dataclass(frozen=True)
class DateBlocks:
    """The calendar block of each episode in a fixed episode list."""

    block: NDArray[np.int64]
    """[n] block index of each episode, 0..n_blocks-1 in date order."""
    n_blocks: int
    """C: number of distinct blocks that hold at least one episode."""
    block_days: int
    """Trading days of the union calendar per block."""

    @classmethod
    def from_dates(cls, dates: ArrayLike, block_days: int | None = None) -> DateBlocks:
        """Blocks of an episode list from its decision dates [n, E] (datetime64).

        The union calendar is every date any episode trades; block k holds the episodes whose
        first day has calendar rank in [k * block_days, (k + 1) * block_days). ``block_days``
        defaults to the episode length E, so non-overlapping episodes of one symbol fall into
        distinct blocks and same-dated episodes of different symbols share one.
        """
        d = np.asarray(dates)
        if d.ndim != 2 or d.shape[0] == 0:
            raise ValueError(
                f"dates: expected [n episodes, E days] with n >= 1, got shape {d.shape}. Pass "
                "the panel dates of the episodes' decision days (task.episode_dates(episodes))."
            )
        size = d.shape[1] if block_days is None else int(block_days)
        if size < 1:
            raise ValueError(f"block_days must be >= 1, got {size}.")
        calendar = np.unique(d)
        rank = np.searchsorted(calendar, d[:, 0])
        _, block = np.unique(rank // size, return_inverse=True)
        return cls(block.astype(np.int64), int(block.max()) + 1, size)

    @classmethod
    def independent(cls, n: int) -> DateBlocks:
        """One block per episode: for episodes known not to share dates (tests, one symbol)."""
        return cls(np.arange(n, dtype=np.int64), n, 1)

    def __len__(self) -> int:
        return len(self.block)

    def block_sums(self, columns: Array) -> Array:
        """[n, k] per-episode values -> [C, k] sums per block."""
        out = np.zeros((self.n_blocks, columns.shape[1]))
        np.add.at(out, self.block, columns)
        return out

    def resample_counts(self, series: Array, n_resamples: int, seed: int) -> Array:
        """[R, C] how often each block appears in each circular-block resample.

        ``series`` [C] is a block-level summary (e.g. the mean return per block) used only
        to choose the run length of consecutive blocks."""
        from arch.bootstrap import CircularBlockBootstrap, optimal_block_length

        c = self.n_blocks
        run = 1
        if c >= 8 and np.ptp(series) > 0:
            estimate = float(optimal_block_length(series)["circular"].iloc[0])
            run = int(min(max(1, round(estimate)), c // 2)) if math.isfinite(estimate) else 1
        sampler = CircularBlockBootstrap(run, np.arange(c), seed=np.random.default_rng(seed))
        counts = np.empty((n_resamples, c))
        for r in range(n_resamples):
            counts[r] = np.bincount(sampler.update_indices(), minlength=c)
        return counts


def _check_rows(name: str, values: ArrayLike, blocks: DateBlocks, ndim: int) -> Array:
    a = np.asarray(values, dtype=np.float64)
    if a.ndim != ndim or a.shape[0] != len(blocks):
        expected = "[n]" if ndim == 1 else "[n, E]"
        raise ValueError(
            f"{name}: expected {expected} with n = {len(blocks)} episodes (one row per episode "
            f"of the DateBlocks), got shape {a.shape}."
        )
    if not np.isfinite(a).all():
        raise ValueError(
            f"{name}: found {int((~np.isfinite(a)).sum())} non-finite value(s); expected "
            "finite numbers. Drop undefined per-episode metrics before taking an interval."
        )
    return a


class Resampling(TypedDict, total=False):
    """The resampling settings shared by ``mean_ci``, ``paired_mean_ci`` and
    ``pooled_sharpe_ci``."""

    n_resamples: int
    """Number of date-block resamples; ``BLOCK_RESAMPLES`` when omitted."""
    seed: int
    """Seeds the resampling (the same seed gives the same interval); 0 when omitted."""
    confidence: float
    """Two-sided confidence level in (0, 1); ``CONFIDENCE`` when omitted."""


def _ratio_ci(
    columns: Array,
    blocks: DateBlocks,
    statistic: Callable[[Array], Array],
    *,
    n_resamples: int = BLOCK_RESAMPLES,
    seed: int = 0,
    confidence: float = CONFIDENCE,
) -> ConfidenceInterval:
    """Percentile CI of ``statistic(sums)`` where sums [.., k] are column sums over episodes."""
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}; e.g. 0.95.")
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be >= 1, got {n_resamples}; e.g. 2000.")
    sums = blocks.block_sums(columns)  # [C, k]
    estimate = float(statistic(sums.sum(axis=0)[None, :])[0])
    if blocks.n_blocks < 2:
        return ConfidenceInterval(estimate, math.nan, math.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        series = sums[:, 0] / np.maximum(sums[:, -1], 1e-300)
    counts = blocks.resample_counts(series, n_resamples, seed)  # [R, C]
    values = statistic(counts @ sums)  # [R, k] -> [R]
    values = values[np.isfinite(values)]
    if values.size == 0:
        return ConfidenceInterval(estimate, math.nan, math.nan)
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(values, [tail, 1.0 - tail])
    return ConfidenceInterval(estimate, float(low), float(high))


def _mean_of_sums(sums: Array) -> Array:
    return sums[:, 0] / sums[:, 1]


def mean_ci(
    values: ArrayLike, blocks: DateBlocks, **resampling: Unpack[Resampling]
) -> ConfidenceInterval:
    """Date-block CI of the mean of per-episode values [n] (e.g. episode total returns)."""
    v = _check_rows("values", values, blocks, 1)
    columns = np.stack([v, np.ones_like(v)], axis=1)  # [n, 2]: value, count
    return _ratio_ci(columns, blocks, _mean_of_sums, **resampling)


def paired_mean_ci(
    a: ArrayLike, b: ArrayLike, blocks: DateBlocks, **resampling: Unpack[Resampling]
) -> ConfidenceInterval:
    """Date-block CI of mean(a) - mean(b) for two methods on the SAME episodes [n].

    Each resample keeps an episode's two values together, so the shared market noise
    cancels; an interval that excludes 0 is a verdict at the given confidence."""
    a_arr = _check_rows("a", a, blocks, 1)
    b_arr = _check_rows("b", b, blocks, 1)
    return mean_ci(a_arr - b_arr, blocks, **resampling)


def _sharpe_of_sums(periods_per_year: int) -> Callable[[Array], Array]:
    def statistic(sums: Array) -> Array:
        total, squares, count = sums[:, 0], sums[:, 1], sums[:, 2]
        mean = total / count
        variance = np.maximum(squares - count * mean**2, 0.0) / np.maximum(count - 1.0, 1.0)
        return sharpe_from_moments(mean, np.sqrt(variance), periods_per_year)

    return statistic


def pooled_sharpe_ci(
    net: ArrayLike,
    blocks: DateBlocks,
    *,
    periods_per_year: int = TRADING_DAYS_PER_YEAR,
    **resampling: Unpack[Resampling],
) -> ConfidenceInterval:
    """Date-block CI of the annualised Sharpe of the pooled daily returns [n, E].

    The estimate equals ``metrics.pooled_sharpe(net)``: mean / std (ddof=1) of all n x E
    daily values x sqrt(periods_per_year), 0 for a series with no dispersion around 0 (cash).
    Pass strategy minus buy-and-hold daily returns for the information ratio."""
    r = _check_rows("net", net, blocks, 2)
    # Per-episode sufficient statistics of the daily values: sum, sum of squares, count.
    columns = np.stack(
        [r.sum(axis=1), (r**2).sum(axis=1), np.full(r.shape[0], float(r.shape[1]))], axis=1
    )  # [n, 3]
    return _ratio_ci(columns, blocks, _sharpe_of_sums(periods_per_year), **resampling)


__all__ = [
    "BLOCK_RESAMPLES",
    "CONFIDENCE",
    "DateBlocks",
    "Resampling",
    "mean_ci",
    "paired_mean_ci",
    "pooled_sharpe_ci",
]
