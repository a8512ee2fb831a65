"""Stage-2 trainer: learns a known answer, selects on validation, the script runs end to end."""

from __future__ import annotations

import numpy as np

from quantray.config import CostConfig, StrategyConfig
from quantray.evaluate import evaluate_positions
from quantray.evaluate.baselines import buy_and_hold, cash
from quantray.train.strategy import load_strategy, policy_positions, train_strategy


def test_gru_beats_buy_and_hold_and_cash_on_validation(regime_task, tmp_path):
    cost = CostConfig.preset("none")
    config = StrategyConfig(epochs=6, batch_size=64, lr=3e-3, patience=10)
    result = train_strategy(
        regime_task, config, cost, steps_per_epoch=40, checkpoint=tmp_path / "s.pt", log=None
    )
    valid = regime_task.episodes("valid", stride=20)
    n, e = valid.next_returns.shape
    gru = evaluate_positions(
        "gru",
        policy_positions(result.model, valid, regime_task.table, cost),
        valid.next_returns,
        cost,
    )
    bh = evaluate_positions("bh", buy_and_hold(n, e), valid.next_returns, cost)
    flat = evaluate_positions("cash", cash(n, e), valid.next_returns, cost)
    margin = 0.01  # one percent per 20-day episode
    assert gru.total_return.mean() > bh.total_return.mean() + margin
    assert gru.total_return.mean() > flat.total_return.mean() + margin
    # the selected model is the best validation epoch, and it round-trips through its file
    # (default selection: the validation information ratio vs buy-and-hold)
    assert config.select_by == "ir"
    assert result.best["valid_ir"] == max(h["valid_ir"] for h in result.history)
    assert len(result.valid_daily) == result.best["valid_days"]
    model, cfg, cost2, meta = load_strategy(result.checkpoint)
    np.testing.assert_array_equal(
        policy_positions(model, valid, regime_task.table, cost2),
        policy_positions(result.model, valid, regime_task.table, cost),
    )
    assert cfg == config and "data" in meta["task"]


def test_report_callback_gets_every_epoch(regime_task):
    seen = []
    train_strategy(
        regime_task,
        StrategyConfig(epochs=2, batch_size=16),
        CostConfig.preset("us_equity"),
        steps_per_epoch=2,
        report=seen.append,
        log=None,
    )
    assert [m["epoch"] for m in seen] == [0, 1]
    assert all("valid_sharpe" in m and "valid_ir" in m and "train_total" in m for m in seen)


def test_train_strategy_script_smoke(tmp_path, run_script):
    out = tmp_path / "strategy"
    proc = run_script("experiments/train_strategy.py", "--smoke-test", "--out", out, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    for name in ("strategy.pt", "history.csv", "summary.md"):
        assert (out / name).exists()
    summary = (out / "summary.md").read_text()
    assert "| gru |" in summary and "| buy_and_hold |" in summary
    assert list((out / "stage1").glob("features-*/features.npy"))
