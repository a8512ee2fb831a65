"""tune_strategy.py --task portfolio end to end (Ray Tune: slow)."""

from __future__ import annotations

import json

import pandas as pd
import pytest


@pytest.mark.slow  # a Ray Tune search of three trials plus one retraining
def test_tune_portfolio_smoke(tmp_path, run_script) -> None:
    out = tmp_path / "tune"
    proc = run_script(
        "experiments/tune_strategy.py",
        "--task",
        "portfolio",
        "--smoke-test",
        "--num-cpus",
        "2",
        "--out",
        out,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    trials = pd.read_csv(out / "trials.csv")
    assert len(trials) == 3
    params = json.loads((out / "best_config.json").read_text())
    assert {"relative_return_weight", "risk_cost_weight", "hidden_size", "lr"} <= set(params)
    report = (out / "report.md").read_text()
    assert "deflated Sharpe ratio" in report and "| strategy |" in report
