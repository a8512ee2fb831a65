"""Walk-forward report statistics: the same numbers as the shared metrics, hand-checked."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from quantray.config import CostConfig
from quantray.evaluate import pooled_metrics, run_backtest
from quantray.evaluate.walk_forward import (
    record_metrics,
    score_record,
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
                        "can_buy": True,
                        "can_sell": True,
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
    scored = score_record(record, cost)
    metrics = record_metrics(scored).set_index("method")
    r = record["next_return"].to_numpy().reshape(-1, E)
    hold = run_backtest(np.ones_like(r), r, cost)
    for name in ("gru", "buy_and_hold"):
        bt = run_backtest(record[name].to_numpy().reshape(-1, E), r, cost)
        pooled = pooled_metrics(bt.net, bt.executed)
        assert metrics.loc[name, "sharpe"] == pytest.approx(pooled["sharpe"], rel=1e-10)
        # total return of the equal-weight daily portfolio, by hand
        daily = pd.Series(bt.net.reshape(-1), index=record["date"]).groupby(level=0).mean()
        assert metrics.loc[name, "total_return"] == pytest.approx(np.prod(1 + daily) - 1)
    active = run_backtest(record["gru"].to_numpy().reshape(-1, E), r, cost).net - hold.net
    assert metrics.loc["gru", "ir"] == pytest.approx(
        pooled_metrics(active, np.ones_like(active))["sharpe"], rel=1e-10
    )
    assert metrics.loc["cash", "sharpe"] == 0.0  # all cash is Sharpe 0, not NaN
    assert metrics.loc["cash", "total_return"] == 0.0
    assert np.isnan(metrics.loc["buy_and_hold", "ir"])  # no IR of the benchmark against itself
    for name, m in metrics.iterrows():
        assert m.sharpe_low <= m.sharpe <= m.sharpe_high, name


def test_same_dated_episodes_share_a_date_block():
    # Symbol B is an exact copy of A: its episodes fall in A's date blocks, so the interval
    # is not narrowed by the copy (episode-by-episode resampling would narrow it ~1/sqrt(2)).
    record = _record()
    a = record[record.symbol == "A"]
    twin = pd.concat([a, a.assign(symbol="B")], ignore_index=True)
    one, two = score_record(a, CostConfig()), score_record(twin, CostConfig())
    assert two.blocks.n_blocks == one.blocks.n_blocks
    m1 = record_metrics(one).set_index("method").loc["buy_and_hold"]
    m2 = record_metrics(two).set_index("method").loc["buy_and_hold"]
    assert m2.sharpe == pytest.approx(m1.sharpe, rel=0.01)
    assert m2.sharpe_high - m2.sharpe_low == pytest.approx(m1.sharpe_high - m1.sharpe_low, rel=0.05)


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
            "selected_by": "valid_ir",
            "valid_score": 0.1,
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
