"""The stage-1 training data, and its split into one shard per data-parallel worker.

A ``PriceData`` holds the train/validation window datasets over one normalised panel. For a
Ray Train run the driver builds it once and cuts it with ``PriceData.shard(world)``: the
panel's rows are cut at ``world - 1`` points chosen so that every shard has the same number
of training windows (to within one), and each shard keeps only the rows its windows read
(its first window's start to its last target day). A worker fetches its own shard from the
object store, so a node holds the rows of the workers placed on it, about 1/world of the
panel each, instead of the whole panel; the rows two neighbouring shards both read (at most
window + horizon) are copied into both.

Every training and validation window of the whole lands in exactly one shard and gathers the
same (x, y) there (tested), so the union of the workers' epochs is the whole training set.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from quantray.data import FeatureNormalizer, WindowDataset


@dataclass(frozen=True)
class PriceData:
    """Train/validation datasets plus what a checkpoint must remember about the data."""

    train: WindowDataset
    valid: WindowDataset
    normalizer: FeatureNormalizer
    data_hash: str
    train_period: tuple[str, str]
    """First and last date (ISO) of the training split: what the model has learned from."""

    @property
    def nbytes(self) -> int:
        """Bytes of the panel arrays this data holds (train and valid share them)."""
        arrays = {id(a): a.nbytes for d in (self.train, self.valid) for a in (d.features, d.close)}
        return sum(arrays.values())

    def shard(self, world: int) -> list[PriceData]:
        """``world`` shards over disjoint sets of windows with equal training counts (+-1),
        each holding only the panel rows its windows read. ``shard(1)`` is ``[self]``."""
        if world == 1:
            return [self]
        ends = np.sort(self.train.ends)  # [n] rows: sorted, distinct
        if len(ends) < world:
            raise ValueError(
                f"stage 1: {len(ends)} training windows cannot be split across {world} "
                "workers; use fewer workers (--workers) or more data."
            )
        # Row cuts: shard r owns the windows ending in rows [cuts[r], cuts[r + 1]).
        cuts = [0, *(int(ends[r * len(ends) // world]) for r in range(1, world)), 1 << 62]
        return [self._rows(cuts[r], cuts[r + 1]) for r in range(world)]

    def _rows(self, lo: int, hi: int) -> PriceData:
        """The windows ending in rows [lo, hi), over a copy of just the rows they read."""
        cfg = self.train.config
        train_ends = self.train.ends[(self.train.ends >= lo) & (self.train.ends < hi)]
        valid_ends = self.valid.ends[(self.valid.ends >= lo) & (self.valid.ends < hi)]
        both = np.concatenate([train_ends, valid_ends])
        first = int(both.min()) - cfg.window + 1  # the earliest window's first row
        last = int(both.max()) + cfg.horizon  # the latest window's last target row
        features = self.train.features[first : last + 1].copy()  # [rows, F]: owned, not a view
        close = self.train.close[first : last + 1].copy()  # [rows]
        return replace(
            self,
            train=WindowDataset(features, close, train_ends - first, cfg),
            valid=WindowDataset(features, close, valid_ends - first, self.valid.config),
        )
