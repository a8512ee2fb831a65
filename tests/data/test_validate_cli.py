"""Every bad-input case: exit code 2 and a message naming the file and the problem."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from quantray.data import DataError, load_bars, load_bars_with_reports
from quantray.data.__main__ import main
from quantray.data.synthetic import generate

N = 260  # enough rows for warm-up + window + horizon


def good_frame(n: int = N, seed: int = 0) -> pd.DataFrame:
    frame = generate(n_symbols=1, n_days=n, seed=seed)["SYN000"].drop(columns="regime")
    table = frame.reset_index()
    table.columns = ["Date", "Open", "High", "Low", "Close", "Volume"]
    table["Date"] = table["Date"].dt.strftime("%Y-%m-%d")
    return table


def write(tmp_path: Path, table: pd.DataFrame, name: str = "AAA.csv") -> Path:
    path = tmp_path / name
    table.to_csv(path, index=False)
    return path


def run_cli(capsys: pytest.CaptureFixture[str], *paths: Path) -> tuple[int, str, str]:
    code = main(["validate", *map(str, paths)])
    out = capsys.readouterr()
    return code, out.out, out.err


def expect_error(capsys, path: Path, *needles: str) -> str:
    code, _, err = run_cli(capsys, path)
    assert code == 2, err
    assert str(path) in err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in err, f"{needle!r} not in:\n{err}"
    return err


def test_good_file_exit_0_and_summary(tmp_path, capsys):
    path = write(tmp_path, good_frame())
    code, out, err = run_cli(capsys, path)
    assert code == 0, err
    assert f"AAA: {N} rows, 2000-01-03 .. " in out
    assert "gaps" in out


def test_missing_path(tmp_path, capsys):
    expect_error(capsys, tmp_path / "nope.csv", "does not exist")


def test_empty_file(tmp_path, capsys):
    path = tmp_path / "AAA.csv"
    path.write_bytes(b"")
    expect_error(capsys, path, "empty")


def test_header_only(tmp_path, capsys):
    path = tmp_path / "AAA.csv"
    path.write_text("Date,Open,High,Low,Close,Volume\n")
    expect_error(capsys, path, "header only")


def test_binary_file(tmp_path, capsys):
    path = tmp_path / "AAA.csv"
    path.write_bytes(b"PK\x03\x04\x00\x00\x08\x00" + bytes(range(256)) * 4)
    expect_error(capsys, path, "binary")


def test_corrupt_parquet(tmp_path, capsys):
    path = tmp_path / "AAA.parquet"
    path.write_bytes(b"this is not parquet at all")
    expect_error(capsys, path, "Parquet")


def test_missing_column_did_you_mean(tmp_path, capsys):
    table = good_frame().rename(columns={"Close": "Closee"})
    err = expect_error(capsys, write(tmp_path, table), "missing required column 'close'")
    assert 'Did you mean to name column "Closee"' in err


def test_unparseable_date(tmp_path, capsys):
    table = good_frame()
    table.loc[5, "Date"] = "2000-13-45"
    expect_error(capsys, write(tmp_path, table), "unparseable date", "line 7", "2000-13-45")


def test_duplicate_date_conflicting(tmp_path, capsys):
    table = good_frame()
    dup = table.iloc[[10]].copy()
    dup["Close"] = dup["Close"] * 1.01
    dup["High"] = dup["High"] * 1.02
    table = pd.concat([table, dup], ignore_index=True)
    day = table.loc[10, "Date"]
    expect_error(capsys, write(tmp_path, table), "conflicting", day)


def test_duplicate_identical_rows_are_collapsed(tmp_path):
    table = good_frame()
    table = pd.concat([table, table.iloc[[10]]], ignore_index=True)
    _, reports = load_bars_with_reports(write(tmp_path, table))
    assert reports[0].rows == N
    assert any("duplicate" in w for w in reports[0].warnings)


@pytest.mark.parametrize("value", ["", "inf"])
def test_nan_or_inf_price(tmp_path, capsys, value):
    table = good_frame()
    table["Close"] = table["Close"].astype(object)
    table.loc[20, "Close"] = value
    expect_error(capsys, write(tmp_path, table), "price in 'close'", "line 22")


@pytest.mark.parametrize("value", [0.0, -3.0])
def test_zero_or_negative_price(tmp_path, capsys, value):
    table = good_frame()
    table.loc[30, "Low"] = value
    expect_error(capsys, write(tmp_path, table), "zero or negative price in 'low'", "line 32")


def test_high_below_low(tmp_path, capsys):
    table = good_frame()
    high, low = float(table.loc[40, "High"]), float(table.loc[40, "Low"])
    table.loc[40, "High"], table.loc[40, "Low"] = low, high
    expect_error(capsys, write(tmp_path, table), "high is below low", "line 42")


def test_close_outside_range(tmp_path, capsys):
    table = good_frame()
    table.loc[50, "Close"] = table.loc[50, "High"] * 1.05
    expect_error(capsys, write(tmp_path, table), "close lies outside [low, high]", "line 52")


def test_negative_volume(tmp_path, capsys):
    table = good_frame()
    table.loc[60, "Volume"] = -100
    expect_error(capsys, write(tmp_path, table), "negative volume", "line 62")


def test_non_numeric_volume(tmp_path, capsys):
    table = good_frame()
    table["Volume"] = table["Volume"].astype(object)
    table.loc[70, "Volume"] = "lots"
    expect_error(capsys, write(tmp_path, table), "non-numeric value in column 'volume'", "'lots'")


def test_too_few_rows(tmp_path, capsys):
    expect_error(capsys, write(tmp_path, good_frame(n=100)), "too few rows", "100 daily bars")


def test_intraday_timestamps(tmp_path, capsys):
    table = good_frame()
    table["Date"] = pd.date_range("2020-01-01 09:30", periods=N, freq="min").strftime(
        "%Y-%m-%d %H:%M:%S"
    )
    expect_error(capsys, write(tmp_path, table), "intraday")


def test_unsorted_dates_are_sorted_with_warning(tmp_path):
    table = good_frame()
    shuffled = table.sample(frac=1.0, random_state=0)
    bars, reports = load_bars_with_reports(write(tmp_path, shuffled))
    frame = bars["AAA"]
    assert frame.index.is_monotonic_increasing
    assert len(frame) == N
    assert any("not in order" in w for w in reports[0].warnings)
    np.testing.assert_allclose(frame["close"].to_numpy(), table["Close"].to_numpy())


def test_zero_volume_days_kept(tmp_path):
    table = good_frame()
    table.loc[[100, 101, 102], "Volume"] = 0
    bars, reports = load_bars_with_reports(write(tmp_path, table))
    assert len(bars["AAA"]) == N
    assert reports[0].zero_volume_days == 3
    assert any("zero-volume" in w for w in reports[0].warnings)


def test_error_message_lists_found_expected_fix(tmp_path):
    table = good_frame()
    table.loc[30, "Low"] = 0.0
    with pytest.raises(DataError) as info:
        load_bars(write(tmp_path, table))
    text = str(info.value)
    for label in ("found:", "expected:", "fix:", "where:"):
        assert label in text


def test_cli_subprocess_no_traceback(tmp_path):
    path = tmp_path / "AAA.csv"
    path.write_text("Date,Open,High,Low,Close,Volume\n")
    proc = subprocess.run(
        [sys.executable, "-m", "quantray.data", "validate", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert str(path) in proc.stderr


def test_download_without_optional_package_is_a_clear_error(tmp_path, capsys):
    import importlib.util

    if importlib.util.find_spec("akshare") is not None:
        pytest.skip("akshare is installed here")
    code = main(["download", "--source", "akshare", "--symbols", "600519", "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2
    assert "not installed" in err and 'pip install "quantray[cn]"' in err
    assert "Traceback" not in err
    assert not list(tmp_path.iterdir())  # nothing half-written


def test_download_unknown_source(tmp_path, capsys):
    code = main(["download", "--source", "bloomberg", "--symbols", "X", "--out", str(tmp_path)])
    assert code == 2
    assert "unknown download source" in capsys.readouterr().err
