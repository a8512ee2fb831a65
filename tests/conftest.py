"""Shared by every test folder: running the repository's scripts the way a user does, and the
small synthetic Tasks several folders play on (built once per session, milliseconds)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

from quantray.config import SMALL_STAGE1, DataConfig, PriceModelConfig, SplitConfig
from quantray.data import Task, load_task
from quantray.data.synthetic import RegimeParams, generate

ROOT = Path(__file__).resolve().parents[1]

RunScript = Callable[..., subprocess.CompletedProcess]


@pytest.fixture
def run_script() -> RunScript:
    """``run_script("experiments/compare.py", "--smoke-test", timeout=600)`` runs the script
    (a path relative to the repository root) in a fresh Python from the repository root and
    returns the finished process with its text output; a non-zero exit is returned, not
    raised, so the test can show the script's own message."""

    def run(script: str, *args: object, timeout: float = 600) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, str(ROOT / script), *map(str, args)],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=ROOT,
            check=False,
        )

    return run


@pytest.fixture
def load_script() -> Callable[[str], ModuleType]:
    """``load_script("distill")``: ``experiments/distill.py`` as a module, its ``main`` not
    run (to call its ``parse_args`` and helpers in-process)."""

    def load(name: str) -> ModuleType:
        spec = importlib.util.spec_from_file_location(name, ROOT / "experiments" / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    return load


@pytest.fixture(scope="session")
def limit_task() -> Task:
    """A violent market (5-7% daily vol): +-10% closes happen, so price limits bind."""
    params = RegimeParams(vol=(0.06, 0.07, 0.05))
    return load_task(bars=generate(n_symbols=2, n_days=700, seed=5, params=params))


@pytest.fixture(scope="session")
def regime_task() -> Task:
    """Raw features + a known regime: strong bull/bear drifts the recent returns reveal (the
    task on which the stage-2 GRU beats buy-and-hold, and PPO/SAC beat a random policy)."""
    params = RegimeParams(drift=(0.004, -0.004, 0.0), vol=(0.008, 0.008, 0.004), persistence=0.99)
    bars = {
        s: f.drop(columns="regime") for s, f in generate(6, 1500, seed=3, params=params).items()
    }
    return load_task(
        bars=bars, data_config=DataConfig(window=30), split_config=SplitConfig(embargo=27)
    )


@pytest.fixture(scope="session")
def micro_model() -> PriceModelConfig:
    """A ~20k-parameter stage-1 model over 60-day windows: real MLA blocks, trains in seconds
    (use it with DataConfig(window=60))."""
    return PriceModelConfig.preset("tiny").replace(**{**SMALL_STAGE1, "n_layers": 1})


StageOneCheckpoint = Callable[..., Path]


@pytest.fixture(scope="session")
def stage1_checkpoint() -> StageOneCheckpoint:
    """``stage1_checkpoint(path, data, model_config)`` writes a stage-1 checkpoint file of a
    seeded, untrained model over ``window``-day windows (60 by default, the micro model's) for
    the bars at ``data`` (normaliser fitted on the first half of the rows) and returns
    ``path``: what a feature export needs, without training."""

    def write(
        path: Path, data: Path, model: PriceModelConfig, seed: int = 0, window: int = 60
    ) -> Path:
        import numpy as np
        import torch

        from quantray.config import PriceTrainConfig
        from quantray.data import FeatureNormalizer, Panel, load_bars
        from quantray.train.price import PriceRunSpec

        panel = Panel.from_bars(load_bars(data))
        spec = PriceRunSpec(
            model,
            PriceTrainConfig(),
            str(data),
            DataConfig(window=window),
            SplitConfig(),
        )
        torch.manual_seed(seed)
        normalizer = FeatureNormalizer.fit(panel.features, np.arange(panel.n_rows // 2))
        torch.save(
            {
                "model": spec.new_model().state_dict(),
                "spec": spec.to_dict(),
                "normalizer": normalizer.to_dict(),
                "data_hash": panel.data_hash,
                "epoch": 0,
            },
            path,
        )
        return path

    return write
