"""experiments/train_rl.py end to end: smoke runs for PPO and SAC, and clear user errors."""

from __future__ import annotations

import functools
import re

import pandas as pd
import pytest


@pytest.fixture
def train_rl(run_script):
    """experiments/train_rl.py with the given arguments (2-minute limit by default)."""
    return functools.partial(run_script, "experiments/train_rl.py", timeout=120)


@pytest.mark.parametrize(("algo", "iterations", "steps"), [("ppo", 2, 800), ("sac", 5, 400)])
def test_train_rl_smoke(tmp_path, algo, iterations, steps, train_rl):
    out = tmp_path / algo
    proc = train_rl("--algo", algo, "--smoke-test", "--out", str(out))
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


def test_train_rl_user_errors_exit_2_without_traceback(tmp_path, train_rl):
    proc = train_rl("--algo", "sac", "--module", "gru", "--out", str(tmp_path), timeout=60)
    assert proc.returncode == 2
    assert "--module gru is a PPO option" in proc.stderr and "Traceback" not in proc.stderr
    missing = tmp_path / "nope.csv"
    proc = train_rl("--algo", "ppo", "--data", str(missing), "--out", str(tmp_path), timeout=60)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert str(missing) in proc.stderr
