"""Every script's --mlflow end to end (slow: each is a full smoke run): the runs, their
per-epoch / per-iteration metrics and the report files land in OUT/mlruns."""

from __future__ import annotations

from pathlib import Path

import pytest

from quantray.train.tracking import LOCAL_STORE, RUN_TAG, resolve_target
from quantray.tune.tuner import OBJECTIVE

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def mlflow():
    return pytest.importorskip("mlflow")


def finished_runs(mlflow, out: Path, script: str) -> list:
    target = resolve_target(LOCAL_STORE, out, script)
    mlflow.set_tracking_uri(target.tracking_uri)
    runs = mlflow.search_runs(experiment_names=[target.experiment], output_format="list")
    assert runs and all(r.info.status == "FINISHED" for r in runs), runs
    return runs


def steps(mlflow, run, key: str) -> list[int]:
    client = mlflow.MlflowClient()
    return sorted(m.step for m in client.get_metric_history(run.info.run_id, key))


def artifacts(mlflow, run) -> set[str]:
    return {a.path for a in mlflow.MlflowClient().list_artifacts(run.info.run_id)}


def test_train_strategy(mlflow, tmp_path, run_script):
    out = tmp_path / "out"
    proc = run_script(
        "experiments/train_strategy.py", "--smoke-test", "--features", "raw", "--out", out,
        "--mlflow",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    (run,) = finished_runs(mlflow, out, "train_strategy")
    assert steps(mlflow, run, "valid_sharpe") == [0, 1]  # smoke: 2 epochs
    assert "valid/buy_and_hold/sharpe" in run.data.metrics
    assert {"summary.md", "history.csv", "strategy.pt"} <= artifacts(mlflow, run)


def test_train_price_rank_zero_only(mlflow, tmp_path, run_script):
    out = tmp_path / "out"
    proc = run_script(
        "experiments/train_price.py", "--smoke-test", "--num-workers", "2", "--out", out,
        "--mlflow", timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    (run,) = finished_runs(mlflow, out, "train_price")  # one run: rank 0 only
    assert run.data.tags[RUN_TAG] == (out / "latest_run.txt").read_text().strip()
    assert steps(mlflow, run, "val_loss") == [0, 1]
    assert "model/d_model" in run.data.params
    assert "price_summary.md" in artifacts(mlflow, run)


def test_train_rl(mlflow, tmp_path, run_script):
    out = tmp_path / "out"
    proc = run_script(
        "experiments/train_rl.py", "--algo", "ppo", "--smoke-test", "--out", out, "--mlflow"
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    (run,) = finished_runs(mlflow, out, "train_rl")
    assert steps(mlflow, run, "env_steps") == [1, 2]  # smoke: 2 iterations
    assert {"metrics.csv", "summary.md"} <= artifacts(mlflow, run)


def test_compare(mlflow, tmp_path, run_script):
    out = tmp_path / "out"
    proc = run_script(
        "experiments/compare.py", "--smoke-test", "--methods", "gru", "--features", "raw",
        "--out", out, "--mlflow",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    (run,) = finished_runs(mlflow, out, "compare")
    # smoke: 2 validation marks of the GRU's learning curve
    assert steps(mlflow, run, "gru/seed0/valid_sharpe") == [0, 1]
    assert "test_mean/gru/total_return" in run.data.metrics
    assert {"report.md", "episodes.csv"} <= artifacts(mlflow, run)


def test_tune_strategy_trials_and_summary(mlflow, tmp_path, run_script):
    out = tmp_path / "out"
    proc = run_script(
        "experiments/tune_strategy.py", "--budget", "smoke", "--num-cpus", "2", "--out", out,
        "--mlflow", timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    runs = finished_runs(mlflow, out, "tune_strategy")
    search = [r for r in runs if r.data.tags.get("quantray.role") == "search"]
    trials = [r for r in runs if "trial_name" in r.data.tags]
    assert len(search) == 1 and len(trials) == 3
    assert {"summary.md", "trials.csv", "best_config.json"} <= artifacts(mlflow, search[0])
    assert {"search/dsr_active", "search/spa_pvalue"} <= set(search[0].data.metrics)
    for trial in trials:
        assert trial.data.tags[RUN_TAG] == search[0].info.run_name
        assert len(steps(mlflow, trial, OBJECTIVE)) >= 1
