"""The Ray Data export gives the in-process export's features, on a real local Ray."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from quantray.config import (
    ConfigError,
    RayExportSettings,
)
from quantray.data import Panel, load_bars
from quantray.data.synthetic import generate, write_bars
from quantray.features.export import export_features
from quantray.features.ray_export import use_ray_export

ray = pytest.importorskip("ray")

TOLERANCE = dict(rtol=1e-5, atol=1e-6)
"""The Ray path cuts its batches differently from the in-process loop (blocks of
rows_per_block, batches of batch_size): float32 matmuls over different batch shapes may round
differently in the last bits, so equality is allclose at float32 precision."""


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def test_ray_export_equals_in_process(local_ray, micro_model, stage1_checkpoint, tmp_path) -> None:
    bars = {s: f.drop(columns="regime") for s, f in generate(3, 400, seed=4).items()}
    data = write_bars(bars, tmp_path / "bars")
    panel = Panel.from_bars(load_bars(data))
    ckpt = stage1_checkpoint(tmp_path / "model.pt", data, micro_model)
    local = export_features(
        ckpt, tmp_path / "local", data, progress=False, settings=RayExportSettings(backend="local")
    )
    settings = RayExportSettings(backend="ray", actors=2, batch_size=50, rows_per_block=97)
    remote = export_features(ckpt, tmp_path / "ray", data, progress=False, settings=settings)
    assert local.name == remote.name  # same cache key: the path is a launch option
    expected, got = np.load(local / "features.npy"), np.load(remote / "features.npy")
    meta = json.loads((remote / "meta.json").read_text())
    assert meta["export"] == "ray_data" and meta["duplicate_rows"] == 0
    assert meta["actors_used"] == 2  # the pool started both actors before dispatching
    assert json.loads((local / "meta.json").read_text())["export"] == "in_process"
    assert got.shape == expected.shape == (panel.n_rows, micro_model.d_model)
    # Rows without a full window stay NaN in both; every other row is filled.
    valid = panel.first_window_row(60)
    assert np.isfinite(got[valid]).all() and np.isnan(got[~valid]).all()
    np.testing.assert_allclose(got, expected, **TOLERANCE)
    # The same key again: the existing cache is kept, nothing recomputed.
    mtime = (remote / "features.npy").stat().st_mtime_ns
    assert export_features(ckpt, tmp_path / "ray", data, settings=settings) == remote
    assert (remote / "features.npy").stat().st_mtime_ns == mtime


def test_backend_choice(local_ray) -> None:
    auto = RayExportSettings(min_rows=1000, num_cpus=1)
    assert not use_ray_export(10**6, auto.replace(backend="local"))
    assert use_ray_export(10, auto.replace(backend="ray"))
    assert not use_ray_export(999, auto)  # small data stays in-process
    deadline = time.monotonic() + 30  # actors of an earlier export may still be releasing CPUs
    while ray.available_resources().get("CPU", 0) < 1 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert use_ray_export(1000, auto)
    # An actor that cannot be placed now (more CPUs than the cluster has): in-process.
    assert not use_ray_export(10**6, auto.replace(min_rows=0, num_cpus=64))
    with pytest.raises(ConfigError, match="backend must be one of auto, local, ray"):
        RayExportSettings(backend="spark")
    with pytest.raises(ConfigError, match="actors must be >= 1"):
        RayExportSettings(actors=0)
