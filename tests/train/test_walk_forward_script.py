"""experiments/walk_forward.py as a user runs it: smoke run on Ray, report files, --resume."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from quantray.config import CostConfig


def _smoke(out: Path, run_script, *flags: str) -> None:
    proc = run_script(
        "experiments/walk_forward.py",
        "--smoke-test",
        "--methods",
        "gru,ppo",
        "--out",
        out,
        *flags,
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
def test_resume_restores_the_saved_run_and_reuses_finished_folds(tmp_path, run_script):
    script = "experiments/walk_forward.py"
    out = tmp_path / "wf"
    _smoke(out, run_script, "--seed", "3", "--cost", "none")  # settings away from the defaults
    marks = sorted(out.glob("*/fold*/result.json"))
    assert len(marks) == 4
    # an interrupted run: the last retrain fold never finished (its result.json comes last)
    redo = out / "retrain" / "fold001"
    before = pd.read_parquet(redo / "oos.parquet")
    (redo / "result.json").unlink()
    kept = [m for m in marks if m.exists()]
    stamps = [m.stat().st_mtime_ns for m in kept]
    again = run_script(script, "--smoke-test", "--methods", "gru,ppo", "--out", out)
    assert again.returncode == 2 and "pass --resume to continue it" in again.stderr
    other = run_script(script, "--resume", "--methods", "gru", "--seed", "3", "--out", out)
    assert other.returncode == 2 and "Traceback" not in other.stderr
    assert "methods: saved ['gru', 'ppo'], given ['gru'] (from --methods)" in other.stderr
    assert "seed:" not in other.stderr  # given, but equal to the saved seed
    resumed = run_script(script, "--resume", "--out", out, timeout=300)  # no settings flags
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert resumed.stdout.count("finished earlier, reused") == 3
    assert [m.stat().st_mtime_ns for m in kept] == stamps
    result = json.loads((redo / "result.json").read_text())
    assert result["methods"] == ["gru", "ppo"] and result["ppo_samples"] >= 800
    assert result["stage1_trained"] is False  # the saved stage-1 spec (seed 3) hit its cache
    after = pd.read_parquet(redo / "oos.parquet")
    assert (after["random"] == before["random"]).all()  # seeded by the saved --seed 3
    report = (out / "walk_forward.md").read_text()
    assert "seed 3" in report and json.dumps(CostConfig.preset("none").to_dict()) in report


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
