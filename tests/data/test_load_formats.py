"""load_bars: layouts, English and Chinese headers, date formats, canonical output."""

from __future__ import annotations

import numpy as np
import pandas as pd

from quantray.data import CSI300_PATH, SAMPLE_PATH, load_bars, load_sample
from quantray.data.synthetic import generate, write_bars


def test_sample_data_is_real_and_canonical():
    bars = load_sample()
    assert set(bars) == {"SP500", "NASDAQ", "MSFT"}
    sp = bars["SP500"]
    assert list(sp.columns) == ["open", "high", "low", "close", "volume"]
    assert all(sp.dtypes == "float64")
    assert sp.index.is_monotonic_increasing and sp.index.is_unique
    assert str(sp.index[0].date()) == "1999-01-04" and str(sp.index[-1].date()) == "2018-12-31"
    # First S&P 500 close of 1999 from the source file.
    assert abs(sp["close"].iloc[0] - 1228.099976) < 1e-6
    assert len(bars["MSFT"]) == 7983
    csi = load_bars(CSI300_PATH)["CSI300"]
    assert len(csi) == 4857
    assert str(csi.index[0].date()) == "2006-01-06" and str(csi.index[-1].date()) == "2025-12-31"
    # First and last CSI 300 closes in the source file.
    assert csi["close"].iloc[0] == 970.032 and csi["close"].iloc[-1] == 4629.9395
    assert (SAMPLE_PATH.parent / "PROVENANCE.md").exists()


def test_yfinance_style_with_slash_dates_and_adj_close(tmp_path):
    n = 230
    frame = generate(1, n, seed=1)["SYN000"]
    table = pd.DataFrame(
        {
            "Date": frame.index.strftime("%-m/%-d/%Y"),
            "Open": frame["open"],
            "High": frame["high"],
            "Low": frame["low"],
            "Close": frame["close"],
            "Adj Close": frame["close"] * 0.5,
            "Volume": frame["volume"],
        }
    )
    table.to_csv(tmp_path / "XYZ.csv", index=False)
    bars = load_bars(tmp_path / "XYZ.csv")
    out = bars["XYZ"]
    assert out.index[0] == frame.index[0]
    # Back-adjusted: every price scaled by Adj Close / Close = 0.5.
    np.testing.assert_allclose(out["close"].to_numpy(), frame["close"].to_numpy() * 0.5)
    np.testing.assert_allclose(out["high"].to_numpy(), frame["high"].to_numpy() * 0.5)


def test_akshare_chinese_long_file_gbk(tmp_path):
    n = 230
    bars = generate(2, n, seed=2)
    rows = []
    for code, (_, frame) in zip(["600519", "000001"], bars.items(), strict=True):
        rows.append(
            pd.DataFrame(
                {
                    "日期": frame.index.strftime("%Y-%m-%d"),
                    "股票代码": code,
                    "开盘": frame["open"],
                    "收盘": frame["close"],
                    "最高": frame["high"],
                    "最低": frame["low"],
                    "成交量": frame["volume"],
                    "成交额": frame["volume"] * frame["close"],
                    "振幅": 1.0,
                    "涨跌幅": 0.5,
                    "涨跌额": 0.1,
                    "换手率": 0.8,
                }
            )
        )
    path = tmp_path / "ashares.csv"
    pd.concat(rows).to_csv(path, index=False, encoding="gb18030")
    out = load_bars(path)
    assert set(out) == {"600519", "000001"}
    frame = out["600519"]
    assert list(frame.columns) == ["open", "high", "low", "close", "volume", "amount", "turnover"]
    np.testing.assert_allclose(frame["close"].to_numpy(), bars["SYN000"]["close"].to_numpy())


def test_directory_of_parquet_and_long_parquet_agree(tmp_path):
    bars = generate(3, 240, seed=3)
    write_bars(bars, tmp_path / "dir", layout="per_symbol", fmt="parquet")
    write_bars(bars, tmp_path / "long.parquet", layout="long", fmt="parquet")
    a = load_bars(tmp_path / "dir")
    b = load_bars(tmp_path / "long.parquet")
    assert sorted(a) == sorted(b) == sorted(bars)
    for s in bars:
        pd.testing.assert_frame_equal(a[s], b[s], check_freq=False)
        np.testing.assert_allclose(a[s]["close"].to_numpy(), bars[s]["close"].to_numpy())
