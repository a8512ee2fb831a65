"""Fixtures for the RLlib tests: a local 2-CPU Ray per test module (Tasks: tests/conftest.py)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def ray_local():
    """A local Ray with 2 CPUs for the module's tests, shut down afterwards (so the script
    tests' subprocesses start their own clusters)."""
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()
