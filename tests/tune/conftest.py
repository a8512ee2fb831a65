"""Shared fixtures for the search tests: a 2-CPU local Ray that is always shut down."""

from __future__ import annotations

import pytest


@pytest.fixture
def ray_2cpu_1gpu():
    """Local Ray with 2 CPUs and ONE LOGICAL GPU (no device needed: scheduling only)."""
    import ray

    ray.shutdown()
    ray.init(num_cpus=2, num_gpus=1, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()
