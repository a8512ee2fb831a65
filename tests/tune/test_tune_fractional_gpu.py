"""Fractional GPUs on a CPU box: one LOGICAL GPU, four 0.25-GPU trials run at once, each
told its share. Uses the real Tuner construction (OptunaSearch, limiter, ASHA, resources)."""

from __future__ import annotations

import time
from pathlib import Path

from quantray.config import TuneSettings, get_budget
from quantray.train.price import default_data_path
from quantray.tune.tuner import OBJECTIVE, make_tuner


def sleepy_trial(config: dict) -> None:
    import ray
    from ray import tune

    start = time.time()
    assigned = ray.get_runtime_context().get_assigned_resources()
    time.sleep(3.0)
    tune.report(
        {
            OBJECTIVE: config["lr"],
            "start": start,
            "end": time.time(),
            "gpu": assigned.get("GPU", 0.0),
        }
    )


def test_four_quarter_gpu_trials_run_together(ray_2cpu_1gpu, tmp_path: Path):
    settings = TuneSettings(
        get_budget("smoke"),
        default_data_path(None),
        str(tmp_path),
        "gpu_share",
        cpus_per_trial=0.5,
        gpus_per_trial=0.25,
        num_samples=4,
        max_concurrent=4,
        events=False,
    )
    results = make_tuner(settings, trainable=sleepy_trial).fit()
    metrics = [r.metrics for r in results]
    assert len(metrics) == 4 and all(r.error is None for r in results)
    assert [m["gpu"] for m in metrics] == [0.25] * 4
    # All four overlap: the latest start is before the earliest end.
    assert max(m["start"] for m in metrics) < min(m["end"] for m in metrics)
