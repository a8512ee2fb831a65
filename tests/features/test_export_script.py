"""experiments/export_features.py: both export paths from the command line, bad flags exit 2."""

from __future__ import annotations

import pytest

from quantray.data.synthetic import generate, write_bars


@pytest.fixture
def checkpoint_and_data(tmp_path, micro_model, stage1_checkpoint):
    bars = {s: f.drop(columns="regime") for s, f in generate(2, 300, seed=1).items()}
    data = write_bars(bars, tmp_path / "bars.parquet")
    return stage1_checkpoint(tmp_path / "model.pt", data, micro_model), data


def test_export_script_in_process_and_bad_flag(run_script, checkpoint_and_data, tmp_path):
    ckpt, data = checkpoint_and_data
    args = ("experiments/export_features.py", "--checkpoint", ckpt, "--data", data)
    done = run_script(*args, "--out", tmp_path / "out", "--export-backend", "local")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "(in_process)" in done.stdout and "rows with features" in done.stdout
    bad = run_script(*args, "--out", tmp_path / "bad", "--export-actors", "0")
    assert bad.returncode == 2
    assert "actors must be >= 1" in bad.stderr and "--export-actors" in bad.stderr
    assert "Traceback" not in bad.stderr


@pytest.mark.slow
def test_export_script_on_ray_data(run_script, checkpoint_and_data, tmp_path):
    ckpt, data = checkpoint_and_data
    done = run_script(
        "experiments/export_features.py", "--checkpoint", ckpt, "--data", data,
        "--out", tmp_path / "out", "--export-backend", "ray", "--export-actors", "1",
        timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert "(ray_data)" in done.stdout
