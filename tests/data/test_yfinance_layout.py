"""yfinance's current layouts load as they are; malformed versions stop with a clear message.

Files are built with pandas exactly as ``yfinance.download(...)`` returns them (a DatetimeIndex
named Date, (Price, Ticker) MultiIndex columns sorted by field, or (Ticker, Price) with
``group_by="ticker"``) and saved with ``to_csv`` / ``to_parquet``: no network, no yfinance.
"""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from quantray.data import load_bars
from quantray.data.__main__ import main
from quantray.data.synthetic import generate, write_bars

N = 240  # enough rows for warm-up + window + horizon
TICKERS = ("AAPL", "MSFT")


@pytest.fixture(scope="module")
def bars() -> dict[str, pd.DataFrame]:
    """Synthetic bars under real tickers; canonical columns, no regime."""
    syn = generate(len(TICKERS), N, seed=7)
    return {t: f.drop(columns="regime") for t, f in zip(TICKERS, syn.values(), strict=True)}


def yf_download(
    bars: dict[str, pd.DataFrame], *, group_by: str = "column", adj_factor: float | None = None
) -> pd.DataFrame:
    """The frame ``yfinance.download(tickers, ...)`` returns (multi_level_index=True):
    fields in yfinance's sorted order (Adj Close only with auto_adjust=False)."""
    fields = ["Close", "High", "Low", "Open", "Volume"]
    if adj_factor is not None:
        fields = ["Adj Close", *fields]
    tickers = list(bars)
    columns = pd.MultiIndex.from_product([fields, tickers], names=["Price", "Ticker"])
    data = {
        (f, t): bars[t]["close"] * adj_factor if f == "Adj Close" else bars[t][f.lower()]
        for f, t in columns
    }
    first = next(iter(bars.values()))
    frame = pd.DataFrame(data, index=pd.DatetimeIndex(first.index, name="Date"), columns=columns)
    if group_by == "ticker":
        frame = frame.swaplevel(0, 1, axis=1).sort_index(axis=1, level=0, sort_remaining=False)
    return frame


def assert_same(loaded: pd.DataFrame, expected: pd.DataFrame, factor: float = 1.0) -> None:
    base = ["open", "high", "low", "close", "volume"]
    # With Adj Close the loader back-adjusts and keeps the raw close for the price-limit rule.
    assert list(loaded.columns) == (base if factor == 1.0 else [*base, "close_unadj"])
    if factor != 1.0:
        np.testing.assert_allclose(loaded["close_unadj"].to_numpy(), expected["close"].to_numpy())
    assert (loaded.index == expected.index).all()
    for col in ("open", "high", "low", "close"):
        np.testing.assert_allclose(loaded[col].to_numpy(), expected[col].to_numpy() * factor)
    np.testing.assert_allclose(loaded["volume"].to_numpy(), expected["volume"].to_numpy())


def test_single_ticker_csv_exactly_as_yfinance_writes_it(tmp_path, bars):
    path = tmp_path / "download.csv"
    yf_download({"AAPL": bars["AAPL"]}).to_csv(path)
    head = path.read_text().splitlines()[:3]
    assert head == [
        "Price,Close,High,Low,Open,Volume",
        "Ticker,AAPL,AAPL,AAPL,AAPL,AAPL",
        "Date,,,,,",
    ]
    out = load_bars(path)
    assert list(out) == ["AAPL"]  # the symbol comes from the Ticker row, not the file name
    assert_same(out["AAPL"], bars["AAPL"])


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
@pytest.mark.parametrize("group_by", ["column", "ticker"])
def test_multi_ticker_download_loads_as_several_symbols(tmp_path, bars, fmt, group_by):
    frame = yf_download(bars, group_by=group_by)
    path = tmp_path / f"prices.{fmt}"
    frame.to_csv(path) if fmt == "csv" else frame.to_parquet(path)
    if fmt == "csv" and group_by == "ticker":
        assert path.read_text().splitlines()[0].startswith("Ticker,AAPL,AAPL,")
    out = load_bars(path)
    assert sorted(out) == sorted(TICKERS)
    for t in TICKERS:
        assert_same(out[t], bars[t])


def test_adj_close_back_adjusts_per_ticker(tmp_path, bars):
    path = tmp_path / "adjusted.csv"
    yf_download(bars, adj_factor=0.8).to_csv(path)
    out = load_bars(path)
    for t in TICKERS:
        assert_same(out[t], bars[t], factor=0.8)


def test_union_calendar_blank_dates_leave_only_that_ticker(tmp_path, bars, caplog):
    frame = yf_download(bars)
    frame.loc[frame.index[:10], (slice(None), "MSFT")] = np.nan  # listed 10 days later
    path = tmp_path / "late_listing.csv"
    frame.to_csv(path)
    with caplog.at_level(logging.WARNING, logger="quantray.data"):
        out = load_bars(path)
    assert len(out["AAPL"]) == N
    assert len(out["MSFT"]) == N - 10
    assert out["MSFT"].index[0] == bars["MSFT"].index[10]
    assert_same(out["MSFT"], bars["MSFT"].iloc[10:])
    assert "MSFT has no bars on 10 of the file's 240 dates" in caplog.text


@pytest.mark.parametrize("group_by", ["column", "ticker"])
def test_older_header_without_level_names_loads(tmp_path, bars, group_by):
    frame = yf_download(bars, group_by=group_by)
    frame.columns.names = [None, None]
    path = tmp_path / "old.csv"
    frame.to_csv(path)
    first = ",Close,Close,High" if group_by == "column" else ",AAPL,AAPL,AAPL"
    assert path.read_text().startswith(first)
    out = load_bars(path)
    assert sorted(out) == sorted(TICKERS)
    assert_same(out["MSFT"], bars["MSFT"])


def test_flat_download_still_loads_under_the_file_name(tmp_path, bars):
    frame = yf_download({"AAPL": bars["AAPL"]})
    frame.columns = frame.columns.droplevel("Ticker")  # multi_level_index=False
    frame.to_csv(tmp_path / "AAPL.csv")
    assert (tmp_path / "AAPL.csv").read_text().startswith("Date,Close,High,Low,Open,Volume\n")
    assert_same(load_bars(tmp_path / "AAPL.csv")["AAPL"], bars["AAPL"])


# ----- malformed versions: exit 2 from the CLI, file + where + found + expected + fix --------


def _validate(capsys, path: Path) -> str:
    code = main(["validate", str(path)])
    err = capsys.readouterr().err
    assert code == 2, err
    assert str(path) in err and "Traceback" not in err
    for label in ("where:", "found:", "expected:", "fix:"):
        assert label in err, f"{label} missing in:\n{err}"
    return err


def _validate_frame(capsys, frame: pd.DataFrame, path: Path) -> str:
    """Save ``frame`` as a yfinance download would be saved (CSV, or Parquet by suffix) and
    return the CLI's error for it (``_validate``)."""
    if path.suffix == ".parquet":
        frame.to_parquet(path)
    else:
        frame.to_csv(path)
    return _validate(capsys, path)


def test_blank_ticker_cell(tmp_path, bars, capsys):
    path = tmp_path / "blank_ticker.csv"
    yf_download(bars).to_csv(path)
    lines = path.read_text().splitlines()
    cells = lines[1].split(",")
    cells[3] = ""  # ('High', 'AAPL') loses its ticker
    path.write_text("\n".join([lines[0], ",".join(cells), *lines[2:]]) + "\n")
    err = _validate(capsys, path)
    assert "a column has no ticker" in err
    assert "line 2, column 4" in err
    assert "'High'" in err


def test_price_group_missing_close(tmp_path, bars, capsys):
    frame = yf_download(bars).drop(columns=[("Close", "MSFT")])
    err = _validate_frame(capsys, frame, tmp_path / "no_close.csv")
    assert "ticker 'MSFT' has no 'Close' column" in err
    assert "MSFT columns ['High', 'Low', 'Open', 'Volume']" in err


def test_misspelt_field_gets_a_hint(tmp_path, bars, capsys):
    frame = yf_download(bars).rename(columns={"Close": "Clsoe"}, level="Price")
    err = _validate_frame(capsys, frame, tmp_path / "typo.csv")
    assert "has no 'Close' column" in err and "'Clsoe' a misspelt 'Close'" in err


def test_duplicate_field_ticker_pair(tmp_path, bars, capsys):
    frame = yf_download(bars)
    frame = frame.rename(columns={"MSFT": "AAPL"}, level="Ticker")
    err = _validate_frame(capsys, frame, tmp_path / "dup.csv")
    assert "column (Close, AAPL) appears twice" in err and "columns 2 and 3" in err


def test_partly_blank_row_names_ticker_and_line(tmp_path, bars, capsys):
    frame = yf_download(bars)
    frame.loc[frame.index[5], ("Close", "MSFT")] = np.nan
    err = _validate_frame(capsys, frame, tmp_path / "hole.csv")
    # 3 header lines, so the 6th bar is line 9.
    assert "missing or infinite price in 'close'" in err and "ticker MSFT, line 9" in err


def test_ticker_without_any_bar(tmp_path, bars, capsys):
    frame = yf_download(bars)
    frame.loc[:, (slice(None), "MSFT")] = np.nan  # what a failed download leaves
    err = _validate_frame(capsys, frame, tmp_path / "failed.csv")
    assert "ticker 'MSFT' has no bars" in err


def test_parquet_blank_ticker(tmp_path, bars, capsys):
    frame = yf_download(bars)
    frame.columns = pd.MultiIndex.from_tuples(
        [(f, "" if (f, t) == ("Open", "MSFT") else t) for f, t in frame.columns],
        names=frame.columns.names,
    )
    err = _validate_frame(capsys, frame, tmp_path / "blank.parquet")
    assert "a column has no ticker" in err and "column level 1" in err


def test_cli_subprocess_exit_2_without_traceback(tmp_path, bars):
    frame = yf_download(bars).drop(columns=[("Volume", "AAPL")])
    path = tmp_path / "no_volume.csv"
    frame.to_csv(path)
    proc = subprocess.run(
        [sys.executable, "-m", "quantray.data", "validate", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2, proc.stderr
    assert "ticker 'AAPL' has no 'Volume' column" in proc.stderr
    assert "Traceback" not in proc.stderr


# ----- round trips: whatever write_bars writes, load_bars reads ---------------------------


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
@pytest.mark.parametrize("layout", ["long", "per_symbol"])
@pytest.mark.parametrize("name", ["bars", "bars.v2", "named"])
def test_write_bars_round_trip(tmp_path, bars, fmt, layout, name):
    if name == "named":
        name = f"bars.{fmt}"
    written = write_bars(bars, tmp_path / name, layout=layout, fmt=fmt)
    if layout == "long":
        assert written.name.endswith(f".{fmt}")
        assert written.is_file()
    out = load_bars(written)
    assert sorted(out) == sorted(bars)
    for t in bars:
        assert_same(out[t], bars[t])


def test_write_bars_refuses_the_other_formats_extension(tmp_path, bars):
    with pytest.raises(ValueError, match="names csv"):
        write_bars(bars, tmp_path / "bars.csv", fmt="parquet")


def test_parquet_is_recognised_by_its_magic_bytes(tmp_path, bars):
    written = write_bars(bars, tmp_path / "bars", fmt="parquet")
    renamed = written.rename(tmp_path / "bars.dat")  # no Parquet name left
    assert renamed.read_bytes()[:4] == b"PAR1"
    out = load_bars(renamed)
    assert sorted(out) == sorted(bars)
    yf = tmp_path / "download"
    yf_download(bars).to_parquet(yf)  # a yfinance Parquet saved without an extension
    assert sorted(load_bars(yf)) == sorted(TICKERS)
