"""experiments/train_rl.py end to end: smoke runs for PPO and SAC, and clear user errors."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "experiments" / "train_rl.py"


def _run(*args: str, timeout: int = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
    )


@pytest.mark.parametrize(("algo", "iterations", "steps"), [("ppo", 2, 800), ("sac", 5, 400)])
def test_train_rl_smoke(tmp_path, algo, iterations, steps):
    out = tmp_path / algo
    proc = _run("--algo", algo, "--smoke-test", "--out", str(out))
    assert proc.returncode == 0, proc.stderr[-3000:]
    # progress lines, one per iteration, then the closing summary
    assert len(re.findall(r"^\[\s*\d+\] env steps", proc.stdout, re.M)) == iterations
    history = pd.read_csv(out / "metrics.csv")
    assert list(history.iteration) == list(range(1, iterations + 1))
    assert history.env_steps.iloc[-1] == steps
    assert history.env_steps.is_monotonic_increasing
    assert history[["net_return", "excess_return", "mean_position"]].notna().all().all()
    summary = (out / "summary.md").read_text()
    assert "restored: same validation positions" in summary
    assert f"| {algo} |" in summary and "| buy_and_hold |" in summary
    assert (out / "ray" / f"checkpoint-{algo}").is_dir()


def test_train_rl_user_errors_exit_2_without_traceback(tmp_path):
    proc = _run("--algo", "sac", "--module", "gru", "--out", str(tmp_path), timeout=60)
    assert proc.returncode == 2
    assert "--module gru is a PPO option" in proc.stderr and "Traceback" not in proc.stderr
    missing = tmp_path / "nope.csv"
    proc = _run("--algo", "ppo", "--data", str(missing), "--out", str(tmp_path), timeout=60)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert str(missing) in proc.stderr
