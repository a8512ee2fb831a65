"""All symbols' bars and features in flat arrays: the storage every window and episode gathers
from.

Rows of all symbols are concatenated ([N] = total bars); ``offsets[s]:offsets[s+1]`` are
symbol s's rows, in date order. Memory is O(N x F); windows and episodes are index gathers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from quantray.config import CostConfig
from quantray.data.features import FEATURE_WARMUP, make_features
from quantray.data.limits import symbol_limits, tradable_days, trade_permissions
from quantray.data.load import data_hash


@dataclass(frozen=True)
class Panel:
    """Concatenated per-symbol arrays. Row i is (symbol_id[i], dates[i])."""

    symbols: tuple[str, ...]
    offsets: np.ndarray
    """[S+1] int64: symbol s owns rows offsets[s]:offsets[s+1]."""
    dates: np.ndarray
    """[N] datetime64[D]."""
    close: np.ndarray
    """[N] float64 close prices."""
    features: np.ndarray
    """[N, F] float32 raw (un-normalised) features; NaN in each symbol's warm-up rows."""
    data_hash: str
    """Content hash of the bars this panel was built from."""
    tradable: np.ndarray
    """[N] bool: False on a zero-volume (suspended) day; see ``quantray.data.limits``."""
    close_unadj: np.ndarray
    """[N] float64 unadjusted close (``close_unadj`` column), NaN for symbols without one."""
    _flags: dict = field(default_factory=dict, compare=False, repr=False)
    """Memo of ``trade_flags`` per cost model's limit settings."""

    @classmethod
    def from_bars(cls, bars: dict[str, pd.DataFrame]) -> Panel:
        """Build from canonical bars (``load_bars`` output); symbols in sorted order."""
        symbols = tuple(sorted(bars))
        lengths = np.array([len(bars[s]) for s in symbols], dtype=np.int64)
        offsets = np.concatenate([[0], np.cumsum(lengths)])
        dates = np.concatenate([bars[s].index.to_numpy().astype("datetime64[D]") for s in symbols])
        close = np.concatenate([bars[s]["close"].to_numpy(np.float64) for s in symbols])
        # Row-major: windows and episodes gather whole rows (a column-major table is ~5x slower).
        features = np.ascontiguousarray(
            np.concatenate([make_features(bars[s]).to_numpy() for s in symbols])
        )
        tradable = np.concatenate([tradable_days(bars[s]["volume"].to_numpy()) for s in symbols])
        close_unadj = np.concatenate(
            [
                bars[s]["close_unadj"].to_numpy(np.float64)
                if "close_unadj" in bars[s].columns
                else np.full(len(bars[s]), np.nan)
                for s in symbols
            ]
        )
        return cls(symbols, offsets, dates, close, features, data_hash(bars), tradable, close_unadj)

    @property
    def n_rows(self) -> int:
        return len(self.close)

    @property
    def symbol_id(self) -> np.ndarray:
        """[N] int64 symbol index of each row."""
        return np.repeat(np.arange(len(self.symbols)), np.diff(self.offsets))

    @property
    def row_in_symbol(self) -> np.ndarray:
        """[N] int64 position of each row within its symbol (0 = first bar)."""
        return np.arange(self.n_rows) - np.repeat(self.offsets[:-1], np.diff(self.offsets))

    @property
    def rows_to_end(self) -> np.ndarray:
        """[N] int64 number of later rows of the same symbol."""
        return np.repeat(self.offsets[1:], np.diff(self.offsets)) - 1 - np.arange(self.n_rows)

    def next_returns(self) -> np.ndarray:
        """[N] r_{t+1} = close[t+1] / close[t] - 1 within a symbol; NaN on a symbol's last row.

        Row t's value is what a position decided at the close of t earns (design.md §3)."""
        out = np.full(self.n_rows, np.nan)
        out[:-1] = self.close[1:] / self.close[:-1] - 1.0
        out[self.offsets[1:] - 1] = np.nan
        return out

    def prev_returns(self) -> np.ndarray:
        """[N] r_t = close[t] / close[t-1] - 1 (known at the close of t); NaN on first rows."""
        out = np.full(self.n_rows, np.nan)
        out[1:] = self.close[1:] / self.close[:-1] - 1.0
        out[self.offsets[:-1]] = np.nan
        return out

    def prev_close_unadj(self) -> np.ndarray:
        """[N] the previous row's unadjusted close within a symbol; NaN on first rows."""
        out = np.full(self.n_rows, np.nan)
        out[1:] = self.close_unadj[:-1]
        out[self.offsets[:-1]] = np.nan
        return out

    def trade_flags(self, cost: CostConfig) -> tuple[np.ndarray, np.ndarray]:
        """[N] bool ``(can_buy, can_sell)`` of every row under ``cost``'s limit settings
        (``quantray.data.limits.trade_permissions``), computed once per setting and memoised."""
        key = (cost.enforce_price_limit, cost.price_limit, cost.st_codes)
        if key not in self._flags:
            can_buy, can_sell = trade_permissions(
                self.symbol_id,
                self.symbols,
                self.prev_returns(),
                self.close_unadj,
                self.prev_close_unadj(),
                self.tradable,
                cost,
            )
            can_buy.flags.writeable = can_sell.flags.writeable = False
            self._flags[key] = (can_buy, can_sell)
        return self._flags[key]

    def limit_rule_summary(self, cost: CostConfig) -> str:
        """Which close the price-limit rule uses, e.g. "price limits: unadjusted close
        (exchange rounding) for 2 symbols, return rule for 1 (no unadjusted close)"."""
        limits, exchange = symbol_limits(self.symbols, cost)
        has_unadj = [
            bool(np.isfinite(self.close_unadj[a:b]).all())
            for a, b in zip(self.offsets[:-1], self.offsets[1:], strict=True)
        ]
        limited = [i for i, limit in enumerate(limits) if limit is not None]
        if not limited:
            return "price limits: none"
        exact = sum(exchange[i] and has_unadj[i] for i in limited)
        by_return = len(limited) - exact
        parts = []
        if exact:
            parts.append(f"unadjusted close (exchange rounding) for {_count(exact)}")
        if by_return:
            parts.append(
                f"return rule on the close for {_count(by_return)} "
                "(no unadjusted close or no China board code)"
            )
        return "price limits: " + ", ".join(parts)

    def first_window_row(self, window: int) -> np.ndarray:
        """[N] bool: row t has a full window of finite features (t - window + 1 >= warm-up)."""
        return self.row_in_symbol >= FEATURE_WARMUP + window - 1


def _count(n: int) -> str:
    return f"{n} symbol{'' if n == 1 else 's'}"
