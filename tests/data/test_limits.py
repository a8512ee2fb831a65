"""Exchange price limits and suspensions: hand cases of quantray.data.limits."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from quantray.config import ConfigError, CostConfig
from quantray.data import Panel, load_bars_with_reports
from quantray.data.limits import (
    board_of,
    limit_flags,
    limit_prices,
    symbol_limits,
    trade_permissions,
)
from quantray.data.synthetic import generate

CN = CostConfig.preset("cn_a_share")


def _permissions(symbol, prev_close, close, cost=CN, unadjusted=True, tradable=True):
    """can_buy, can_sell of one day of ``symbol`` closing at ``close`` after ``prev_close``."""
    prev_close, close = np.atleast_1d(prev_close), np.atleast_1d(close)
    unadj = (close, prev_close) if unadjusted else (np.full_like(close, np.nan),) * 2
    return trade_permissions(
        np.zeros(close.shape, dtype=np.int64),
        [symbol],
        close / prev_close - 1.0,
        unadj[0],
        unadj[1],
        np.full(close.shape, tradable),
        cost,
    )


def test_limit_price_rounds_half_up_to_the_cent():
    # 10.03 * 1.1 = 11.033 -> 11.03; 10.03 * 0.9 = 9.027 -> 9.03.
    up, down = limit_prices(np.array([10.03]), 0.10)
    assert (int(up[0]), int(down[0])) == (1103, 903)
    # Half-up on an exact half cent: 10.05 * 1.1 = 11.055 -> 11.06, 10.05 * 0.9 = 9.045 -> 9.05.
    up, down = limit_prices(np.array([10.05]), 0.10)
    assert (int(up[0]), int(down[0])) == (1106, 905)


def test_the_rounded_limit_close_is_limit_up_where_the_return_rule_misses_it():
    # 10.03 -> 11.03 is a +9.97% day: the old return rule (1e-6 tolerance) does not see it.
    up, _ = limit_flags(np.array([11.03 / 10.03 - 1.0]), 0.10)
    assert not up[0]
    can_buy, can_sell = _permissions("600000", 10.03, 11.03)
    assert not can_buy[0] and can_sell[0]  # limit-up: no buy fills, selling is fine
    can_buy, can_sell = _permissions("600000", 10.03, 11.02)
    assert can_buy[0] and can_sell[0]  # one cent below the limit: an ordinary day
    can_buy, can_sell = _permissions("600000", 10.03, 9.03)
    assert can_buy[0] and not can_sell[0]  # limit-down (9.027 -> 9.03)


@pytest.mark.parametrize(
    ("symbol", "limit", "prev", "at_up", "below_up", "at_down"),
    [
        ("600519", 0.10, 10.00, 11.00, 10.99, 9.00),  # Shanghai main board
        ("000001.SZ", 0.10, 10.00, 11.00, 10.99, 9.00),  # Shenzhen main board
        ("300750", 0.20, 20.00, 24.00, 23.99, 16.00),  # ChiNext
        ("sz301001", 0.20, 20.00, 24.00, 23.99, 16.00),  # ChiNext
        ("688981", 0.20, 20.00, 24.00, 23.99, 16.00),  # STAR
        ("830799", 0.30, 10.00, 13.00, 12.99, 7.00),  # Beijing
        ("430047.BJ", 0.30, 10.00, 13.00, 12.99, 7.00),  # Beijing
        ("920001", 0.30, 10.00, 13.00, 12.99, 7.00),  # Beijing
    ],
)
def test_each_board_has_its_own_limit(symbol, limit, prev, at_up, below_up, at_down):
    limits, exchange = symbol_limits([symbol], CN)
    assert limits == [limit] and exchange == [True]
    can_buy, can_sell = _permissions(symbol, np.full(3, prev), np.array([at_up, below_up, at_down]))
    np.testing.assert_array_equal(can_buy, [False, True, True])
    np.testing.assert_array_equal(can_sell, [True, True, False])


def test_st_stocks_have_a_5_percent_limit_on_the_main_board_only():
    cost = CN.replace(st_codes=("600123", "sz000004", "300001"))
    assert board_of("600123", cost.st_codes) == "st"
    assert board_of("000004", cost.st_codes) == "st"
    assert board_of("300001", cost.st_codes) == "chinext"  # ChiNext ST stays at 20%
    assert board_of("600124", cost.st_codes) == "main"
    can_buy, can_sell = _permissions(
        "600123", np.full(3, 10.00), np.array([10.50, 10.49, 9.50]), cost
    )
    np.testing.assert_array_equal(can_buy, [False, True, True])
    np.testing.assert_array_equal(can_sell, [True, True, False])
    # Unmarked, the same +5% day is ordinary.
    can_buy, _ = _permissions("600123", 10.00, 10.50)
    assert can_buy[0]
    with pytest.raises(ConfigError, match="six-digit"):
        CostConfig(st_codes=("ST Foo",))
    assert CostConfig.from_dict({"st_codes": ["600123"]}).st_codes == ("600123",)


def test_indices_have_no_limit_and_other_symbols_use_the_flat_limit():
    for index in ("sh000001", "000300.SH", "399001", "899050"):
        assert board_of(index) == "index"
    limits, exchange = symbol_limits(["sh000001", "399006", "AAPL", "SYN000"], CN)
    assert limits == [None, None, 0.10, 0.10] and exchange == [False, False, False, False]
    can_buy, _ = _permissions("399006", 1000.0, 1150.0)  # +15%: an index is never limited
    assert can_buy[0]
    # A non-China symbol under a flat limit uses the return rule.
    can_buy, can_sell = _permissions("AAPL", np.full(2, 100.0), np.array([110.0, 90.0]))
    np.testing.assert_array_equal(can_buy, [False, True])
    np.testing.assert_array_equal(can_sell, [True, False])


def test_without_an_unadjusted_close_the_board_limit_uses_the_return_rule():
    # ChiNext at 20%: +20% is limit-up by returns, +19.9% is not, and the exact-cent case
    # 10.03 -> 11.03 on the main board is missed (the documented cost of back-adjusted data).
    can_buy, _ = _permissions("300750", np.full(2, 20.0), np.array([24.0, 23.98]), unadjusted=False)
    np.testing.assert_array_equal(can_buy, [False, True])
    can_buy, _ = _permissions("600000", 10.03, 11.03, unadjusted=False)
    assert can_buy[0]


def test_suspended_days_never_fill_and_limits_need_enforcement():
    free = CN.replace(enforce_price_limit=False, price_limit=None, stamp_duty=0.0)
    can_buy, can_sell = _permissions("600000", 10.03, 11.03, free)
    assert can_buy[0] and can_sell[0]  # the limit is not enforced
    can_buy, can_sell = _permissions("600000", 10.0, 10.0, free, tradable=False)
    assert not can_buy[0] and not can_sell[0]  # a suspension blocks both sides regardless


def _bars_with(volume_zero_days, all_zero=False):
    bars = generate(n_symbols=2, n_days=400, seed=1)
    frame = bars["SYN000"].drop(columns="regime")
    if all_zero:
        frame["volume"] = 0.0
    else:
        frame.iloc[volume_zero_days, frame.columns.get_loc("volume")] = 0.0
    return {"SYN000": frame, "SYN001": bars["SYN001"].drop(columns="regime")}


def test_panel_marks_zero_volume_days_untradable_unless_the_symbol_has_no_volume_data():
    panel = Panel.from_bars(_bars_with([250, 251]))
    rows = panel.offsets[0] + np.array([249, 250, 251, 252])
    np.testing.assert_array_equal(panel.tradable[rows], [True, False, False, True])
    can_buy, can_sell = panel.trade_flags(CostConfig.preset("none"))
    np.testing.assert_array_equal(can_buy[rows], [True, False, False, True])
    np.testing.assert_array_equal(can_sell[rows], [True, False, False, True])
    assert panel.tradable[panel.offsets[1] :].all()
    no_volume = Panel.from_bars(_bars_with([], all_zero=True))
    assert no_volume.tradable.all()  # an index file without volume: every day trades


def test_loader_keeps_the_unadjusted_close_and_the_summary_says_so(tmp_path):
    dates = pd.bdate_range("2020-01-01", periods=260).strftime("%Y-%m-%d")
    close = np.linspace(10.0, 12.0, 260)
    base = {"Date": dates, "Open": close, "High": close, "Low": close, "Volume": 1e6}
    pd.DataFrame({**base, "Close": close, "close_unadj": close * 2}).to_csv(
        tmp_path / "600000.csv", index=False
    )
    pd.DataFrame({**base, "Close": close, "Adj Close": close * 0.5}).to_csv(
        tmp_path / "MSFT.csv", index=False
    )
    pd.DataFrame({**base, "Close": close}).to_csv(tmp_path / "300750.csv", index=False)
    bars, reports = load_bars_with_reports(tmp_path, min_rows=100)
    np.testing.assert_allclose(bars["600000"]["close_unadj"], close * 2)
    # Adj Close back-adjusts the prices; the raw Close is kept as the unadjusted close.
    np.testing.assert_allclose(bars["MSFT"]["close"], close * 0.5)
    np.testing.assert_allclose(bars["MSFT"]["close_unadj"], close)
    assert "close_unadj" not in bars["300750"].columns
    summary = {r.symbol: r.summary() for r in reports}
    assert "price limits on the unadjusted close" in summary["600000"]
    assert "price limits on returns (no unadjusted close)" in summary["300750"]
    panel = Panel.from_bars(bars)
    line = panel.limit_rule_summary(CN)
    # 600000: exchange rounding; MSFT (no China board) and 300750 (no unadjusted close): returns.
    assert "unadjusted close (exchange rounding) for 1 symbol," in line
    assert "return rule on the close for 2 symbols" in line
    assert panel.limit_rule_summary(CostConfig.preset("us_equity")) == "price limits: none"


def test_akshare_download_merges_the_unadjusted_close():
    """The downloader asks akshare for qfq AND unadjusted bars and keeps both closes (the
    provider is replaced by a local function returning its documented columns: no network)."""
    from types import SimpleNamespace

    from quantray.data.download import _akshare_bars

    days = ["2024-01-02", "2024-01-03"]
    calls = []

    def stock_zh_a_hist(symbol, period, adjust, start_date, end_date):
        calls.append(adjust)
        scale = 0.5 if adjust == "qfq" else 1.0
        closes = [10.03 * scale, 11.03 * scale]
        return pd.DataFrame({"日期": days, "收盘": closes, "开盘": closes, "成交量": [1e5, 2e5]})

    frame = _akshare_bars(SimpleNamespace(stock_zh_a_hist=stock_zh_a_hist), "600000", "", "")
    assert sorted(calls) == ["", "qfq"]
    np.testing.assert_allclose(frame["收盘"], [5.015, 5.515])
    np.testing.assert_allclose(frame["close_unadj"], [10.03, 11.03])
