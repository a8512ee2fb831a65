"""tune_price.py: each Tune trial drives a real Ray Train TorchTrainer run."""

from __future__ import annotations

import pandas as pd
import pytest

from quantray.config import BUDGETS, TunePriceSettings


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


def test_flags_come_from_the_settings_and_unset_ones_keep_the_defaults(load_script):
    parse_args = load_script("tune_price").parse_args
    _, settings = parse_args([])
    assert settings == TunePriceSettings()
    assert (settings.budget, settings.num_samples, settings.num_workers) == ("small", None, 1)
    assert settings.trials == BUDGETS["small"].num_samples
    _, settings = parse_args(["--num-workers", "3", "--budget", "full"])
    assert settings == TunePriceSettings(budget="full", num_workers=3)
    # --smoke-test: the smoke budget and 2 trials, unless a trial count is given.
    _, settings = parse_args(["--smoke-test", "--seed", "7"])
    assert (settings.budget, settings.trials, settings.seed) == ("smoke", 2, 7)
    _, settings = parse_args(["--smoke-test", "--num-samples", "5"])
    assert settings.trials == 5


@pytest.mark.parametrize(
    ("argv", "flag"),
    [
        (["--num-workers", "0"], "--num-workers"),
        (["--num-samples", "0"], "--num-samples"),
        (["--budget", "huge"], "--budget"),
    ],
)
def test_a_refused_value_exits_2_naming_the_flag(argv, flag, tmp_path, run_script):
    proc = run_script("experiments/tune_price.py", *argv, "--out", tmp_path / "out", timeout=120)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert f"(from {flag})" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "out").exists()  # stopped before any work
