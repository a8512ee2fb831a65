"""tune_price.py: each Tune trial drives a real Ray Train TorchTrainer run."""

from __future__ import annotations

import pandas as pd
import pytest


@pytest.mark.slow
def test_tune_price_smoke_runs_train_inside_tune(tmp_path, run_script):
    out = tmp_path / "tp"
    proc = run_script(
        "experiments/tune_price.py", "--smoke-test", "--num-workers", "1", "--out", out, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    trials = pd.read_csv(out / "price_trials.csv")
    assert len(trials) == 2
    assert trials["loss_ratio"].notna().all() and (trials["loss_ratio"] > 0).all()
    assert "[tune_price] best architecture" in proc.stdout
