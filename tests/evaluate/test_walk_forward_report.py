"""Walk-forward report statistics: the same numbers as the shared metrics, hand-checked."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from quantray.config import CostConfig
from quantray.evaluate import pooled_metrics, run_backtest
from quantray.evaluate.walk_forward import (
    backtest_record,
    month_block_ci,
    record_metrics,
    write_walk_forward_report,
)

E = 5


def _record(n_episodes: int = 24, seed: int = 0) -> pd.DataFrame:
    """Two symbols, consecutive E-day episodes on business days, two folds."""
    rng = np.random.default_rng(seed)
    rows = []
    days = pd.bdate_range("2020-01-01", periods=n_episodes * E // 2)
    for s, symbol in enumerate(("A", "B")):
        for k in range(n_episodes // 2):
            dates = days[k * E : (k + 1) * E]
            r = rng.normal(0.0005, 0.01, E)
            rows.append(
                pd.DataFrame(
                    {
                        "fold": int(k >= n_episodes // 4),
                        "symbol": symbol,
                        "episode": dates[0],
                        "date": dates,
                        "day": np.arange(E),
                        "next_return": r,
                        "prev_return": rng.normal(0, 0.01, E),
                        "gru": rng.integers(0, 11, E) / 10,
                        "buy_and_hold": 1.0,
                        "cash": 0.0,
                    }
                )
            )
        _ = s
    return pd.concat(rows, ignore_index=True)


def test_pooled_sharpe_and_returns_match_the_shared_metrics():
    record = _record()
    cost = CostConfig.preset("us_equity")
    books = backtest_record(record, cost)
    metrics = record_metrics(books).set_index("method")
    r = record["next_return"].to_numpy().reshape(-1, E)
    for name in ("gru", "buy_and_hold"):
        bt = run_backtest(record[name].to_numpy().reshape(-1, E), r, cost)
        pooled = pooled_metrics(bt.net, bt.executed)
        assert metrics.loc[name, "sharpe"] == pytest.approx(pooled["sharpe"], rel=1e-10)
        assert metrics.loc[name, "turnover"] == pytest.approx(pooled["turnover"], rel=1e-12)
        # total return of the equal-weight daily portfolio, by hand
        daily = pd.Series(bt.net.reshape(-1), index=record["date"]).groupby(level=0).mean()
        assert metrics.loc[name, "total_return"] == pytest.approx(np.prod(1 + daily) - 1)
    assert metrics.loc["cash", "sharpe"] == 0.0  # all cash is Sharpe 0, not NaN
    assert metrics.loc["buy_and_hold", "sharpe_vs_bh"] == 0.0
    assert metrics.loc["gru", "sharpe_vs_bh"] == pytest.approx(
        metrics.loc["gru", "sharpe"] - metrics.loc["buy_and_hold", "sharpe"]
    )
    for name, m in metrics.iterrows():
        assert m.sharpe_low <= m.sharpe <= m.sharpe_high, name


def test_month_blocks_keep_shared_dates_together():
    # Symbol B is an exact copy of A: resampling rows or episodes one by one would treat the
    # copies as independent and shrink the interval; month blocks must not.
    record = _record()
    a = record[record.symbol == "A"]
    twin = pd.concat([a, a.assign(symbol="B")], ignore_index=True)
    one = backtest_record(a, CostConfig())["buy_and_hold"]
    two = backtest_record(twin, CostConfig())["buy_and_hold"]
    ci_one, ci_two = month_block_ci(one), month_block_ci(two)
    # equal up to the ddof=1 factor sqrt((n - 1) / (2n - 1) * 2) of the doubled sample; a
    # row-wise bootstrap would narrow the interval by about 1 / sqrt(2)
    assert ci_two.estimate == pytest.approx(ci_one.estimate, rel=0.01)
    assert ci_two.high - ci_two.low == pytest.approx(ci_one.high - ci_one.low, rel=0.03)


def test_report_files(tmp_path):
    record = _record()
    results = [
        {
            "fold": f,
            "update_start": "2019-01-01",
            "test_start": str(record[record.fold == f].date.min().date()),
            "test_end": str(record[record.fold == f].date.max().date()),
            "stage1_samples": 100,
            "strategy_samples": 200,
            "seconds": 1.5,
            "valid_sharpe": 0.3,
        }
        for f in (0, 1)
    ]
    path = write_walk_forward_report(
        {"retrain": (results, record), "incremental": (results, record)},
        CostConfig(),
        tmp_path,
        header=["- test"],
    )
    text = path.read_text()
    assert "Retrain vs incremental" in text and "| 0 | 2019-01-01 |" in text
    for name in ("metrics.csv", "folds.csv", "fold_metrics.csv", "regimes.csv", "equity.png"):
        assert (tmp_path / name).exists()
    regimes = pd.read_csv(tmp_path / "regimes.csv")
    per_method = regimes.groupby(["update", "method"])["episodes"].sum()
    assert (per_method == len(record) // E).all()  # every episode in exactly one regime
