"""All symbols' bars and features in flat arrays: the storage every window and episode gathers
from.

Rows of all symbols are concatenated ([N] = total bars); ``offsets[s]:offsets[s+1]`` are
symbol s's rows, in date order. Memory is O(N x F); windows and episodes are index gathers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from quantray.data.features import FEATURE_WARMUP, make_features
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
        return cls(symbols, offsets, dates, close, features, data_hash(bars))

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

    def first_window_row(self, window: int) -> np.ndarray:
        """[N] bool: row t has a full window of finite features (t - window + 1 >= warm-up)."""
        return self.row_in_symbol >= FEATURE_WARMUP + window - 1
