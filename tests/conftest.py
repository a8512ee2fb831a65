"""Shared by every test folder: running the repository's scripts the way a user does."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

RunScript = Callable[..., subprocess.CompletedProcess]


@pytest.fixture
def run_script() -> RunScript:
    """``run_script("experiments/compare.py", "--smoke-test", timeout=600)`` runs the script
    (a path relative to the repository root) in a fresh Python from the repository root and
    returns the finished process with its text output; a non-zero exit is returned, not
    raised, so the test can show the script's own message."""

    def run(script: str, *args: object, timeout: float = 600) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, str(ROOT / script), *map(str, args)],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=ROOT,
            check=False,
        )

    return run
