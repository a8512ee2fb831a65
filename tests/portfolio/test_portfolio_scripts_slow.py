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


def test_compare_portfolio_seeds_and_equal_budgets(tmp_path, run_script) -> None:
    """--seeds and --budget / --evaluations act on the portfolio comparison: every seed of
    the strategy spends the same env-day budget (to one step: 16 episodes x 20 days) with a
    validation at each mark, and the report states it."""
    out = tmp_path / "cmp"
    proc = run_script(
        "experiments/compare.py", "--task", "portfolio", "--smoke-test", "--methods", "gru",
        "--seeds", "2", "--budget", "960", "--evaluations", "3", "--out", out, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    budgets = pd.read_csv(out / "budgets.csv")
    assert list(budgets["seed"]) == [0, 1]
    assert ((budgets["samples"] >= 960) & (budgets["samples"] < 960 + 320)).all()
    curves = pd.read_csv(out / "learning_curves.csv")
    assert curves.groupby("seed").size().tolist() == [3, 3]  # one validation per mark
    assert (curves.groupby("seed")["samples"].apply(list).tolist()) == [[320, 640, 960]] * 2
    report = (out / "report.md").read_text()
    assert "seeds per learned method: 2" in report and "960 env-days per run" in report
    assert "| gru |" in report and "IR vs equal_weight" in report


def test_compare_portfolio_refuses_single_asset_settings_flags(tmp_path, run_script) -> None:
    proc = run_script(
        "experiments/compare.py", "--task", "portfolio", "--gru-lr", "0.01", "--out", tmp_path
    )
    assert proc.returncode == 2 and "--gru-lr" in proc.stderr and "single-asset" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.slow  # Tune trials of SAC on the portfolio env, then the comparison
def test_compare_portfolio_tune(tmp_path, run_script) -> None:
    out = tmp_path / "cmp"
    proc = run_script(
        "experiments/compare.py", "--task", "portfolio", "--smoke-test", "--methods", "gru,sac",
        "--tune", "2", "--out", out, timeout=900,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    for method in ("gru", "sac"):
        trials = pd.read_csv(out / f"tune_{method}.csv")
        assert len(trials) == 2 and trials["valid_ir"].notna().all()
    assert "Tune trials (Optuna TPE)" in (out / "report.md").read_text()


@pytest.mark.slow  # a Ray Tune search of three trials plus one retraining
def test_tune_portfolio_smoke(tmp_path, run_script) -> None:
    out = tmp_path / "tune"
    proc = run_script(
        "experiments/tune_strategy.py", "--task", "portfolio", "--smoke-test", "--num-cpus", "2",
        "--out", out, timeout=900,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    trials = pd.read_csv(out / "trials.csv")
    assert len(trials) == 3
    params = json.loads((out / "best_config.json").read_text())
    assert {"relative_return_weight", "risk_cost_weight", "hidden_size", "lr"} <= set(params)
    report = (out / "report.md").read_text()
    assert "deflated (DSR)" in report and "| strategy |" in report
    assert "Hansen's SPA test over all 3 trials" in report and "skill beyond 1/N" in report
