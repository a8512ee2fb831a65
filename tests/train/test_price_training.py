"""Stage-1 training: real 2-worker DDP through Ray Train, resume, checkpoint, frozen features."""

from __future__ import annotations

import itertools
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from quantray.config import ConfigError, DataConfig, PriceTrainConfig, SplitConfig
from quantray.data import Panel, load_bars
from quantray.data.synthetic import generate, write_bars
from quantray.features.cache import FeatureCache
from quantray.features.export import export_features, feature_table
from quantray.train.price import (
    PriceRun,
    PriceRunSpec,
    fit_in_process,
    load_checkpoint,
    lr_lambda,
    train_epoch,
)


def test_lr_schedule_warmup_then_cosine():
    assert lr_lambda(0, 10, 100) == pytest.approx(0.1)
    assert lr_lambda(9, 10, 100) == pytest.approx(1.0)
    assert lr_lambda(100, 10, 100) == pytest.approx(0.1)
    mids = [lr_lambda(s, 10, 100) for s in range(10, 101)]
    assert all(a >= b for a, b in itertools.pairwise(mids))


def test_train_price_smoke_two_workers_then_resume(tmp_path, run_script):
    """Real 2-worker DDP (gloo) in Ray Train V2; a second run with --resume continues."""
    out = tmp_path / "price"
    args = ("experiments/train_price.py", "--smoke-test", "--num-workers", "2", "--out", out)
    first = run_script(*args, timeout=400)
    assert first.returncode == 0, first.stderr[-3000:]
    assert "Wrapping provided model in DistributedDataParallel" in first.stdout + first.stderr
    state = torch.load(out / "model.pt", map_location="cpu", weights_only=True)
    assert state["epoch"] == 1
    for key in ("model", "optimizer", "scheduler", "spec", "normalizer", "data_hash", "metrics"):
        assert key in state
    assert (out / "price_summary.md").exists()

    second = run_script(*args, "--resume", "--epochs", "3", timeout=400)
    assert second.returncode == 0, second.stderr[-3000:]
    assert "resumed from checkpoint at epoch 1" in second.stdout + second.stderr
    assert load_checkpoint(out / "model.pt")["epoch"] == 2


def test_bad_data_stops_before_ray(tmp_path, run_script):
    bad = tmp_path / "bad.csv"
    bad.write_text("Date,Open,High,Low,Closee,Volume\n2020-01-01,1,2,1,1,5\n")
    proc = run_script(
        "experiments/train_price.py",
        "--smoke-test",
        "--data",
        bad,
        "--out",
        tmp_path / "o",
        timeout=120,
    )
    assert proc.returncode == 2
    assert "Closee" in proc.stderr and "Traceback" not in proc.stderr
    assert "Ray" not in proc.stdout  # stopped before ray.init


@pytest.fixture(scope="module")
def trained(tmp_path_factory, micro_model):
    tmp = tmp_path_factory.mktemp("stage1")
    bars = {s: f.drop(columns="regime") for s, f in generate(2, 700, seed=5).items()}
    path = write_bars(bars, tmp / "bars.parquet")
    spec = PriceRunSpec(
        micro_model,
        PriceTrainConfig(epochs=1, batch_size=16, max_steps_per_epoch=3, warmup_steps=1),
        str(path),
        DataConfig(window=60),
        SplitConfig(),
    )
    model, _, data = fit_in_process(spec)
    ckpt = tmp / "model.pt"
    torch.save(
        {
            "model": model.state_dict(),
            "spec": spec.to_dict(),
            "normalizer": data.normalizer.to_dict(),
            "data_hash": data.data_hash,
            "epoch": 0,
        },
        ckpt,
    )
    return SimpleNamespace(tmp=tmp, bars=bars, path=path, ckpt=ckpt, model=model, data=data)


def test_export_writes_keyed_cache_and_reuses_it(trained):
    tmp, path, ckpt = trained.tmp, trained.path, trained.ckpt
    cache_dir = export_features(ckpt, tmp / "cache", path, batch_size=64, progress=False)
    cache = FeatureCache.load(cache_dir)
    panel = Panel.from_bars(load_bars(path))
    cache.check_matches(panel)
    assert cache.table.shape == (panel.n_rows, 32)
    valid = panel.first_window_row(60)
    assert np.isfinite(cache.table[valid]).all() and np.isnan(cache.table[~valid]).all()
    mtime = (cache_dir / "features.npy").stat().st_mtime
    assert export_features(ckpt, tmp / "cache", path, progress=False) == cache_dir
    assert (cache_dir / "features.npy").stat().st_mtime == mtime  # reused, not recomputed


def test_frozen_feature_causality(trained):
    """The frozen feature of day t is unchanged when bars after t change."""
    bars, model, data = trained.bars, trained.model, trained.data
    changed = {s: f.copy() for s, f in bars.items()}
    t = 400
    cols = ["open", "high", "low", "close"]
    changed["SYN000"].iloc[t + 1 :, [changed["SYN000"].columns.get_loc(c) for c in cols]] *= 1.7
    a = feature_table(model, Panel.from_bars(bars), data.normalizer, 60, batch_size=64)
    b = feature_table(model, Panel.from_bars(changed), data.normalizer, 60, batch_size=64)
    np.testing.assert_allclose(a[: t + 1], b[: t + 1], rtol=0, atol=1e-6)
    assert not np.allclose(a[t + 1 : 700], b[t + 1 : 700])
    np.testing.assert_array_equal(a[700:], b[700:])  # the other symbol is untouched


def test_the_model_reads_the_data_window_and_older_specs_still_load(micro_model):
    """Windows are cut with the data's length and read by a model built for the same one:
    the run's model is built from its DataConfig. A spec saved when the model config also
    held the window and horizon loads when they agree with its data and is refused if not."""
    spec = PriceRunSpec(
        micro_model, PriceTrainConfig(), "x", DataConfig(window=60, horizon=5), SplitConfig()
    )
    model = spec.new_model()
    assert (model.window, model.horizon) == (60, 5)
    assert model(torch.zeros(2, 60, 11)).returns.shape == (2, 5)
    with pytest.raises(ValueError, match=r"window length 61 is outside \[1, 60\]"):
        model(torch.zeros(2, 61, 11))

    old = spec.to_dict()
    old["model"] = {**old["model"], "window": 60, "horizon": 5}
    assert PriceRunSpec.from_dict(old) == spec
    old["model"]["window"] = 180
    with pytest.raises(
        ConfigError, match=r"model window \(180\) differs from its data window \(60\)"
    ):
        PriceRunSpec.from_dict(old)


def test_a_run_saved_and_restored_goes_on_where_it_stopped(trained, tmp_path):
    """What a resumed Ray Train worker does: a fresh ``PriceRun`` restored from the checkpoint
    of one trained epoch holds that epoch's weights, AdamW moments and schedule step."""
    spec = PriceRunSpec.from_dict(load_checkpoint(trained.ckpt)["spec"])
    run = PriceRun.start(spec, data=trained.data)
    train_epoch(
        run.model, run.optimizer, run.scheduler, run.data.train, spec, 0, run.steps,
        run.device, run.autocast,
    )  # fmt: skip
    path = run.save(tmp_path, epoch=0, metrics={"val_loss": 1.0})

    fresh = PriceRun.start(spec, data=trained.data)
    weights = run.model.state_dict()
    assert not all(torch.equal(v, fresh.model.state_dict()[k]) for k, v in weights.items())
    assert fresh.restore(load_checkpoint(path)) == 1  # the next epoch to train
    assert all(torch.equal(v, fresh.model.state_dict()[k]) for k, v in weights.items())
    moments, restored = run.optimizer.state_dict()["state"], fresh.optimizer.state_dict()["state"]
    assert moments.keys() == restored.keys() and len(moments) > 0
    for i, state in moments.items():
        assert torch.equal(state["exp_avg"], restored[i]["exp_avg"])
        assert torch.equal(state["exp_avg_sq"], restored[i]["exp_avg_sq"])
    assert fresh.scheduler.last_epoch == run.scheduler.last_epoch == run.steps
    assert fresh.scheduler.get_last_lr() == run.scheduler.get_last_lr()
