"""compare.py and tune_strategy.py with --task portfolio, end to end (Ray, RLlib, Tune: slow)."""

from __future__ import annotations

import json

import pandas as pd
import pytest


@pytest.mark.slow  # trains the strategy, PPO and SAC under a local Ray: minutes on 2 cores
def test_compare_portfolio_smoke(tmp_path, run_script) -> None:
    out = tmp_path / "cmp"
    proc = run_script(
        "experiments/compare.py", "--task", "portfolio", "--smoke-test", "--out", out, timeout=900
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = (out / "report.md").read_text()
    for method in ("gru", "ppo", "sac", "equal_weight", "minimum_variance"):
        assert f"| {method} |" in report
    rows = pd.read_csv(out / "episodes.csv")
    per_method = rows.groupby("method")["episode"].apply(tuple)
    assert per_method.nunique() == 1  # every method on the identical episode list


def test_compare_portfolio_refuses_what_it_does_not_do_yet(tmp_path, run_script) -> None:
    proc = run_script(
        "experiments/compare.py", "--task", "portfolio", "--seeds", "3", "--tune", "2",
        "--out", tmp_path,
    )  # fmt: skip
    assert proc.returncode == 2 and "--seeds, --tune" in proc.stderr
    assert "Traceback" not in proc.stderr


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
    assert "deflated (DSR)" in report and "| strategy |" in report
    assert "Hansen's SPA test over all 3 trials" in report and "skill beyond 1/N" in report
