"""Stage-1 samples and stage-2 episodes as index gathers over a ``Panel``.

Nothing here materialises [samples, L, F]: a dataset holds the panel's flat arrays (shared,
O(N x F)) and an index array of sample end rows; ``batch(i)`` gathers one batch.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import TypeVar

import numpy as np

from quantray.config import CostConfig, DataConfig
from quantray.data.features import FeatureNormalizer
from quantray.data.limits import trade_permissions
from quantray.data.panel import Panel

_EpisodeList = TypeVar("_EpisodeList")


def take_episodes(
    episodes: _EpisodeList, idx: np.ndarray, shared: tuple[str, ...] = ()
) -> _EpisodeList:
    """The episodes ``idx`` of a dataclass of per-episode arrays (each [n, ...]): a new one
    whose constructor fields are indexed by ``idx``, except those named in ``shared`` (not
    per episode), which are kept as they are."""
    return type(episodes)(
        **{
            f.name: getattr(episodes, f.name)
            if f.name in shared
            else getattr(episodes, f.name)[idx]
            for f in fields(episodes)
            if f.init
        }
    )


@dataclass(frozen=True)
class WindowDataset:
    """Map-style dataset of (x [L, F], y [H]) for rows ``ends`` of a panel.

    x = normalised features of days t-L+1..t; y = close[t+1..t+H] / close[t] - 1.
    """

    features: np.ndarray
    """[N, F] float32 normalised features of the whole panel (shared, not copied)."""
    close: np.ndarray
    """[N] float64 closes of the whole panel."""
    ends: np.ndarray
    """[n] int64 rows t at which samples end (decision days)."""
    config: DataConfig

    @classmethod
    def build(
        cls, panel: Panel, ends: np.ndarray, normalizer: FeatureNormalizer, config: DataConfig
    ) -> WindowDataset:
        return cls(normalizer.transform(panel.features), panel.close, ends, config)

    def __len__(self) -> int:
        return len(self.ends)

    def batch(self, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Gather samples ``idx`` (positions into ``ends``): x [B, L, F] float32, y [B, H]."""
        t = self.ends[np.asarray(idx)]  # [B]
        L, H = self.config.window, self.config.horizon
        x = self.features[t[:, None] + np.arange(-L + 1, 1)]  # [B, L] rows -> [B, L, F]
        future = self.close[t[:, None] + np.arange(1, H + 1)]  # [B, H]
        y = (future / self.close[t][:, None] - 1.0).astype(np.float32)  # [B, H]
        return x, y

    def __getitem__(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        x, y = self.batch(np.array([i]))
        return x[0], y[0]


@dataclass(frozen=True)
class Episodes:
    """A fixed list of E-day episodes: everything stage 2, the env and evaluation need.

    Arrays are gathered once for the list (n x E values each, not windows). Besides returns
    the episodes carry the per-day facts that decide whether an order fills (suspension,
    unadjusted closes, symbol): ``trade_flags(cost)`` turns them into the ``can_buy`` /
    ``can_sell`` masks every accounting caller uses.
    """

    starts: np.ndarray
    """[n] panel rows of each episode's first decision day."""
    next_returns: np.ndarray
    """[n, E] float64: r_{t+1}, what the position decided on day t earns."""
    prev_returns: np.ndarray
    """[n, E] float64: r_t, the return into day t (known at its close; price-limit flags)."""
    rows: np.ndarray
    """[n, E] int64 panel rows of each decision day (to gather features of any cache)."""
    symbol_id: np.ndarray
    """[n] int64 index into ``symbols`` of each episode's symbol."""
    symbols: tuple[str, ...]
    """The panel's symbol names (their codes select the exchange board's price limit)."""
    tradable: np.ndarray
    """[n, E] bool: False on a suspended (zero-volume) decision day."""
    close_unadj: np.ndarray
    """[n, E] float64 unadjusted close of each decision day; NaN when the data has none."""
    prev_close_unadj: np.ndarray
    """[n, E] float64 unadjusted close of the day before; NaN when the data has none."""
    _flags: dict = field(default_factory=dict, init=False, compare=False, repr=False)

    @classmethod
    def build(cls, panel: Panel, starts: np.ndarray, episode_len: int) -> Episodes:
        rows = np.asarray(starts)[:, None] + np.arange(episode_len)  # [n, E]
        return cls(
            starts=np.asarray(starts),
            next_returns=panel.next_returns()[rows],
            prev_returns=panel.prev_returns()[rows],
            rows=rows,
            symbol_id=panel.symbol_id[np.asarray(starts, dtype=np.int64)],
            symbols=panel.symbols,
            tradable=panel.tradable[rows],
            close_unadj=panel.close_unadj[rows],
            prev_close_unadj=panel.prev_close_unadj()[rows],
        )

    def __len__(self) -> int:
        return len(self.starts)

    def features(self, table: np.ndarray) -> np.ndarray:
        """Gather per-day features [n, E, D] from a per-row table [N, D] (raw or frozen)."""
        return table[self.rows]  # [n, E] rows -> [n, E, D]

    def trade_flags(self, cost: CostConfig) -> tuple[np.ndarray, np.ndarray]:
        """[n, E] bool ``(can_buy, can_sell)``: whether an order at day t's close can raise /
        lower the position, combining suspensions and (when ``cost`` enforces them) the
        exchange price limits (``quantray.data.limits.trade_permissions``). Computed once per
        cost model's limit settings and memoised; the arrays are read-only."""
        key = (cost.enforce_price_limit, cost.price_limit, cost.st_codes)
        if key not in self._flags:
            can_buy, can_sell = trade_permissions(
                self.symbol_id[:, None],  # [n] -> [n, 1], broadcast over days
                self.symbols,
                self.prev_returns,
                self.close_unadj,
                self.prev_close_unadj,
                self.tradable,
                cost,
            )
            can_buy.flags.writeable = can_sell.flags.writeable = False
            self._flags[key] = (can_buy, can_sell)
        return self._flags[key]

    def subset(self, idx: np.ndarray) -> Episodes:
        """The episodes ``idx`` (memoised trade flags start empty)."""
        return take_episodes(self, idx, shared=("symbols",))
