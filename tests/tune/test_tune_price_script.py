"""tune_price.py: each Tune trial drives a real Ray Train TorchTrainer run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_tune_price_smoke_runs_train_inside_tune(tmp_path):
    out = tmp_path / "tp"
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "experiments" / "tune_price.py"),
            "--smoke-test",
            "--num-workers",
            "1",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    trials = pd.read_csv(out / "price_trials.csv")
    assert len(trials) == 2
    assert trials["loss_ratio"].notna().all() and (trials["loss_ratio"] > 0).all()
    assert "[tune_price] best architecture" in proc.stdout
