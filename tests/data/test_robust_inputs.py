"""Issue 15, data: nothing silently changed or lost, valid variants loaded, warnings raised.

Every file is built here from a synthetic frame whose true values are known, so "loads
correctly" is checked against those values, not just "does not raise"."""

from __future__ import annotations

import gzip
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from quantray.data import DataError, load_bars, load_bars_with_reports
from quantray.data.synthetic import generate

N = 260


def bars(n: int = N, seed: int = 0) -> pd.DataFrame:
    """[n, 5] a valid synthetic symbol, canonical names, date index."""
    return generate(n_symbols=1, n_days=n, seed=seed)["SYN000"].drop(columns="regime")


def english(frame: pd.DataFrame) -> pd.DataFrame:
    table = frame.reset_index()
    table.columns = ["Date", "Open", "High", "Low", "Close", "Volume"]
    table["Date"] = table["Date"].dt.strftime("%Y-%m-%d")
    return table


def error_of(path: Path) -> DataError:
    with pytest.raises(DataError) as info:
        load_bars(path)
    assert str(path) in str(info.value)
    return info.value


# --- data silently changed or lost -------------------------------------------------------


def test_blank_symbol_in_long_file_is_an_error_naming_the_line(tmp_path):
    a, b = english(bars(seed=1)), english(bars(seed=2))
    a.insert(1, "Symbol", "AAA")
    b.insert(1, "Symbol", "BBB")
    table = pd.concat([a, b], ignore_index=True)
    table.loc[300, "Symbol"] = ""  # row 300 of the data = line 302 (header is line 1)
    path = tmp_path / "long.csv"
    table.to_csv(path, index=False)
    err = error_of(path)
    assert "blank symbol" in str(err) and err.where == "line 302"
    assert "1 rows without a symbol" in str(err)


def test_quoted_decimal_comma_prices_load_by_the_stated_rule(tmp_path, caplog):
    frame = bars().round(2)
    table = english(frame)
    for col in ("Open", "High", "Low", "Close"):
        table[col] = table[col].map(lambda v: f"{v:.2f}".replace(".", ","))
    path = tmp_path / "EU.csv"
    table.to_csv(path, index=False)  # pandas quotes "198,50"
    assert '"' in path.read_text().splitlines()[1]
    with caplog.at_level(logging.WARNING, logger="quantray.data"):
        out = load_bars(path)["EU"]
    np.testing.assert_allclose(out["close"].to_numpy(), frame["close"].to_numpy())  # not x100
    assert "decimal comma" in caplog.text


def test_one_decimal_digit_comma_is_decimal_not_a_swapped_column(tmp_path):
    frame = bars().round(1)
    table = english(frame)
    for col in ("Open", "High", "Low", "Close"):
        table[col] = table[col].map(lambda v: f"{v:.1f}".replace(".", ","))
    path = tmp_path / "EU1.csv"
    table.to_csv(path, index=False)
    np.testing.assert_allclose(load_bars(path)["EU1"]["high"], frame["high"].to_numpy())


def test_ambiguous_three_digit_commas_are_refused_not_guessed(tmp_path):
    table = english(bars().round(3))
    for col in ("Open", "High", "Low", "Close"):
        table[col] = table[col].map(lambda v: f"{v:.3f}".replace(".", ","))
    path = tmp_path / "AMB.csv"
    table.to_csv(path, index=False)
    err = error_of(path)
    assert "ambiguous commas" in str(err) and "decimal point" in err.fix


def test_thousands_separators_still_load(tmp_path):
    frame = bars()
    frame[["open", "high", "low", "close"]] = (frame[["open", "high", "low", "close"]] * 50).round(
        2
    )
    table = english(frame)
    table["Close"] = table["Close"].map(lambda v: f"{v:,.2f}")
    path = tmp_path / "K.csv"
    table.to_csv(path, index=False)
    assert any("," in v for v in table["Close"])
    np.testing.assert_allclose(load_bars(path)["K"]["close"], frame["close"].to_numpy())


@pytest.mark.parametrize("second", ["Close", "收盘"])
def test_duplicate_column_is_an_error_naming_it(tmp_path, second):
    table = english(bars())
    path = tmp_path / "DUP.csv"
    lines = table.to_csv(index=False).splitlines()
    lines[0] += f",{second}"
    lines[1:] = [line + ",1.0" for line in lines[1:]]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    err = error_of(path)
    assert second in err.problem


def test_blank_trailing_header_cells_are_not_duplicates(tmp_path):
    path = tmp_path / "TRAIL.csv"
    lines = english(bars()).to_csv(index=False).splitlines()
    path.write_text("\n".join(line + ",," for line in lines) + "\n")  # exports ending in ",,"
    assert len(load_bars(path)["TRAIL"]) == N


# --- valid input wrongly refused ---------------------------------------------------------


def test_tz_aware_yfinance_history_dates_load_as_daily(tmp_path):
    frame = bars()
    table = english(frame)
    # yfinance history(): midnight New York time, -05:00 in winter and -04:00 in summer.
    local = frame.index.tz_localize("America/New_York")
    table["Date"] = [d.isoformat(sep=" ") for d in local]
    assert {t[-6:] for t in table["Date"]} == {"-05:00", "-04:00"}
    path = tmp_path / "TZ.csv"
    table.to_csv(path, index=False)
    out = load_bars(path)["TZ"]
    assert (out.index == frame.index).all()


@pytest.mark.parametrize("index", ["named", "unnamed", "tz", "date32"])
def test_parquet_with_dates_as_index_loads(tmp_path, index):
    frame = bars()
    table = frame.copy()
    if index == "unnamed":
        table.index.name = None
    elif index == "tz":
        table.index = table.index.tz_localize("Asia/Shanghai")
    elif index == "date32":
        table.index = pd.Index([d.date() for d in frame.index], name="Date")
    path = tmp_path / "IDX.parquet"
    table.to_parquet(path)
    out = load_bars(path)["IDX"]
    assert (out.index == frame.index).all()
    np.testing.assert_allclose(out["close"], frame["close"].to_numpy())


def test_parquet_with_date_index_and_disagreeing_date_column_is_an_error(tmp_path):
    frame = bars()
    table = frame.copy()
    table["date"] = frame.index + pd.Timedelta(days=1)
    path = tmp_path / "BOTH.parquet"
    table.to_parquet(path)
    assert "date index and a date column" in error_of(path).problem
    table["date"] = frame.index  # agreeing: loads
    table.to_parquet(path)
    assert len(load_bars(path)["BOTH"]) == N


@pytest.mark.parametrize("sep", [";", "\t"])
def test_semicolon_and_tab_delimited_files_load(tmp_path, sep):
    frame = bars().round(2)
    table = english(frame)
    if sep == ";":  # the European export: semicolons and decimal commas
        for col in ("Open", "High", "Low", "Close"):
            table[col] = table[col].map(lambda v: f"{v:.2f}".replace(".", ","))
    path = tmp_path / "SEP.csv"
    table.to_csv(path, index=False, sep=sep)
    out = load_bars(path)["SEP"]
    np.testing.assert_allclose(out["low"], frame["low"].to_numpy())


def test_directory_skips_readme_and_subdirectories_and_refuses_dangling_links(tmp_path, caplog):
    english(bars(seed=1)).to_csv(tmp_path / "AAA.csv", index=False)
    # Commas enough to look like a header: skipped by its name, not by its shape.
    (tmp_path / "README.txt").write_text("Columns: Date, Open, High, Low, Close, Volume\n")
    (tmp_path / "vendor_info.txt").write_text("one line about the vendor\n")
    (tmp_path / "old.csv").mkdir()
    with caplog.at_level(logging.WARNING, logger="quantray.data"):
        assert set(load_bars(tmp_path)) == {"AAA"}
    assert "README.txt" in caplog.text and "old.csv" in caplog.text
    (tmp_path / "BBB.csv").symlink_to(tmp_path / "gone.csv")
    with pytest.raises(DataError, match="broken symbolic link") as info:
        load_bars(tmp_path)
    assert "BBB.csv" in str(info.value)


@pytest.mark.parametrize("damage", ["not_gzip", "truncated"])
def test_bad_gzip_is_a_data_error(tmp_path, damage):
    text = english(bars()).to_csv(index=False).encode()
    path = tmp_path / "GZ.csv.gz"
    path.write_bytes(text if damage == "not_gzip" else gzip.compress(text)[:400])
    assert "gzip" in error_of(path).problem


# --- warnings, not failures --------------------------------------------------------------


def test_future_dates_constant_runs_and_year_gaps_warn(tmp_path):
    frame = bars(n=400)
    frame.iloc[100:130] = frame.iloc[100].to_numpy()  # 30 identical bars
    late = frame.index[300:] + pd.DateOffset(years=2)  # a two-year hole
    frame.index = frame.index[:300].append(late)
    frame.index = frame.index + (pd.Timestamp.now().normalize() - frame.index[350])
    frame.index.name = "date"
    path = tmp_path / "ODD.csv"
    english(frame).to_csv(path, index=False)
    _, (report,) = load_bars_with_reports(path)
    text = "\n".join(report.warnings)
    assert "49 dates after today" in text
    assert "unchanged for 30 rows" in text
    assert "1 gaps of more than a year" in text


# --- data too short for the splits -------------------------------------------------------


def test_split_geometry_says_how_many_days_are_needed():
    from quantray.config import ConfigError
    from quantray.data import Panel
    from quantray.data.splits import check_geometry, min_calendar_days

    need = min_calendar_days()
    # Hand-computed for the defaults (L=180, H=7, E=20, embargo 27, 70/15/15): the test
    # period binds: n - int(0.7 n) - int(0.15 n) - 54 >= 28 first holds at n = 537.
    assert need == 537
    check_geometry(Panel.from_bars({"A": bars(n=need)}))
    with pytest.raises(ConfigError, match=f"has {need - 1} trading days.*need at least {need}"):
        check_geometry(Panel.from_bars({"A": bars(n=need - 1)}))
