"""The env tests' own small Task (limit_task and regime_task live in tests/conftest.py)."""

from __future__ import annotations

import pytest

from quantray.data import Task, load_task
from quantray.data.synthetic import generate


@pytest.fixture(scope="session")
def small_task() -> Task:
    """3 symbols x 900 days: 1,233 train / 345 valid / 183 test episodes (12 test at stride E)."""
    return load_task(bars=generate(n_symbols=3, n_days=900, seed=7))
