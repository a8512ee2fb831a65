"""Seeded regime-switching market: bull / bear / sideways with the true regime recorded.

Used by tests that need a known answer (a strategy that can see the regime should be long in
bull and flat in bear) and by the scale benchmarks (1,000 symbols x 5,000 days).

Each symbol follows its own Markov chain over regimes (stay probability ``persistence``);
daily log returns are normal with the regime's drift and volatility. Bars are built from the
closes: open = previous close x a small gap, high / low bracket open and close, volume is
log-normal and rises in bear regimes. The frames carry an int column ``regime``
(0 bull, 1 bear, 2 sideways, the same codes as the market classifier) besides the canonical
columns; ``load_bars`` ignores it when the bars are read back from disk.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from quantray.config import BEAR


@dataclass(frozen=True)
class RegimeParams:
    """Daily drift and volatility of log returns in each regime (bull, bear, sideways)."""

    drift: tuple[float, float, float] = (0.0015, -0.0015, 0.0)
    vol: tuple[float, float, float] = (0.010, 0.015, 0.007)
    persistence: float = 0.98
    """Probability of staying in the current regime each day (mean stay 50 days)."""


def generate(
    n_symbols: int = 4,
    n_days: int = 2000,
    seed: int = 0,
    params: RegimeParams | None = None,
    start: str = "2000-01-03",
) -> dict[str, pd.DataFrame]:
    """Generate canonical bars ``{"SYN000": frame, ...}`` with a ``regime`` column."""
    params = params or RegimeParams()
    rng = np.random.default_rng(seed)
    S, T = n_symbols, n_days
    switch = rng.random((S, T)) > params.persistence  # [S, T]
    jumps = rng.integers(1, 3, size=(S, T))  # move to one of the two other regimes
    regime = np.empty((S, T), dtype=np.int64)
    regime[:, 0] = rng.integers(0, 3, size=S)
    for t in range(1, T):  # a Markov chain is sequential in time; vectorised over symbols
        regime[:, t] = np.where(
            switch[:, t], (regime[:, t - 1] + jumps[:, t]) % 3, regime[:, t - 1]
        )
    drift = np.asarray(params.drift)[regime]
    vol = np.asarray(params.vol)[regime]
    log_ret = drift + vol * rng.standard_normal((S, T))  # [S, T]
    close = 50.0 * np.exp(np.cumsum(log_ret, axis=1))
    prev = np.concatenate([close[:, :1], close[:, :-1]], axis=1)
    open_ = prev * np.exp(0.002 * rng.standard_normal((S, T)))
    top = np.maximum(open_, close)
    bottom = np.minimum(open_, close)
    high = top * np.exp(np.abs(0.004 * rng.standard_normal((S, T))))
    low = bottom * np.exp(-np.abs(0.004 * rng.standard_normal((S, T))))
    volume = np.round(1e6 * np.exp(0.3 * rng.standard_normal((S, T)) + 0.3 * (regime == BEAR)))
    dates = pd.bdate_range(start, periods=T, name="date")
    bars: dict[str, pd.DataFrame] = {}
    for s in range(S):
        frame = pd.DataFrame(
            {
                "open": open_[s],
                "high": high[s],
                "low": low[s],
                "close": close[s],
                "volume": volume[s],
                "regime": regime[s],
            },
            index=dates,
        )
        bars[f"SYN{s:03d}"] = frame
    return bars


def write_bars(
    bars: dict[str, pd.DataFrame], path: str | Path, *, layout: str = "long", fmt: str = "parquet"
) -> Path:
    """Write bars to disk in a layout ``load_bars`` reads back; returns what was written.

    layout "long": one file with a ``symbol`` column at ``path``, which gets the format's
    extension (``.parquet`` or ``.csv``) when it has none: ``write_bars(b, "x/bars")`` writes
    ``x/bars.parquet``. A name ending in the other format's extension is refused.
    layout "per_symbol": one file per symbol, ``<symbol>.<fmt>``, inside the directory ``path``.
    """
    if fmt not in ("parquet", "csv"):
        raise ValueError(f"fmt must be 'parquet' or 'csv', got {fmt!r}")
    path = Path(path)
    if layout == "long":
        path = _with_extension(path, fmt)
        frames = [f.reset_index().assign(symbol=s) for s, f in bars.items()]
        table = pd.concat(frames, ignore_index=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        table.to_parquet(path, index=False) if fmt == "parquet" else table.to_csv(path, index=False)
        return path
    if layout == "per_symbol":
        path.mkdir(parents=True, exist_ok=True)
        for symbol, frame in bars.items():
            out = path / f"{symbol}.{fmt}"
            table = frame.reset_index()
            table.to_parquet(out, index=False) if fmt == "parquet" else table.to_csv(
                out, index=False
            )
        return path
    raise ValueError(f"layout must be 'long' or 'per_symbol', got {layout!r}")


_EXTENSIONS = {"parquet": (".parquet", ".pq"), "csv": (".csv", ".txt")}


def _with_extension(path: Path, fmt: str) -> Path:
    """``path`` with the format's extension appended when it has none of its own."""
    name = path.name.lower()
    if name.endswith(_EXTENSIONS[fmt]):
        return path
    other = next(f for f in _EXTENSIONS if f != fmt)
    if name.endswith(_EXTENSIONS[other]):
        raise ValueError(
            f"write_bars(fmt={fmt!r}) got the file name {path.name!r}, which names {other}: "
            f"use fmt={other!r} or a name ending in {_EXTENSIONS[fmt][0]}"
        )
    return path.with_name(path.name + _EXTENSIONS[fmt][0])
