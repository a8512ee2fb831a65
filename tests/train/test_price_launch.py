"""Stage-1 launch options: out of the spec and the cache key, old checkpoints still load, and
the one training loop gives the same model in-process as before the launch options moved."""

from __future__ import annotations

import pytest
import torch

from quantray.config import (
    ConfigError,
    DataConfig,
    PriceLaunch,
    PriceTrainConfig,
    SplitConfig,
)
from quantray.data.synthetic import generate, write_bars
from quantray.features.store import spec_key
from quantray.train.price import PriceRunSpec, Session, fit_in_process, run_price_training


def _spec(micro_model, data) -> PriceRunSpec:
    train = PriceTrainConfig(epochs=2, batch_size=8, max_steps_per_epoch=3, eval_samples=32)
    return PriceRunSpec(micro_model, train, str(data), DataConfig(window=60), SplitConfig())


@pytest.fixture(scope="module")
def bars_path(tmp_path_factory):
    bars = {s: f.drop(columns="regime") for s, f in generate(2, 700, seed=2).items()}
    return write_bars(bars, tmp_path_factory.mktemp("launch") / "bars.parquet")


def test_old_specs_with_launch_options_still_load(micro_model, bars_path) -> None:
    spec = _spec(micro_model, bars_path)
    old = spec.to_dict()
    old["train"] = {**old["train"], "use_gpu": True, "threads_per_worker": 4}
    assert PriceRunSpec.from_dict(old) == spec  # the launch keys are dropped, nothing else
    assert "use_gpu" not in spec.to_dict()["train"]
    with pytest.raises(ConfigError, match="unknown setting"):
        PriceTrainConfig.from_dict({"use_gpus": True})  # a typo is still an error
    with pytest.raises(ConfigError, match="threads_per_worker"):
        PriceLaunch(threads_per_worker=0)


def test_launch_options_do_not_change_the_cache_key(micro_model, bars_path) -> None:
    spec = _spec(micro_model, bars_path)
    # The key is a function of the spec only; launch options are not part of it at all.
    assert spec_key(spec) == spec_key(PriceRunSpec.from_dict(spec.to_dict()))
    more = PriceRunSpec(
        micro_model, spec.train.replace(epochs=3), spec.data_path, spec.data, spec.split
    )
    assert spec_key(more) != spec_key(spec)  # a training setting does change it


class _Recording(Session):
    """In-process session that records what the loop reports and saves."""

    def __init__(self) -> None:
        self.reports: list[tuple[int, int]] = []
        self.saved: list[int] = []

    def report(self, epoch, epochs, metrics, save) -> None:
        self.reports.append((epoch, epochs))
        self.saved.append(int(torch.load(save(self.dir), weights_only=True)["epoch"]))


def test_one_loop_in_process_is_deterministic_and_reports_each_epoch(
    micro_model, bars_path, tmp_path
) -> None:
    spec = _spec(micro_model, bars_path)
    launch = PriceLaunch(use_gpu=False, threads_per_worker=1)
    a, history_a, _ = fit_in_process(spec, launch)
    session = _Recording()
    session.dir = tmp_path
    b, history_b, _ = run_price_training(spec, launch, session)
    for (name, x), y in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        torch.testing.assert_close(x, y, rtol=0, atol=0, msg=name)  # bit-identical
    assert [h["val_loss"] for h in history_a] == [h["val_loss"] for h in history_b]
    assert session.reports == [(0, 2), (1, 2)] and session.saved == [0, 1]
    assert all(h["train_loss"] > 0 and h["samples_per_s"] > 0 for h in history_b)
