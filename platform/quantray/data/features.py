"""The 11 daily features, each computed only from bars at or before its day.

Every feature of day t is a function of the bars t-20..t at most; nothing uses a centred or
backward-filled value, so changing any bar after t leaves the features of t bit-identical
(tested). Rolling statistics are computed over explicit sliding windows rather than running
sums so each value depends on its own window only.

| # | name             | definition (c close, o open, h high, l low, v volume)        | warm-up |
|---|------------------|--------------------------------------------------------------|---------|
| 0 | ret_1d           | log(c_t / c_{t-1})                                           | 1       |
| 1 | ret_5d           | log(c_t / c_{t-5})                                           | 5       |
| 2 | ret_20d          | log(c_t / c_{t-20})                                          | 20      |
| 3 | range_hl         | log(h_t / l_t)                                               | 0       |
| 4 | body_oc          | log(c_t / o_t)                                               | 0       |
| 5 | gap_open         | log(o_t / c_{t-1})                                           | 1       |
| 6 | vol_20d          | std of ret_1d over t-19..t (ddof 0)                          | 20      |
| 7 | ma_gap_20d       | log(c_t / mean(c_{t-19..t}))                                 | 19      |
| 8 | rsi_14           | (RSI over 14 days of ret_1d, simple averages - 50) / 50       | 14      |
| 9 | volume_ratio_20d | log(1+v_t) - mean(log(1+v) over t-19..t)                     | 19      |
| 10| value_ratio_20d  | same for traded value: amount (成交额) if present, else c*v  | 19      |

Warm-up = rows at the start of each symbol where the feature is NaN; the first
``FEATURE_WARMUP`` = 20 rows of every symbol are NaN in at least one feature and are never
used. Turnover (换手率) is kept in the bars but not used: it is volume over a slowly moving
free float, so its 20-day ratio repeats feature 9.

Normalisation (``FeatureNormalizer``) is fitted on training-period rows only and stored with
the model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view

FEATURE_NAMES = (
    "ret_1d",
    "ret_5d",
    "ret_20d",
    "range_hl",
    "body_oc",
    "gap_open",
    "vol_20d",
    "ma_gap_20d",
    "rsi_14",
    "volume_ratio_20d",
    "value_ratio_20d",
)
N_FEATURES = len(FEATURE_NAMES)
FEATURE_WARMUP = 20
NORM_CLIP = 10.0
"""Normalised features are clipped to +-NORM_CLIP standard deviations (crash days)."""


def _lag(x: np.ndarray, k: int) -> np.ndarray:
    out = np.full_like(x, np.nan)
    out[k:] = x[:-k]
    return out


def _rolling(x: np.ndarray, w: int, fn: str) -> np.ndarray:
    """Trailing-window statistic: out[t] uses x[t-w+1..t] only; NaN for t < w-1."""
    out = np.full_like(x, np.nan)
    if len(x) >= w:
        win = sliding_window_view(x, w)  # [T-w+1, w], a view: no copy
        out[w - 1 :] = getattr(win, fn)(axis=-1)
    return out


def feature_array(
    open_: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    volume: np.ndarray,
    value: np.ndarray | None = None,
) -> np.ndarray:
    """Compute the 11 features for one symbol from float64 bar arrays [T] -> [T, F] float32."""
    log_c = np.log(close)
    ret_1d = log_c - _lag(log_c, 1)
    gains = np.maximum(ret_1d, 0.0)
    losses = np.maximum(-ret_1d, 0.0)
    avg_gain = _rolling(gains, 14, "mean")
    avg_loss = _rolling(losses, 14, "mean")
    total = avg_gain + avg_loss
    with np.errstate(invalid="ignore", divide="ignore"):
        rsi = np.where(total > 0, avg_gain / total, 0.5)
    rsi = np.where(np.isnan(total), np.nan, rsi)
    log_v = np.log1p(volume)
    log_value = np.log1p(close * volume if value is None else value)
    columns = [
        ret_1d,
        log_c - _lag(log_c, 5),
        log_c - _lag(log_c, 20),
        np.log(high / low),
        log_c - np.log(open_),
        np.log(open_) - _lag(log_c, 1),
        _rolling(ret_1d, 20, "std"),
        log_c - np.log(_rolling(close, 20, "mean")),
        (rsi - 0.5) * 2.0,
        log_v - _rolling(log_v, 20, "mean"),
        log_value - _rolling(log_value, 20, "mean"),
    ]
    return np.stack(columns, axis=1).astype(np.float32)  # [T, F]


def make_features(bars: pd.DataFrame) -> pd.DataFrame:
    """The 11 features of one symbol's canonical bars: [T, 11] float32 on the bars' dates.

    The first ``FEATURE_WARMUP`` rows hold NaN; every later row is finite.
    """
    value = bars["amount"].to_numpy(np.float64) if "amount" in bars.columns else None
    array = feature_array(
        bars["open"].to_numpy(np.float64),
        bars["high"].to_numpy(np.float64),
        bars["low"].to_numpy(np.float64),
        bars["close"].to_numpy(np.float64),
        bars["volume"].to_numpy(np.float64),
        value,
    )
    return pd.DataFrame(array, index=bars.index, columns=list(FEATURE_NAMES))


@dataclass(frozen=True)
class FeatureNormalizer:
    """Per-feature mean and std fitted on training rows; stored with models and caches."""

    mean: tuple[float, ...]
    std: tuple[float, ...]

    @classmethod
    def fit(cls, features: np.ndarray, rows: np.ndarray) -> FeatureNormalizer:
        """Fit on ``features[rows]`` ([N, F], rows a boolean mask or index of TRAINING rows)."""
        train = features[rows]
        train = train[np.isfinite(train).all(axis=1)]
        if len(train) < 2:
            raise ValueError(
                f"cannot fit feature normalisation: {len(train)} usable training rows; the "
                "training split is empty or all warm-up. Give more history or a larger "
                "train_frac."
            )
        mean = train.astype(np.float64).mean(axis=0)
        std = train.astype(np.float64).std(axis=0)
        std = np.where(std > 1e-12, std, 1.0)
        return cls(tuple(float(m) for m in mean), tuple(float(s) for s in std))

    def transform(self, features: np.ndarray) -> np.ndarray:
        """(x - mean) / std, clipped to +-NORM_CLIP, float32; NaN stays NaN."""
        mean = np.asarray(self.mean, dtype=np.float32)
        std = np.asarray(self.std, dtype=np.float32)
        return np.clip((features - mean) / std, -NORM_CLIP, NORM_CLIP).astype(np.float32)

    def to_dict(self) -> dict[str, list[float]]:
        return {"mean": list(self.mean), "std": list(self.std)}

    @classmethod
    def from_dict(cls, values: dict[str, list[float]]) -> FeatureNormalizer:
        return cls(tuple(values["mean"]), tuple(values["std"]))
