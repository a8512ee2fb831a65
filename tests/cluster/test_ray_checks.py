"""Issue 15, "waiting forever": a request the cluster cannot meet and an address with no
cluster behind it stop at once with exit 2 and what was asked vs what is there."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time

import pytest

from quantray.config import ConfigError
from quantray.train.ray_runtime import (
    check_reachable,
    init_ray,
    require_resources,
    unmet_resources,
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _isolated() -> list[str]:
    """A command prefix that hides this machine's other processes (other Ray instances)."""
    probe = ["unshare", "--pid", "--fork", "--mount-proc", "true"]
    if shutil.which("unshare") and subprocess.run(probe, capture_output=True).returncode == 0:
        return probe[:-1]
    return []


def test_address_auto_without_a_cluster_is_a_clear_error():
    from ray._private.services import find_gcs_addresses

    prefix = _isolated()
    # "auto" joins ANY raylet it can see on the machine (Ray's legacy rule): hide them.
    if not prefix and find_gcs_addresses():
        pytest.skip("a Ray instance runs on this machine and no PID namespace is available")
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    code = (
        "from quantray.train.ray_runtime import init_ray\n"
        "try:\n    init_ray('auto', 'x.py')\n"
        "except Exception as e:\n    print(type(e).__name__, e)\n"
    )
    proc = subprocess.run(
        [*prefix, sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.stdout.startswith("ConfigError --address auto: no Ray cluster"), proc.stdout
    assert "ray start --head" in proc.stdout


def test_unreachable_address_fails_fast():
    port = free_port()
    started = time.monotonic()
    with pytest.raises(ConfigError, match=f"127.0.0.1:{port}.*no Ray cluster"):
        check_reachable(f"127.0.0.1:{port}")
    with pytest.raises(ConfigError, match="no Ray cluster"):
        check_reachable(f"ray://127.0.0.1:{port}")
    # (Runs before the module's Ray is started: init_ray leaves a connected process alone.)
    with pytest.raises(ConfigError, match="drop --address"):  # before ray.init tries it
        init_ray(f"127.0.0.1:{port}", "experiments/tune_strategy.py")
    assert time.monotonic() - started < 5


@pytest.fixture(scope="module")
def ray_2cpu():
    import ray

    ray.shutdown()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def test_unmet_resources_compares_the_request_with_the_cluster(ray_2cpu):
    assert unmet_resources({"CPU": 1, "GPU": 0}) is None
    assert unmet_resources({"CPU": 1}, units=2) is None
    per_node = unmet_resources({"CPU": 64})
    assert "asked for CPU 64 but no node has CPU 64" in per_node
    assert "cluster has CPU 2" in per_node
    assert "GPU 1" in unmet_resources({"CPU": 1, "GPU": 1})
    total = unmet_resources({"CPU": 1}, units=3)
    assert "3 x (CPU 1) = CPU 3 in all" in total


def test_require_resources_is_a_user_error_and_can_wait_with_a_timeout(ray_2cpu):
    with pytest.raises(ConfigError, match="--gpus-per-trial") as info:
        require_resources({"GPU": 0.25}, flags="--gpus-per-trial")
    assert "--timeout" in str(info.value)  # says how to wait for an autoscaling cluster
    started = time.monotonic()
    with pytest.raises(ConfigError, match="waited 1s"):
        require_resources({"CPU": 3}, flags="--cpus-per-trial", timeout=1.0, poll_s=0.2)
    assert 0.9 < time.monotonic() - started < 10


@pytest.mark.slow
def test_tune_strategy_refuses_a_trial_bigger_than_the_cluster(tmp_path, run_script):
    out = tmp_path / "out"
    proc = run_script(
        "experiments/tune_strategy.py", "--smoke-test", "--num-cpus", "2",
        "--cpus-per-trial", "64", "--out", out, timeout=180,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "not enough resources: asked for CPU 64" in proc.stderr
    assert "Traceback" not in proc.stderr and not (out / "ray").exists()
