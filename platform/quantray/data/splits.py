"""Walk-forward splits by date: train | embargo | validation | embargo | test.

Days before ``train_start`` and after ``test_end`` (when set) are unused, like an embargo:
one walk-forward fold (``quantray.data.folds``) is exactly such a split.

Boundaries are dates on the union calendar of all symbols, so no symbol's training period
overlaps another symbol's test period. A stage-1 sample ending on day t belongs to a split
when its decision day t AND its whole label t+1..t+H lie inside that split; a stage-2 episode
starting on day s belongs when s..s+E (decisions and the last return they earn) lie inside.
The input window of a sample reaches back up to L-1 days and may look into the previous
period: that is the past, known at the decision, and is allowed.

The embargo (trading days removed between periods) must be >= H + E so nothing straddles a
boundary even before the inside-the-split rule. The test period is reserved: training,
normalisation, caches and Tune read only train and validation.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from quantray.config import SPLIT_NAMES, ConfigError, DataConfig, SplitConfig
from quantray.data.features import FEATURE_WARMUP
from quantray.data.panel import Panel

EMBARGO = -1


@dataclass(frozen=True)
class Splits:
    """Date ranges (inclusive) of each period and the period of every panel row."""

    ranges: dict[str, tuple[np.datetime64, np.datetime64]]
    row_split: np.ndarray
    """[N] int8: 0 train, 1 valid, 2 test, -1 embargo."""

    def describe(self) -> str:
        """One line with the date ranges, for logs and reports."""
        return " | ".join(f"{k} {a}..{b}" for k, (a, b) in self.ranges.items())

    def code(self, split: str) -> int:
        if split not in SPLIT_NAMES:
            raise ValueError(f"unknown split {split!r}; expected one of {SPLIT_NAMES}")
        return SPLIT_NAMES.index(split)


def check_embargo(owner: str, embargo: int, data: DataConfig) -> int:
    """Raise ``ConfigError`` unless ``embargo`` (days between two periods) is at least
    horizon + episode_len, so no label or episode straddles a boundary; ``owner`` names the
    setting's config class in the message. Returns that least embargo, horizon + episode_len."""
    need = data.horizon + data.episode_len
    if embargo < need:
        raise ConfigError(
            f"{owner}: embargo={embargo} is shorter than horizon + episode_len = {need}; a "
            f"label or episode could straddle a boundary. Set embargo >= {need}."
        )
    return need


def make_splits(
    panel: Panel, split: SplitConfig | None = None, data: DataConfig | None = None
) -> Splits:
    """Assign every row of ``panel`` to train / valid / test / embargo by date."""
    split = split or SplitConfig()
    data = data or DataConfig()
    need = check_embargo("SplitConfig", split.embargo, data)
    calendar = np.unique(panel.dates)  # [C] sorted trading days of all symbols
    n = len(calendar)
    s0, t1 = 0, n  # train_start / test_end (exclusive) as calendar positions
    if split.valid_start is not None and split.test_start is not None:
        v0 = int(np.searchsorted(calendar, np.datetime64(split.valid_start, "D")))
        t0 = int(np.searchsorted(calendar, np.datetime64(split.test_start, "D")))
        if split.train_start is not None:
            s0 = int(np.searchsorted(calendar, np.datetime64(split.train_start, "D")))
        if split.test_end is not None:
            t1 = int(np.searchsorted(calendar, np.datetime64(split.test_end, "D"), side="right"))
    else:
        v0 = int(split.train_frac * n) + split.embargo
        t0 = v0 + int(split.valid_frac * n) + split.embargo
    bounds = {
        "train": (s0, v0 - split.embargo),
        "valid": (v0, t0 - split.embargo),
        "test": (t0, t1),
    }
    for name, (a, b) in bounds.items():
        if b - a < need + 1:
            raise ConfigError(
                f"SplitConfig: the {name} period has {max(b - a, 0)} trading days "
                f"(calendar {calendar[0]}..{calendar[-1]}, {n} days); it needs at least "
                f"{need + 1}. Adjust train_frac/valid_frac or valid_start/test_start."
            )
    day_split = np.full(n, EMBARGO, dtype=np.int8)
    for code, (a, b) in enumerate(bounds.values()):
        day_split[a:b] = code
    row_split = day_split[np.searchsorted(calendar, panel.dates)]
    ranges = {k: (calendar[a], calendar[b - 1]) for k, (a, b) in bounds.items()}
    return Splits(ranges, row_split)


def min_calendar_days(split: SplitConfig | None = None, data: DataConfig | None = None) -> int:
    """Fewest trading days for which fraction-based splits leave every period room: train
    holds the feature warm-up, one input window and a label; valid and test one episode and
    its label (each at least horizon + episode_len + 1 days)."""
    split = split or SplitConfig()
    data = data or DataConfig()
    need = data.horizon + data.episode_len + 1
    train_need = max(need, FEATURE_WARMUP + data.window + data.horizon)
    n = train_need
    while True:
        train, valid = int(split.train_frac * n), int(split.valid_frac * n)
        if train >= train_need and valid >= need and n - train - valid - 2 * split.embargo >= need:
            return n
        n += 1


def check_geometry(
    panel: Panel, split: SplitConfig | None = None, data: DataConfig | None = None
) -> Splits:
    """``make_splits`` plus the check that the training period holds at least one full
    stage-1 sample; run before any Ray work so short data stops with how many days it needs
    instead of failing inside every trial. Raises ``ConfigError``."""
    split = split or SplitConfig()
    data = data or DataConfig()
    n = len(np.unique(panel.dates))
    by_date = split.valid_start is not None and split.test_start is not None
    needed = "" if by_date else f" These splits need at least {min_calendar_days(split, data)}."
    try:
        splits = make_splits(panel, split, data)
    except ConfigError as exc:
        raise ConfigError(f"{exc} The data has {n} trading days.{needed}") from None
    if not len(sample_rows(panel, splits, "train", data)):
        a, b = splits.ranges["train"]
        raise ConfigError(
            f"the training period {a}..{b} holds no full stage-1 sample: each needs "
            f"{FEATURE_WARMUP} warm-up days + a {data.window}-day window + {data.horizon} days "
            f"of label inside it. The data has {n} trading days.{needed} Load a longer "
            "history, or shorten the window."
        )
    return splits


def _inside(panel: Panel, splits: Splits, code: int, span: int) -> np.ndarray:
    """[N] bool: rows t where t..t+span are the same symbol and all in split ``code``."""
    ok = (splits.row_split == code) & (panel.rows_to_end >= span)
    end = np.minimum(np.arange(panel.n_rows) + span, panel.n_rows - 1)
    # Periods are contiguous date ranges, so checking both ends checks every day between.
    return ok & (splits.row_split[end] == code)


def sample_rows(
    panel: Panel, splits: Splits, split: str, data: DataConfig | None = None
) -> np.ndarray:
    """Row indices t of stage-1 samples in ``split``: full input window, label inside."""
    data = data or DataConfig()
    mask = _inside(panel, splits, splits.code(split), data.horizon)
    return np.flatnonzero(mask & panel.first_window_row(data.window))


SPLIT_AUDIT_ENV = "QUANTRAY_SPLIT_AUDIT"
"""Set to a file path to log every episode-list read of a split (one line ``split pid``) by
this process and every process it starts (Ray workers included): lets a test prove the test
split is read only after all model selection."""


def _audit(split: str) -> None:
    path = os.environ.get(SPLIT_AUDIT_ENV)
    if path:
        # One short O_APPEND write per line: lines from concurrent processes never interleave.
        with open(path, "a") as f:
            f.write(f"{split} {os.getpid()}\n")


def episode_rows(
    panel: Panel,
    splits: Splits,
    split: str,
    data: DataConfig | None = None,
    stride: int = 1,
) -> np.ndarray:
    """Start rows s of stage-2 episodes in ``split``: days s..s+E-1 decide, s+E is the last
    close they earn on. ``stride`` = E gives non-overlapping episodes (for evaluation)."""
    data = data or DataConfig()
    _audit(split)
    mask = _inside(panel, splits, splits.code(split), data.episode_len)
    starts = np.flatnonzero(mask & panel.first_window_row(data.window))
    if stride > 1:
        # Keep every stride-th start within each symbol so episodes do not overlap.
        sym = panel.symbol_id[starts]
        first = np.zeros(len(starts), dtype=bool)
        first[0:1] = True
        first[1:] = sym[1:] != sym[:-1]
        group_start = np.maximum.accumulate(np.where(first, np.arange(len(starts)), 0))
        rel = starts - starts[group_start]
        starts = starts[rel % stride == 0]
    return starts
