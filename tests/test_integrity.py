"""Issue 15: files the platform wrote are checked against the size + SHA-256 recorded at write
time; damage names the file; the shared stage-1 store and feature caches move a damaged
entry aside and rebuild it instead of failing every later run."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from quantray.config import CostConfig, StrategyConfig
from quantray.data.synthetic import generate, write_bars
from quantray.features.cache import FEATURES_FILE, META_FILE, FeatureCache, reusable, write_cache
from quantray.features.store import ensure_stage1_features, small_stage1_spec
from quantray.integrity import DamagedFile, record, replace_atomically, sidecar, verify
from quantray.models.strategy_gru import StrategyGRU
from quantray.train.price import CHECKPOINT_FILE
from quantray.train.strategy import load_strategy, save_strategy


def truncate(path: Path, keep: float = 0.5) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


def flip_byte(path: Path, at: int = -10) -> None:
    data = bytearray(path.read_bytes())
    data[at] ^= 0xFF
    path.write_bytes(bytes(data))


def test_record_and_verify(tmp_path):
    path = tmp_path / "blob.bin"
    path.write_bytes(b"x" * 5000)
    assert verify(path) is False  # no record yet: an older file, loaded unverified
    record(path)
    assert sidecar(path).read_text().split()[1] == "5000"
    assert verify(path) is True
    flip_byte(path)
    time.sleep(0.01)
    with pytest.raises(DamagedFile, match="SHA-256 differs") as info:
        verify(path)
    assert str(path) in str(info.value)
    truncate(path)
    with pytest.raises(DamagedFile, match="size differs") as info:
        verify(path)
    assert "2500 bytes" in str(info.value) and "5000 bytes" in str(info.value)
    path.unlink()
    with pytest.raises(DamagedFile, match="missing"):
        verify(path)


def _cache(tmp_path: Path) -> Path:
    table = np.arange(12, dtype=np.float32).reshape(4, 3)  # [N=4, D=3]
    return write_cache(tmp_path / "features-x", table, {"rows": 4, "data_hash": "h"})


@pytest.mark.parametrize("name", [FEATURES_FILE, META_FILE])
@pytest.mark.parametrize("damage", [truncate, "alter"])
def test_damaged_feature_cache_is_named_then_quarantined(tmp_path, name, damage, caplog):
    path = _cache(tmp_path)
    assert FeatureCache.load(path).dim == 3 and reusable(path)
    if damage == "alter":  # same size, still a valid file: only the sha256 can tell
        if name == META_FILE:
            (path / name).write_text((path / name).read_text().replace('"h"', '"g"'))
        else:
            flip_byte(path / name)
    else:
        damage(path / name)
    with pytest.raises(DamagedFile) as info:
        FeatureCache.load(path)
    assert str(path / name) in str(info.value)
    with caplog.at_level(logging.WARNING, logger="quantray.features"):
        assert reusable(path) is False
    assert not path.exists() and len(list(tmp_path.glob("features-x.damaged-*"))) == 1
    assert "rebuilding" in caplog.text
    assert FeatureCache.load(_cache(tmp_path)).dim == 3  # rebuilt in place


def test_strategy_checkpoint_damage_names_the_file(tmp_path):
    config = StrategyConfig(feature_dim=4, hidden_size=8)
    model = StrategyGRU(config, feature_dim=4)
    path = save_strategy(tmp_path / "strategy.pt", model, config, CostConfig(), {"a": 1})
    loaded, *_ = load_strategy(path)
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value)
    truncate(path, 0.9)
    with pytest.raises(DamagedFile, match="size differs") as info:
        load_strategy(path)
    assert str(path) in str(info.value)
    sidecar(path).unlink()  # an older file without a record: the loader's error is wrapped
    with pytest.raises(DamagedFile, match="cannot be read as a strategy checkpoint"):
        load_strategy(path)


@pytest.mark.slow
def test_stage1_store_quarantines_and_rebuilds_damaged_entries(tmp_path):
    bars = {k: f.drop(columns="regime") for k, f in generate(1, 900, seed=4).items()}
    data = write_bars(bars, tmp_path / "bars.parquet")
    spec = small_stage1_spec(data, smoke=True)
    root = tmp_path / "store"
    cache, trained = ensure_stage1_features(spec, root)
    assert trained and FeatureCache.load(cache).dim > 0
    (model_dir,) = root.glob("stage1-*")

    flip_byte(cache / FEATURES_FILE)  # a damaged shared feature cache: rebuilt, model reused
    again, trained = ensure_stage1_features(spec, root)
    assert again == cache and not trained
    assert FeatureCache.load(again).dim > 0
    assert len(list(root.glob(f"{cache.name}.damaged-*"))) == 1

    truncate(model_dir / CHECKPOINT_FILE)  # a damaged stage-1 model: retrained
    _, trained = ensure_stage1_features(spec, root)
    assert trained and len(list(root.glob(f"{model_dir.name}.damaged-*"))) == 1


def test_atomic_replace_leaves_the_old_file_when_the_write_fails(tmp_path: Path) -> None:
    target = tmp_path / "trial.npz"
    replace_atomically(target, lambda tmp: np.savez(tmp, values=np.arange(3)))
    assert np.load(target)["values"].tolist() == [0, 1, 2]  # savez added no second suffix

    def half_written(tmp: Path) -> None:
        tmp.write_bytes(b"half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        replace_atomically(target, half_written)
    assert np.load(target)["values"].tolist() == [0, 1, 2]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["trial.npz"]  # no temporary left
