"""compare.py on the bundled data: report, CSV and plots, every method on the same episodes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from quantray.data.splits import SPLIT_AUDIT_ENV
from quantray.evaluate.backtest import Backtest
from quantray.evaluate.report import MethodResult, write_report


def _split_reads(path):
    """(split, pid) per episode-list read logged by quantray.data.splits' audit hook."""
    return [tuple(line.split()) for line in path.read_text().splitlines()]


def _test_read_after_all_selection(reads, driver_pid=None):
    """The test split is read in one final block, after every train / valid read."""
    splits = [split for split, _ in reads]
    assert "test" in splits
    first_test = splits.index("test")
    assert set(splits[first_test:]) == {"test"}, splits
    assert {"train", "valid"} <= set(splits[:first_test])
    if driver_pid is not None:
        assert {pid for split, pid in reads if split == "test"} == {driver_pid}


def test_compare_smoke_equal_budgets_selection_and_calendar_report(
    tmp_path, run_script, monkeypatch
):
    out = tmp_path / "compare"
    audit = tmp_path / "split_reads.log"
    monkeypatch.setenv(SPLIT_AUDIT_ENV, str(audit))
    proc = run_script(
        "experiments/compare.py", "--smoke-test", "--features", "raw", "--out", out, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = (out / "report.md").read_text()
    for needle in (
        "| gru |",
        "| ppo |",
        "| sac |",
        "| buy_and_hold |",
        "| perfect_foresight |",
        "Pairwise",
        "bull (n=",
        "Over calendar time",
        "training budget (every learned method, every seed): 800 env-days per run",
        "IR vs buy&hold",
        "calendar blocks",
    ):
        assert needle in report, needle
    episodes = pd.read_csv(out / "episodes.csv")
    # identical episode list for every method
    per_method = episodes.groupby("method")["episode"].apply(lambda s: tuple(sorted(set(s))))
    assert per_method.nunique() == 1
    for png in ("equity.png", "positions.png", "regimes.png", "learning_curves.png"):
        assert (out / png).stat().st_size > 1000

    # Equal budgets: every run spent the same 800 env-days, to within one training granule
    # of its method (GRU step, PPO iteration, SAC sampling round).
    budgets = pd.read_csv(out / "budgets.csv")
    assert sorted(budgets["method"]) == ["gru", "ppo", "sac"]
    assert (budgets["budget"] == 800).all()
    assert (budgets["samples"] >= 800).all()
    assert (budgets["samples"] < 800 + budgets["env_days_per_granule"]).all(), budgets

    # Like-for-like selection: each run kept its best validation point of its learning curve.
    curves = pd.read_csv(out / "learning_curves.csv")
    for row in budgets.itertuples():
        curve = curves[(curves["method"] == row.method) & (curves["seed"] == row.seed)]
        assert len(curve) >= 1 and curve["samples"].max() == row.samples
        assert row.best_valid_score == pytest.approx(curve[row.selected_by].max())

    _test_read_after_all_selection(_split_reads(audit))


def test_bad_budget_flags_exit_2_with_the_fix(tmp_path, run_script):
    proc = run_script("experiments/compare.py", "--budget-by", "steps", "--out", tmp_path)
    assert proc.returncode == 2
    assert "--budget-by: found 'steps'; expected one of samples, seconds" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.slow
def test_compare_tune_selects_on_validation_and_reads_test_once(tmp_path, run_script, monkeypatch):
    out = tmp_path / "compare"
    audit = tmp_path / "split_reads.log"
    monkeypatch.setenv(SPLIT_AUDIT_ENV, str(audit))
    proc = run_script(
        "experiments/compare.py",
        "--smoke-test",
        "--features",
        "raw",
        "--tune",
        "2",
        "--out",
        out,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    for method, params in (
        ("gru", "risk_cost_weight"),
        ("ppo", "entropy_coeff"),
        ("sac", "updates_per_step"),
    ):
        trials = pd.read_csv(out / f"tune_{method}.csv")
        assert len(trials) == 2 and params in trials.columns  # the same trial count each
    reads = _split_reads(audit)
    # Trials ran in Ray workers and read train / valid there (the hook reached them) ...
    driver = next(pid for split, pid in reversed(reads) if split == "test")
    assert {pid for _, pid in reads} - {driver}
    # ... and the test split was read only by the driver, once all selection was over.
    _test_read_after_all_selection(reads, driver_pid=driver)
    assert "tuned: each learned method got 2 Tune trials" in (out / "report.md").read_text()


def test_pairwise_verdict_follows_the_ci(tmp_path):
    rng = np.random.default_rng(0)
    n, e = 60, 20
    base = rng.normal(0.0, 0.01, n)
    dates = np.arange("2010-01-01", n * e, dtype="datetime64[D]").reshape(n, e)  # [n*E] -> [n, E]

    def method(name, values):
        net = np.zeros((n, e))
        net[:, 0] = values  # the whole episode return on its first day
        zeros = np.zeros((n, e))
        backtest = Backtest(
            net=net, costs=zeros, executed=zeros, next_returns=zeros, prev_position=0.0
        )
        rows = backtest.episode_metrics()
        rows.insert(0, "episode", np.arange(n))
        rows.insert(0, "method", name)
        return MethodResult(name, rows.assign(seed=0), zeros, backtest)

    methods = [
        method("gru", base + 0.01),
        method("worse", base),
        method("same", base + 0.01 + rng.normal(0, 1e-3, n)),
    ]
    path = write_report(methods, np.zeros(n, dtype=int), dates, tmp_path, header=["- test"])
    text = path.read_text()
    # The verdict sits on its own method's row: gru beats "worse", and ties with "same".
    pairwise = text.split("## Pairwise")[1].split("\n## ")[0].splitlines()
    worse = next(line for line in pairwise if line.startswith("| worse | +0.0100"))
    same = next(line for line in pairwise if line.startswith("| same |"))
    assert worse.rstrip().endswith("| better |"), worse
    assert "no clear difference" in same and "better" not in same, same
