"""experiments/walk_forward.py as a user runs it: smoke run on Ray, report files, --resume."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest


def _smoke(out: Path, run_script) -> None:
    proc = run_script(
        "experiments/walk_forward.py",
        "--smoke-test",
        "--methods",
        "gru,ppo",
        "--out",
        out,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]


def test_smoke_writes_the_report(tmp_path, run_script):
    out = tmp_path / "wf"
    _smoke(out, run_script)
    report = (out / "walk_forward.md").read_text()
    for section in (
        "`retrain`: stitched",
        "`incremental`: stitched",
        "Retrain vs incremental",
        "By market regime",
        "![stitched equity](equity.png)",
    ):
        assert section in report
    assert (out / "equity.png").stat().st_size > 10_000
    metrics = pd.read_csv(out / "metrics.csv")
    assert set(metrics["update"]) == {"retrain", "incremental"}
    assert {"gru", "ppo", "buy_and_hold", "cash", "momentum"} <= set(metrics["method"])
    learned = metrics[metrics["method"].isin(["gru", "ppo"])]
    assert len(learned) == 4  # both methods in both update modes, stitched and scored
    assert (
        learned["ir"].notna().all()
        and learned["verdict"].isin(["better", "worse", "no clear difference"]).all()
    )
    for update in ("retrain", "incremental"):
        assert f"| {update} | ppo | " in report  # quality and cost row per method
    assert (metrics["sharpe_low"] <= metrics["sharpe"]).all()
    assert (metrics["sharpe"] <= metrics["sharpe_high"]).all()
    cash = metrics[metrics["method"] == "cash"]
    assert (cash["sharpe"] == 0).all() and (cash["total_return"] == 0).all()
    folds = pd.read_csv(out / "folds.csv")
    assert len(folds) == 4  # two folds per update mode
    # PPO trained per fold to the smoke budget (800 env-days, 400 per PPO iteration)
    assert (folds["ppo_samples"] >= 800).all() and (folds["ppo_samples"] < 1200).all()
    assert all(Path(p).exists() for p in folds["ppo_checkpoint"])
    for _, part in folds.groupby("update"):
        starts = pd.to_datetime(part["test_start"]).to_numpy()
        ends = pd.to_datetime(part["test_end"]).to_numpy()
        assert (starts[1:] > ends[:-1]).all()
    record = pd.read_csv(out / "record_retrain.csv")
    assert (record.groupby("fold")["date"].min().to_numpy() >= part["test_start"].to_numpy()).all()


@pytest.mark.slow
def test_resume_reuses_every_finished_fold(tmp_path, run_script):
    out = tmp_path / "wf"
    _smoke(out, run_script)
    marks = sorted(out.glob("*/fold*/result.json"))
    assert len(marks) == 4
    stamps = [m.stat().st_mtime_ns for m in marks]
    same = ("experiments/walk_forward.py", "--smoke-test", "--methods", "gru,ppo", "--out", out)
    again = run_script(*same, timeout=300)
    assert again.returncode == 2 and "pass --resume to continue it" in again.stderr
    other = run_script("experiments/walk_forward.py", "--smoke-test", "--out", out, "--resume")
    assert other.returncode == 2 and "different settings" in other.stderr  # methods differ
    resumed = run_script(*same, "--resume", timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert resumed.stdout.count("finished earlier, reused") == 4
    assert [m.stat().st_mtime_ns for m in marks] == stamps


def test_user_mistakes_exit_2_with_a_clear_message(tmp_path, run_script):
    proc = run_script(
        "experiments/walk_forward.py", "--smoke-test", "--update", "sometimes", "--out", tmp_path
    )
    assert proc.returncode == 2
    assert 'update must be one of retrain, incremental, got "sometimes"' in proc.stderr
    assert "Traceback" not in proc.stderr
    proc = run_script(
        "experiments/walk_forward.py", "--smoke-test", "--methods", "ppo", "--out", tmp_path
    )
    assert proc.returncode == 2 and "the GRU is every fold's stage 2" in proc.stderr
    proc = run_script(
        "experiments/walk_forward.py", "--smoke-test", "--methods", "gru,a2c", "--out", tmp_path
    )
    assert proc.returncode == 2 and "a2c" in proc.stderr and "Traceback" not in proc.stderr
    bad = tmp_path / "best_config.json"
    bad.write_text('{"strategy": {}}')
    proc = run_script("experiments/walk_forward.py", "--config", bad, "--out", tmp_path)
    assert proc.returncode == 2 and "lacks ['stage1_spec', 'cost', 'seed']" in proc.stderr
