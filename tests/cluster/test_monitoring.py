"""Custom Ray metrics reach the Prometheus export endpoint; recording without Ray is a no-op."""

from __future__ import annotations

import math
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

import pytest

from quantray.train import monitoring, ray_runtime

LINE = re.compile(r"^(?P<name>[A-Za-z_:][A-Za-z0-9_:]*)(\{(?P<labels>.*)\})? (?P<value>\S+)$")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def samples(text: str, name: str) -> list[tuple[dict[str, str], float]]:
    """(labels, value) of every Prometheus sample called exactly ``name``."""
    out = []
    for line in text.splitlines():
        m = LINE.match(line)
        if m and m["name"] == name:
            labels = dict(re.findall(r'(\w+)="([^"]*)"', m["labels"] or ""))
            out.append((labels, float(m["value"])))
    return out


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        return r.read().decode()


def poll(port: int, done, timeout: float = 30.0) -> str:
    """Scrape until ``done(text)`` holds or ``timeout`` seconds pass; returns the last text."""
    deadline = time.monotonic() + timeout
    text = ""
    while time.monotonic() < deadline:
        try:
            text = scrape(port)
        except OSError:
            text = ""
        if done(text):
            return text
        time.sleep(1.0)
    return text


def test_job_names():
    assert ray_runtime.job_name("experiments/tune_strategy.py") == "quantray-tune_strategy"
    assert ray_runtime.job_name("train rl.py") == "quantray-train-rl"
    sid = ray_runtime.submission_id("experiments/train_rl.py", now=0.0)
    assert re.fullmatch(r"quantray-train_rl-19700101-000000-[0-9a-f]{4}", sid)
    with pytest.raises(ValueError, match="cannot name a Ray job"):
        ray_runtime.job_name("///")


def test_joins_cluster_rules(monkeypatch):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    assert not ray_runtime.joins_cluster(None)
    assert not ray_runtime.joins_cluster("local")
    assert ray_runtime.joins_cluster("auto")
    assert ray_runtime.joins_cluster("10.0.0.1:6379")
    monkeypatch.setenv("RAY_ADDRESS", "127.0.0.1:6379")
    assert ray_runtime.joins_cluster(None)  # inside `ray job submit` the driver joins


def test_bad_rates_are_rejected():
    with pytest.raises(ValueError, match="finite number >= 0"):
        monitoring.record_env_throughput(-1.0, "ppo")
    with pytest.raises(ValueError, match="finite number >= 0"):
        monitoring.record_price_throughput(math.inf, "r")


def test_recording_without_ray_is_a_noop_and_imports_no_ray():
    code = (
        "import sys\n"
        "from quantray.train import monitoring as m\n"
        "assert m.record_trial_finished(1.0) is False\n"
        "assert m.record_env_throughput(10.0, 'ppo') is False\n"
        "assert m.record_price_throughput(10.0, 'r') is False\n"
        "assert m.record_strategy_throughput(10.0, 'r') is False\n"
        "assert 'ray' not in sys.modules, 'recording without Ray imported Ray'\n"
        "assert m._metrics == {}\n"
        "print('ok')\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0 and "ok" in proc.stdout, proc.stderr[-2000:]


@pytest.fixture(scope="module")
def local_ray():
    """A 1-CPU local Ray with the metrics export port set, in a private temp dir (so it
    never touches, or joins, another Ray instance on this shared machine). Shared by the
    tests of this module, which therefore use distinct experiment/run tag values."""
    import ray

    tmp = tempfile.mkdtemp(prefix="qrm", dir="/tmp")  # short: Ray's socket paths are limited
    patch = pytest.MonkeyPatch()
    patch.setenv("RAY_TMPDIR", tmp)
    patch.delenv("RAY_ADDRESS", raising=False)
    port = free_port()
    monitoring._metrics.clear()
    monitoring._best_sharpe.clear()
    context = ray_runtime.init_ray(
        None,
        "tests/cluster/test_monitoring.py",
        num_cpus=1,
        include_dashboard=False,
        _metrics_export_port=port,
        _system_config={"metrics_report_interval_ms": 1000},
    )
    try:
        yield port, context
    finally:
        ray.shutdown()
        monitoring._metrics.clear()
        patch.undo()
        shutil.rmtree(tmp, ignore_errors=True)


def test_metrics_from_driver_task_and_actor_reach_the_export_endpoint(local_ray):
    import ray

    port, _ = local_ray
    # The job is named after the script (JobConfig metadata the dashboard shows).
    assert ray.get_runtime_context().namespace == ray_runtime.NAMESPACE

    @ray.remote(num_cpus=0)
    def stage1_worker() -> bool:
        return monitoring.record_price_throughput(1234.5, "run-a")

    @ray.remote(num_cpus=0)
    class EnvRunner:
        def step_rate(self) -> bool:
            return monitoring.record_env_throughput(777.0, "ppo")

    runner = EnvRunner.remote()
    assert ray.get([stage1_worker.remote(), runner.step_rate.remote()]) == [True, True]
    for sharpe, seconds in ((0.5, 20.0), (1.25, 45.0), (float("nan"), 5.0), (-0.75, 400.0)):
        assert monitoring.record_trial_finished(sharpe, experiment="exp1", seconds=seconds)
    assert monitoring.record_strategy_throughput(42.0, "s1")

    def ready(text: str) -> bool:
        return all(
            samples(text, f"ray_quantray_{n}")
            for n in (
                "price_samples_per_s",
                "env_steps_per_s",
                "trials_finished_total",
                "best_valid_sharpe",
                "strategy_episodes_per_s",
            )
        ) and samples(text, "ray_quantray_trial_seconds_count")

    text = poll(port, ready, timeout=30.0)
    assert ready(text), "quantray metrics missing from /metrics:\n" + "\n".join(
        line for line in text.splitlines() if "quantray" in line
    )
    [(labels, value)] = samples(text, "ray_quantray_price_samples_per_s")
    assert labels["run"] == "run-a" and value == pytest.approx(1234.5)
    [(labels, value)] = samples(text, "ray_quantray_env_steps_per_s")
    assert labels["algo"] == "ppo" and value == pytest.approx(777.0)
    exp1 = [
        (lab, v)
        for lab, v in samples(text, "ray_quantray_trials_finished_total")
        if lab["experiment"] == "exp1"
    ]
    [(labels, value)] = exp1
    assert labels["experiment"] == "exp1" and value == 4.0  # NaN trial counted
    [best] = [
        v
        for lab, v in samples(text, "ray_quantray_best_valid_sharpe")
        if lab["experiment"] == "exp1"
    ]
    assert best == pytest.approx(1.25)  # the max, not the last (-0.75); NaN ignored
    [count] = [
        v
        for lab, v in samples(text, "ray_quantray_trial_seconds_count")
        if lab["experiment"] == "exp1"
    ]
    assert count == 4.0
    buckets = {
        lab["le"]: v
        for lab, v in samples(text, "ray_quantray_trial_seconds_bucket")
        if lab["experiment"] == "exp1"
    }
    assert buckets["30.0"] == 2.0 and buckets["60.0"] == 3.0 and buckets["600.0"] == 4.0


def test_tune_callback_counts_finished_trials(local_ray, tmp_path):
    from ray import tune

    port, _ = local_ray

    def trainable(config: dict) -> None:
        tune.report({"best_valid_sharpe": config["s"]})

    tuner = tune.Tuner(
        trainable,
        param_space={"s": tune.grid_search([0.3, -0.2, 0.9])},
        tune_config=tune.TuneConfig(max_concurrent_trials=1),
        run_config=tune.RunConfig(
            name="cb",
            storage_path=str(tmp_path),
            callbacks=[monitoring.trial_metrics_callback("cb-test")],
            verbose=0,
        ),
    )
    assert not tuner.fit().errors

    def ours(text: str, name: str) -> list[float]:
        return [v for lab, v in samples(text, name) if lab.get("experiment") == "cb-test"]

    def ready(text: str) -> bool:
        return ours(text, "ray_quantray_trials_finished_total") == [3.0]

    text = poll(port, ready, timeout=30.0)
    assert ready(text), ours(text, "ray_quantray_trials_finished_total")
    assert ours(text, "ray_quantray_best_valid_sharpe") == [pytest.approx(0.9)]
