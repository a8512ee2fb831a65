"""Small synthetic Tasks shared by the env tests (built once per session, milliseconds)."""

from __future__ import annotations

import pytest

from quantray.data import Task, load_task
from quantray.data.synthetic import RegimeParams, generate


@pytest.fixture(scope="session")
def small_task() -> Task:
    """3 symbols x 900 days: 1,233 train / 345 valid / 183 test episodes (12 test at stride E)."""
    return load_task(bars=generate(n_symbols=3, n_days=900, seed=7))


@pytest.fixture(scope="session")
def limit_task() -> Task:
    """A violent market (5-7% daily vol): +-10% closes happen, so price limits bind."""
    params = RegimeParams(vol=(0.06, 0.07, 0.05))
    return load_task(bars=generate(n_symbols=2, n_days=700, seed=5, params=params))
