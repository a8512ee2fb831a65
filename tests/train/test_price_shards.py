"""Stage-1 data sharding: every window in exactly one worker's shard, each shard holding
only about 1/world of the panel, and the shards' validation sums equal the whole's."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from quantray.config import DataConfig, PriceTrainConfig, SplitConfig
from quantray.data.synthetic import generate, write_bars
from quantray.train.price import PriceRunSpec, build_price_data, evaluate
from quantray.train.price_data import PriceData


@pytest.fixture(scope="module")
def data(tmp_path_factory, micro_model) -> tuple[PriceRunSpec, PriceData]:
    tmp = tmp_path_factory.mktemp("shards")
    bars = {s: f.drop(columns="regime") for s, f in generate(7, 700, seed=11).items()}
    spec = PriceRunSpec(
        micro_model,
        PriceTrainConfig(),
        str(write_bars(bars, tmp / "bars.parquet")),
        DataConfig(window=60),
        SplitConfig(),
    )
    return spec, build_price_data(spec)


def _gathered(datasets: list) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) of every window of ``datasets``, each in row order, concatenated."""
    xs, ys = zip(*(d.batch(np.argsort(d.ends)) for d in datasets), strict=True)
    return np.concatenate(xs), np.concatenate(ys)


@pytest.mark.parametrize("world", [2, 3])
def test_each_window_lands_in_one_shard_with_the_same_values(data, world):
    _, whole = data
    shards = whole.shard(world)
    counts = [len(s.train) for s in shards]
    assert sum(counts) == len(whole.train) and max(counts) - min(counts) <= 1
    assert sum(len(s.valid) for s in shards) == len(whole.valid)
    for split in ("train", "valid"):
        x, y = _gathered([getattr(s, split) for s in shards])
        x_all, y_all = _gathered([getattr(whole, split)])
        np.testing.assert_array_equal(x, x_all)
        np.testing.assert_array_equal(y, y_all)
    # What a checkpoint records about the data is the whole's, on every shard.
    assert {(s.data_hash, s.train_period) for s in shards} == {
        (whole.data_hash, whole.train_period)
    }


@pytest.mark.parametrize("world", [2, 4])
def test_a_shard_holds_about_one_world_th_of_the_panel(data, world):
    spec, whole = data
    shards = whole.shard(world)
    row_bytes = whole.train.features[0].nbytes + whole.train.close[0].nbytes
    halo = (spec.data.window + spec.data.horizon) * row_bytes  # rows two neighbours share
    # Cuts balance training windows, not rows: a shard may also hold up to one symbol's
    # untrained rows (its validation and test days) beyond its 1/world.
    symbol_bytes = whole.nbytes / 7
    assert max(s.nbytes for s in shards) <= whole.nbytes / world + symbol_bytes
    assert sum(s.nbytes for s in shards) <= whole.nbytes + (world - 1) * halo
    # Owned copies, not views of the whole panel (a view would keep all of it alive).
    assert all(s.train.features.base is None and s.valid.features is s.train.features
               for s in shards)  # fmt: skip
    assert whole.shard(1) == [whole]


def test_shard_validation_sums_equal_the_whole(data):
    spec, whole = data
    torch.manual_seed(0)
    model = spec.new_model()
    cpu = torch.device("cpu")

    def sums(d) -> np.ndarray:
        m = evaluate(model, d, spec.model, 64, cpu)
        n = len(d) * spec.data.horizon
        return np.array([m["val_loss"] * n, m["zero_loss"] * n, m["dir_acc"] * n, n])

    total = sum(sums(s.valid) for s in whole.shard(3))
    np.testing.assert_allclose(total, sums(whole.valid), rtol=1e-5)


def test_more_workers_than_windows_is_refused(data):
    _, whole = data
    with pytest.raises(ValueError, match="use fewer workers"):
        whole.shard(len(whole.train) + 1)
