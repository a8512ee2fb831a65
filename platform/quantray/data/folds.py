"""Walk-forward fold geometry: out-of-sample blocks that tile a span, each after its own
training window and embargo.

On the union trading calendar of all symbols (positions 0..n-1), fold k owns the
out-of-sample (OOS) block ``[a_k, b_k]``; ``a_0`` is the first OOS day and
``a_{k+1} = b_k + 1``, so the blocks tile ``[a_0, last day]`` with no gap and no overlap.
Each block is ``block_months`` calendar months long (the last one runs to the end of the data;
a remainder too short for one episode is merged into the block before it). Before each block::

    train_start .. fit_end | embargo | valid_start .. valid_end | embargo | a_k .. b_k
    \\___________________ training window ____________________/

- fit part: what stage 1 and stage 2 learn from; the validation tail (``valid_days``) picks
  epochs; each embargo (>= horizon + episode_len trading days) keeps labels and episodes
  from straddling a boundary (``quantray.data.splits``).
- ``expanding``: every training window starts at the first day of the data; ``rolling``: it
  starts ``rolling_days`` trading days before the block's embargo (at the first day while
  the data is shorter than that).
- ``update_start``: where an incremental update trains from: the previous fold's fit part
  ended at ``fit_end_{k-1}``, so fold k learns the days after it plus ``replay_days`` before
  it (fold 0 learns its whole fit part).

A fold is exactly a ``SplitConfig`` with ``train_start`` and ``test_end``: everything that
builds splits (stage 1, features, stage 2, the env) runs on a fold unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from quantray.config import ConfigError, DataConfig, SplitConfig, WalkForwardConfig
from quantray.data.splits import check_embargo


@dataclass(frozen=True)
class Fold:
    """One fold's dates (ISO strings, inclusive) and calendar positions."""

    index: int
    """0, 1, ... in date order."""
    train_start: str
    """First day of the training window (fit part)."""
    fit_end: str
    """Last day of the fit part (an embargo follows)."""
    valid_start: str
    """First day of the validation tail."""
    valid_end: str
    """Last day of the validation tail (an embargo follows)."""
    test_start: str
    """First day of the out-of-sample block."""
    test_end: str
    """Last day of the out-of-sample block."""
    update_start: str
    """First training day of an incremental update (see the module docstring)."""
    positions: tuple[int, int, int, int, int, int, int]
    """Calendar positions of train_start, fit_end, valid_start, valid_end, test_start,
    test_end, update_start."""

    def split_config(self, embargo: int, incremental: bool = False) -> SplitConfig:
        """This fold as a split: train = fit part (from ``update_start`` when incremental),
        valid = validation tail, test = the out-of-sample block; other days unused."""
        return SplitConfig(
            embargo=embargo,
            train_start=self.update_start if incremental else self.train_start,
            valid_start=self.valid_start,
            test_start=self.test_start,
            test_end=self.test_end,
        )

    @property
    def name(self) -> str:
        return f"fold{self.index:03d}"


def _iso(day: np.datetime64) -> str:
    return str(np.datetime64(day, "D"))


def make_folds(
    calendar: np.ndarray, config: WalkForwardConfig, data: DataConfig | None = None
) -> list[Fold]:
    """Folds over ``calendar`` ([n] sorted unique trading days); raises ``ConfigError`` with
    the dates involved when a fold cannot hold its training window or the embargo is short."""
    data = data or DataConfig()
    need = check_embargo("WalkForwardConfig", config.embargo, data)
    calendar = np.asarray(calendar, dtype="datetime64[D]")
    n, g, v = len(calendar), config.embargo, config.valid_days
    span = f"(data {calendar[0]}..{calendar[-1]}, {n} trading days)"
    lead = 2 * g + v  # days from fit_end + 1 to the block start
    if config.first_test is None:
        a0 = config.min_train_days + lead
    else:
        a0 = int(np.searchsorted(calendar, np.datetime64(config.first_test, "D")))
    end = n - 1
    if config.end is not None:
        end = int(np.searchsorted(calendar, np.datetime64(config.end, "D"), side="right")) - 1
    if a0 > end:
        raise ConfigError(
            f"WalkForwardConfig: the first out-of-sample day (position {a0}) lies after the last "
            f"one (position {end}) {span}. Give an earlier --first-test, a later --end, or a "
            "smaller --min-train-days / --valid-days."
        )
    # Block starts: a_0 plus whole multiples of block_months, on the calendar.
    first = pd.Timestamp(calendar[a0])
    starts = [a0]
    k = 1
    while True:
        day = np.datetime64((first + pd.DateOffset(months=k * config.block_months)).date(), "D")
        a = int(np.searchsorted(calendar, day))
        if a > end:
            break
        if a > starts[-1]:
            starts.append(a)
        k += 1
    # A last block too short to hold one episode (E decisions + the day they earn on) joins
    # the block before it, so the blocks still tile the span.
    if len(starts) > 1 and end - starts[-1] + 1 < data.episode_len + 1:
        starts.pop()
    bounds = [(a, b - 1) for a, b in zip(starts, [*starts[1:], end + 1], strict=True)]
    short = [(a, b) for a, b in bounds if b - a + 1 < data.episode_len + 1]
    if short:
        a, b = short[0]
        raise ConfigError(
            f"WalkForwardConfig: the out-of-sample block {calendar[a]}..{calendar[b]} has "
            f"{b - a + 1} trading days, fewer than episode_len + 1 = {data.episode_len + 1}, so "
            "it cannot hold one episode. Raise --block-months."
        )

    folds: list[Fold] = []
    prev_fit_end: int | None = None
    for index, (a, b) in enumerate(bounds):
        valid_start, valid_end = a - g - v, a - g - 1
        fit_end = valid_start - g - 1
        train_start = 0 if config.window == "expanding" else max(0, a - g - config.rolling_days)
        fit_days = fit_end - train_start + 1
        if fit_days < max(config.min_train_days, need + 1):
            raise ConfigError(
                f"WalkForwardConfig: fold {index} (out-of-sample {calendar[a]}..{calendar[b]}) "
                f"has {max(fit_days, 0)} training days before its validation tail, fewer than "
                f"min_train_days={config.min_train_days} {span}. Start later (--first-test), "
                "or lower --min-train-days / --valid-days, or raise --rolling-days."
            )
        update = train_start
        if prev_fit_end is not None:
            update = max(train_start, prev_fit_end + 1 - config.replay_days)
        pos = (train_start, fit_end, valid_start, valid_end, a, b, update)
        folds.append(
            Fold(index, *(_iso(calendar[p]) for p in pos[:6]), _iso(calendar[update]), pos)
        )
        prev_fit_end = fit_end
    return folds


def describe_folds(folds: list[Fold]) -> pd.DataFrame:
    """One row per fold with its dates (for reports and ``--dry-run``)."""
    return pd.DataFrame(
        [
            {
                "fold": f.index,
                "train_start": f.train_start,
                "fit_end": f.fit_end,
                "valid_start": f.valid_start,
                "valid_end": f.valid_end,
                "test_start": f.test_start,
                "test_end": f.test_end,
                "update_start": f.update_start,
            }
            for f in folds
        ]
    )
