"""--mlflow: where runs go, what a run records (real MLflow local store, real Ray Tune), and
the exit-2 message without the optional package. TensorBoard files come from Tune itself
(checked in tests/tune/test_tune_strategy_script.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from quantray.config import ConfigError, CostConfig, StrategyConfig
from quantray.train.tracking import (
    ARTIFACTS,
    DATABASE,
    LOCAL_STORE,
    RUN_TAG,
    MlflowTarget,
    resolve_target,
    tracked_run,
)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def mlflow():
    return pytest.importorskip("mlflow")


@pytest.fixture(scope="module")
def store(tmp_path_factory, mlflow) -> Path:
    """One local store for the module (creating its SQLite schema costs seconds); each test
    logs into its own experiment."""
    return tmp_path_factory.mktemp("tracking")


def _runs(mlflow, target: MlflowTarget) -> list:
    mlflow.set_tracking_uri(target.tracking_uri)
    return mlflow.search_runs(experiment_names=[target.experiment], output_format="list")


def _history(mlflow, target: MlflowTarget, run_id: str, key: str) -> list[tuple[int, float]]:
    client = mlflow.MlflowClient(tracking_uri=target.tracking_uri)
    return sorted((m.step, m.value) for m in client.get_metric_history(run_id, key))


def _artifacts(mlflow, target: MlflowTarget, run_id: str) -> set[str]:
    client = mlflow.MlflowClient(tracking_uri=target.tracking_uri)
    return {a.path for a in client.list_artifacts(run_id)}


def test_without_mlflow_the_flag_exits_2_before_any_work(tmp_path):
    out = tmp_path / "out"
    code = (
        "import runpy, sys; sys.modules['mlflow'] = None; "  # as if not installed
        f"sys.argv = ['train_strategy.py', '--mlflow', '--features', 'raw', '--out', {str(out)!r}]; "
        "runpy.run_path('experiments/train_strategy.py', run_name='__main__')"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=False
    )
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert 'pip install "quantray[mlflow]"' in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not out.exists()  # stopped before reading data or writing anything


def test_targets(mlflow, tmp_path):
    bare = resolve_target(LOCAL_STORE, tmp_path / "out", "train_rl")
    store = (tmp_path / "out" / LOCAL_STORE).resolve()
    assert bare == MlflowTarget(
        f"sqlite:///{store / DATABASE}", "quantray-train_rl", str(store / ARTIFACTS)
    )
    mine = resolve_target(str(tmp_path / "mine"), tmp_path / "out", "compare")
    assert mine.tracking_uri == f"sqlite:///{(tmp_path / 'mine').resolve() / DATABASE}"
    server = resolve_target("http://127.0.0.1:5000", tmp_path, "compare")
    assert server == MlflowTarget("http://127.0.0.1:5000", "quantray-compare", None)
    assert resolve_target(None, tmp_path, "compare") is None
    with pytest.raises(ConfigError, match="file store"):
        resolve_target("file:./mlruns", tmp_path, "compare")
    (tmp_path / "a_file").write_text("x")
    with pytest.raises(ConfigError, match="is a file"):
        resolve_target(str(tmp_path / "a_file"), tmp_path, "compare")


def test_stage2_run_records_params_every_epoch_and_artifacts(mlflow, store, regime_task, tmp_path):
    from quantray.train.strategy import train_strategy

    target = resolve_target(LOCAL_STORE, store, "stage2")
    config = StrategyConfig(epochs=2, patience=10, hidden_size=16)
    report = tmp_path / "summary.md"
    report.write_text("# report\n")
    with tracked_run(target, "stage2-run", {"strategy": config.to_dict(), "seed": 3}) as track:
        result = train_strategy(
            regime_task,
            config,
            CostConfig.preset("none"),
            seed=3,
            steps_per_epoch=3,
            report=track.epoch,
            log=None,
        )
        track.artifacts([report, tmp_path / "missing.csv"])
    (run,) = _runs(mlflow, target)
    assert run.info.status == "FINISHED" and run.info.run_name == "stage2-run"
    assert run.data.tags[RUN_TAG] == "stage2-run"
    assert run.data.params["strategy/hidden_size"] == "16" and run.data.params["seed"] == "3"
    for key in ("valid_sharpe", "train_total", "valid_max_drawdown"):
        logged = _history(mlflow, target, run.info.run_id, key)
        expected = [(int(h["epoch"]), h[key]) for h in result.history if np.isfinite(h[key])]
        assert [s for s, _ in logged] == [s for s, _ in expected]
        np.testing.assert_allclose([v for _, v in logged], [v for _, v in expected])
    assert _artifacts(mlflow, target, run.info.run_id) == {"summary.md"}
    # Runs live under the output folder: the SQLite store and the artifact root.
    assert (store / LOCAL_STORE / DATABASE).is_file()
    assert list((store / LOCAL_STORE / ARTIFACTS).rglob("summary.md"))


def test_a_run_that_raises_is_marked_failed(mlflow, store):
    target = resolve_target(LOCAL_STORE, store, "failing")
    with pytest.raises(RuntimeError), tracked_run(target, "boom", {}) as track:
        track.metrics({"loss": 1.0, "note": "text", "nan": float("nan")}, step=0)
        raise RuntimeError("training diverged")
    (run,) = _runs(mlflow, target)
    assert run.info.status == "FAILED"
    assert run.data.metrics == {"loss": 1.0}  # only finite numbers are metrics
    assert mlflow.active_run() is None


def three_epoch_trial(config: dict) -> None:
    from ray import tune

    from quantray.tune.tuner import OBJECTIVE

    # The same search objective in both trials, so ASHA stops neither early.
    for epoch in range(3):
        tune.report({OBJECTIVE: float(epoch), "score": config["lr"] * (epoch + 1)})


def test_tune_trials_become_runs_with_every_report(mlflow, store, tmp_path):
    import ray

    from quantray.config import TuneSettings, get_budget
    from quantray.train.price import default_data_path
    from quantray.tune.tuner import make_tuner

    target = resolve_target(LOCAL_STORE, store, "tune")
    settings = TuneSettings(
        get_budget("smoke"),
        default_data_path(None),
        str(tmp_path / "ray"),
        "tracked",
        num_samples=2,
        max_concurrent=2,
        cpus_per_trial=1.0,
        events=False,
        tracking=target,
    )
    ray.shutdown()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        results = make_tuner(settings, trainable=three_epoch_trial).fit()
    finally:
        ray.shutdown()
    assert all(r.error is None for r in results)
    runs = _runs(mlflow, target)
    assert len(runs) == 2
    lrs = {}
    for run in runs:
        assert run.info.status == "FINISHED" and run.data.tags[RUN_TAG] == "tracked"
        lr = float(run.data.params["lr"])
        lrs[run.data.tags["trial_name"]] = lr
        history = _history(mlflow, target, run.info.run_id, "score")
        assert [s for s, _ in history] == [1, 2, 3]  # step = Tune's training_iteration
        np.testing.assert_allclose([v for _, v in history], [lr, 2 * lr, 3 * lr])
    assert len(set(lrs.values())) == 2  # one run per trial, each with its own config
