"""The stage-2 task: bars + splits + a per-row feature table, and its episodes.

Stage 2, the Gymnasium env and the comparison report all build their episodes here, so the
GRU, PPO, SAC and the baselines see the same days with the same features. The feature table
is either a frozen-feature cache (``features=PATH``) or, with no cache, the 11 raw features
normalised with statistics fitted on the training split. Episode start days do not depend
on the feature source: they always require a full stage-1 input window, so switching
between raw and frozen features never changes which episodes are played.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TypedDict

import numpy as np
import pandas as pd

from quantray.config import CostConfig, DataConfig, SplitConfig
from quantray.data.features import FeatureNormalizer
from quantray.data.load import load_bars
from quantray.data.panel import Panel
from quantray.data.sample import SAMPLE_PATH
from quantray.data.splits import Splits, episode_rows, make_splits
from quantray.data.windows import Episodes


@dataclass(frozen=True)
class Task:
    """Everything needed to play E-day episodes on a split."""

    panel: Panel
    splits: Splits
    data: DataConfig
    table: np.ndarray
    """[N, D] float32 per-row features the policy observes (frozen or normalised raw)."""
    normalizer: FeatureNormalizer
    """Raw-feature normalisation fitted on the training split (stored with models)."""
    source: str
    """'raw' or the feature cache directory."""

    @property
    def dim(self) -> int:
        return int(self.table.shape[1])

    def episodes(self, split: str, stride: int = 1) -> Episodes:
        """Episodes of ``split``; ``stride=E`` gives the fixed non-overlapping evaluation list."""
        starts = episode_rows(self.panel, self.splits, split, self.data, stride=stride)
        return Episodes.build(self.panel, starts, self.data.episode_len)

    def episode_dates(self, episodes: Episodes) -> np.ndarray:
        """[n, E] datetime64[D] decision date of every episode-day (date blocks, calendars)."""
        return self.panel.dates[episodes.rows]

    def realised_returns(self, episodes: Episodes, lookback: int) -> np.ndarray:
        """[n, lookback + E]: column lookback + t is r_t, the return INTO day t of each
        episode (known at its close), with ``lookback`` earlier days for rules such as
        momentum. Start rows always have >= window days of history, so no NaN."""
        offsets = np.arange(-lookback, self.data.episode_len)
        return self.panel.prev_returns()[episodes.starts[:, None] + offsets]  # [n, K + E]

    def describe(self, cost: CostConfig | None = None) -> str:
        """One line naming the data, features and splits; with ``cost``, also which close the
        price-limit rule used and how many days were suspended (not tradable)."""
        line = (
            f"data {self.panel.data_hash} ({len(self.panel.symbols)} symbols, "
            f"{self.panel.n_rows} rows); features {self.source} (D={self.dim}); "
            f"{self.splits.describe()}"
        )
        if cost is not None:
            suspended = int((~self.panel.tradable).sum())
            line += (
                f"; {self.panel.limit_rule_summary(cost)}; {suspended} suspended "
                f"(zero-volume) days never trade; exit costs "
                f"{'charged' if cost.charge_exit else 'NOT charged'} at each episode's end"
            )
        return line


class TaskOptions(TypedDict, total=False):
    """The options of ``load_task`` besides the data, passed through unchanged by the loaders
    built on it (``universe.load_portfolio_task``)."""

    features: str | Path | None
    """A frozen-feature cache directory; None: the normalised raw features."""
    data_config: DataConfig | None
    """Window, horizon and episode length; ``DataConfig()`` when None."""
    split_config: SplitConfig | None
    """The date splits; ``SplitConfig()`` when None."""


def load_task(
    data: str | Path | None = None,
    *,
    features: str | Path | None = None,
    data_config: DataConfig | None = None,
    split_config: SplitConfig | None = None,
    bars: dict[str, pd.DataFrame] | None = None,
) -> Task:
    """Load bars (default: the bundled sample), split them, and attach a feature table."""
    data_config = data_config or DataConfig()
    if bars is None:
        bars = load_bars(SAMPLE_PATH if data is None else data)
    panel = Panel.from_bars(bars)
    splits = make_splits(panel, split_config or SplitConfig(), data_config)
    normalizer = FeatureNormalizer.fit(panel.features, splits.row_split == 0)
    if features is None:
        table, source = normalizer.transform(panel.features), "raw"
    else:
        # Imported here: quantray.features.cache imports quantray.data, so a module-level
        # import makes `import quantray.features.cache` in a fresh process circular.
        from quantray.features.cache import FeatureCache

        cache = FeatureCache.load(features)
        cache.check_matches(panel)
        cache.check_window(data_config.window)
        cache.check_period(splits)
        table, source = cache.table, str(cache.path)
    return Task(panel, splits, data_config, table, normalizer, source)
