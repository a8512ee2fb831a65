"""Optional online downloaders: US equities via yfinance, China A-shares via akshare.

Neither package is a dependency: install the extra (``pip install "quantray[us]"`` or
``"quantray[cn]"``). Both write one CSV per symbol in the layout ``load_bars`` reads, and
every file is validated after download. China A-shares come back-adjusted (qfq, for returns)
with the unadjusted close beside them (``close_unadj``, for the exchanges' price limits). Without the package, or without a network, they
stop with a message saying so and what to do instead (the bundled sample data and your own
files always work offline).
"""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType

import pandas as pd

from quantray.data.errors import DataError
from quantray.data.load import load_bars

SOURCES = {"yfinance": "us", "akshare": "cn"}


class DownloadError(DataError):
    """A downloader could not run (package missing, network unreachable, no data)."""


def _module(source: str) -> ModuleType:
    if source not in SOURCES:
        raise DownloadError(
            source,
            "unknown download source",
            expected=" or ".join(SOURCES),
            fix="use --source yfinance (US equities) or --source akshare (China A-shares)",
        )
    try:
        return importlib.import_module(source)
    except ImportError:
        raise DownloadError(
            source,
            f"the optional package '{source}' is not installed",
            fix=f'pip install "quantray[{SOURCES[source]}]" (needs network access), or load '
            "your own CSV/Parquet files with --data",
        ) from None


def _offline(source: str, symbol: str, exc: Exception) -> DownloadError:
    return DownloadError(
        source,
        f"download of {symbol} failed: {type(exc).__name__}: {exc}",
        expected="network access to the data provider",
        fix="check the connection (this machine may be offline) or use files you already "
        "have with --data; the bundled sample data needs no network",
    )


def _akshare_bars(module: ModuleType, symbol: str, start: str, end: str) -> pd.DataFrame:
    """Back-adjusted (qfq) bars for returns plus the UNADJUSTED close as ``close_unadj``:
    the exchanges' price limits are set on unadjusted prices (``quantray.data.limits``)."""
    dates = {"start_date": start.replace("-", ""), "end_date": end.replace("-", "")}
    adjusted = module.stock_zh_a_hist(symbol=symbol, period="daily", adjust="qfq", **dates)
    raw = module.stock_zh_a_hist(symbol=symbol, period="daily", adjust="", **dates)
    if adjusted is None or raw is None or len(adjusted) == 0:
        return adjusted
    unadj = raw[["日期", "收盘"]].rename(columns={"收盘": "close_unadj"})
    unadj["日期"] = unadj["日期"].astype(str)
    adjusted = adjusted.assign(日期=adjusted["日期"].astype(str))
    return adjusted.merge(unadj, on="日期", how="left", validate="one_to_one")


def download(source: str, symbols: list[str], start: str, end: str, out: str | Path) -> list[Path]:
    """Download daily bars of ``symbols`` into ``out/<symbol>.csv`` and validate them."""
    module = _module(source)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for symbol in symbols:
        try:
            if source == "yfinance":
                frame = module.Ticker(symbol).history(start=start, end=end, auto_adjust=False)
                frame = frame.reset_index()[
                    ["Date", "Open", "High", "Low", "Close", "Adj Close", "Volume"]
                ]
                frame["Date"] = pd.to_datetime(frame["Date"]).dt.strftime("%Y-%m-%d")
            else:
                frame = _akshare_bars(module, symbol, start, end)
        except Exception as exc:  # the providers raise many network error types
            raise _offline(source, symbol, exc) from None
        if frame is None or len(frame) == 0:
            raise DownloadError(
                source,
                f"no bars returned for {symbol} between {start} and {end}",
                fix="check the symbol code and the dates",
            )
        path = out / f"{symbol}.csv"
        frame.to_csv(path, index=False)
        written.append(path)
    load_bars(written)  # the same checks as every other input
    return written
