"""Fixtures for the RLlib tests: a local 2-CPU Ray per test module and small synthetic Tasks."""

from __future__ import annotations

import pytest

from quantray.config import DataConfig, SplitConfig
from quantray.data import Task, load_task
from quantray.data.synthetic import RegimeParams, generate


@pytest.fixture(scope="module")
def ray_local():
    """A local Ray with 2 CPUs for the module's tests, shut down afterwards (so the script
    tests' subprocesses start their own clusters)."""
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="session")
def limit_task() -> Task:
    """A violent market (5-7% daily vol): +-10% closes happen, so cn_a_share's limits bind."""
    params = RegimeParams(vol=(0.06, 0.07, 0.05))
    return load_task(bars=generate(n_symbols=2, n_days=700, seed=5, params=params))


@pytest.fixture(scope="session")
def regime_task() -> Task:
    """Raw features + a known regime: strong bull/bear drifts the recent returns reveal
    (the task on which the stage-2 GRU beats buy-and-hold, tests/train)."""
    params = RegimeParams(drift=(0.004, -0.004, 0.0), vol=(0.008, 0.008, 0.004), persistence=0.99)
    bars = {
        s: f.drop(columns="regime") for s, f in generate(6, 1500, seed=3, params=params).items()
    }
    return load_task(
        bars=bars, data_config=DataConfig(window=30), split_config=SplitConfig(embargo=27)
    )
