"""The Ray Data export gives the in-process export's features, on a real local Ray."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from quantray.config import ConfigError, DataConfig, PriceModelConfig
from quantray.data import Panel
from quantray.data.features import FeatureNormalizer
from quantray.data.synthetic import generate
from quantray.features.ray_export import (
    RayExportSettings,
    ray_feature_cache,
    use_ray_export,
)
from quantray.models import PriceTransformer
from quantray.train.features import feature_table

ray = pytest.importorskip("ray")

TOLERANCE = dict(rtol=1e-5, atol=1e-6)
"""Ray batches are cut differently from the in-process loop (blocks of rows_per_block,
batches of batch_size): float32 matmuls over different batch shapes may round differently in
the last bits, so equality is allclose at float32 precision, not bit-identity."""


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def _export_inputs(micro_model: PriceModelConfig, symbols: int = 3, days: int = 400):
    panel = Panel.from_bars(
        {s: f.drop(columns="regime") for s, f in generate(symbols, days, seed=4).items()}
    )
    normalizer = FeatureNormalizer.fit(panel.features, np.arange(panel.n_rows // 2))
    torch.manual_seed(0)
    model = PriceTransformer(micro_model).eval()
    spec = {"model": micro_model.to_dict()}
    return panel, normalizer, model, spec


def test_ray_export_equals_in_process(local_ray, micro_model, tmp_path) -> None:
    from quantray.train.price import PriceRunSpec

    panel, normalizer, model, _ = _export_inputs(micro_model)
    window = micro_model.window
    expected = feature_table(model, panel, normalizer, window, batch_size=64)
    spec = PriceRunSpec(
        micro_model,
        __import__("quantray.config", fromlist=["PriceTrainConfig"]).PriceTrainConfig(),
        "unused",
        DataConfig(window=window),
        __import__("quantray.config", fromlist=["SplitConfig"]).SplitConfig(),
    )
    state = {"spec": spec.to_dict(), "model": model.state_dict()}
    rows = np.flatnonzero(panel.first_window_row(window))
    settings = RayExportSettings(actors=2, batch_size=50, rows_per_block=97)
    normalized = normalizer.transform(panel.features)
    path, stats = ray_feature_cache(
        tmp_path / "cache", state, normalized, rows, window, micro_model.d_model, {}, settings
    )
    got = np.load(path / "features.npy")
    assert got.shape == expected.shape
    # Rows without a full window stay NaN in both; every other row is filled.
    np.testing.assert_array_equal(np.isnan(got), np.isnan(expected))
    assert np.isfinite(got[rows]).all()
    np.testing.assert_allclose(got, expected, **TOLERANCE)
    assert stats.rows == len(rows)  # every row exactly once: none lost, none duplicated
    assert sum(stats.rows_by_actor.values()) == len(rows)
    # The same key again: the existing cache is kept, nothing recomputed.
    again, stats2 = ray_feature_cache(
        path, state, normalized, rows, window, micro_model.d_model, {}, settings
    )
    assert again == path and stats2.rows == 0


def test_backend_choice(local_ray) -> None:
    settings = RayExportSettings(min_rows=1000, num_cpus=1)
    assert not use_ray_export(10**6, "local", settings)
    assert use_ray_export(10, "ray", settings)
    assert not use_ray_export(999, "auto", settings)  # small data stays in-process
    deadline = time.monotonic() + 30  # actors of an earlier export may still be releasing CPUs
    while ray.available_resources().get("CPU", 0) < 1 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert use_ray_export(1000, "auto", settings)
    # An actor that cannot be placed now (more CPUs than the cluster has free): in-process.
    assert not use_ray_export(10**6, "auto", RayExportSettings(min_rows=0, num_cpus=64))
    with pytest.raises(ConfigError, match="auto | local | ray"):
        use_ray_export(10, "spark", settings)
    with pytest.raises(ConfigError, match="actors must be >= 1"):
        RayExportSettings(actors=0)
