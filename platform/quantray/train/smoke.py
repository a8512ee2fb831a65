"""Tiny end-to-end models on a slice of the bundled data, for scripts' ``--smoke-test``.

``explain.py`` and ``distill.py`` need a trained stage-1 model (and a stage-2 strategy on its
frozen features) before they can do anything; training those on the full sample with the
default 180-day window takes minutes on a laptop, mostly in the feature export. The smoke
path trains a 2-layer, 60-day-window model on the last ``SMOKE_DAYS`` days of two symbols
of the real sample, in a few seconds, through the normal training and checkpoint code.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from quantray.config import (
    SMALL_STAGE1,
    DataConfig,
    PriceModelConfig,
    PriceTrainConfig,
    SplitConfig,
    StrategyConfig,
)
from quantray.data import load_task
from quantray.data.sample import SAMPLE_PATH
from quantray.features.export import export_features
from quantray.train.price import PriceRunSpec, fit_and_save

SMOKE_SYMBOLS = ("NASDAQ", "SP500")
SMOKE_DAYS = 800
SMOKE_WINDOW = 60
"""The smoke path's window: the small stage-1 shape (``quantray.config.SMALL_STAGE1``) reads
60-day windows."""


def smoke_data(out: Path) -> Path:
    """Write the last SMOKE_DAYS bars of SMOKE_SYMBOLS of the bundled sample to
    ``out/smoke_bars.parquet`` (the sample's own long format) and return the path."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / "smoke_bars.parquet"
    bars = pd.read_parquet(SAMPLE_PATH)
    bars = bars[bars["Symbol"].isin(SMOKE_SYMBOLS)]
    bars = bars.groupby("Symbol", group_keys=False).tail(SMOKE_DAYS)
    bars.to_parquet(path, index=False)
    return path


def smoke_spec(data_path: Path, steps: int = 10, seed: int = 0, **model: object) -> PriceRunSpec:
    """The micro stage-1 run of the smoke path (``model`` overrides SMALL_STAGE1) over
    SMOKE_WINDOW-day windows."""
    config = PriceModelConfig.preset("tiny").replace(**{**SMALL_STAGE1, **model})
    train = PriceTrainConfig(
        epochs=1,
        batch_size=32,
        max_steps_per_epoch=steps,
        eval_samples=64,
        warmup_steps=2,
        lr=1e-3,
        seed=seed,
    )
    return PriceRunSpec(
        config, train, str(data_path), DataConfig(window=SMOKE_WINDOW), SplitConfig()
    )


def smoke_stage1(out: Path, seed: int = 0) -> tuple[Path, Path]:
    """Train the micro stage-1 model on the smoke data; returns (checkpoint, data path)."""
    data_path = smoke_data(out)
    checkpoint = fit_and_save(smoke_spec(data_path, seed=seed), out / "stage1")
    return checkpoint, data_path


def smoke_strategy(
    out: Path, checkpoint: Path, data_path: Path, seed: int = 0
) -> tuple[Path, Path]:
    """Export the micro model's features and train a small strategy on them for a few steps;
    returns (strategy checkpoint, feature cache directory)."""
    from quantray.config import CostConfig
    from quantray.train.strategy import train_strategy

    features = export_features(checkpoint, out / "features", data_path, progress=False)
    task = load_task(data_path, features=features, data_config=DataConfig(window=SMOKE_WINDOW))
    config = StrategyConfig(epochs=1, hidden_size=16, head_hidden=16, batch_size=16)
    result = train_strategy(
        task,
        config,
        CostConfig.preset("us_equity"),
        seed=seed,
        steps_per_epoch=5,
        checkpoint=out / "strategy.pt",
        log=None,
    )
    assert result.checkpoint is not None
    return result.checkpoint, features
