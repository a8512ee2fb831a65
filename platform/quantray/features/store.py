"""The shared stage-1 store: each distinct stage-1 run is trained once and exported once.

Entries live under a root directory (the Tune storage path's ``stage1_cache`` by default),
content-addressed by ``spec_key``: the spec (architecture, training, splits) and the CONTENT
of its data. A file lock per key makes concurrent callers (Tune trials, walk-forward folds)
train once while the others wait and then reuse the entry.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import shutil
from pathlib import Path

from filelock import FileLock

from quantray.config import SMALL_STAGE1
from quantray.data import data_hash, load_bars
from quantray.data.sample import SAMPLE_PATH
from quantray.features.export import export_features
from quantray.integrity import DamagedFile, quarantine
from quantray.train.price import CHECKPOINT_FILE, PriceRunSpec, fit_and_save, load_checkpoint

log = logging.getLogger("quantray.features")


def _content_hash(path: str | Path) -> str:
    """``data_hash`` of the bars at ``path``, computed once per (path, size, mtime) version."""
    stats = [(str(f), f.stat().st_size, f.stat().st_mtime_ns) for f in _data_files(Path(path))]
    return _hash_of_version(str(path), tuple(stats))


def _data_files(path: Path) -> list[Path]:
    return sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]


@functools.lru_cache(maxsize=32)
def _hash_of_version(path: str, version: tuple[tuple[str, int, int], ...]) -> str:
    del version  # part of the cache key only
    return data_hash(load_bars(path))


def spec_key(spec: PriceRunSpec) -> str:
    """Key of a stage-1 run in the shared store: a hash of the spec (architecture, training,
    splits) and of the CONTENT of its data, so replacing the data file at the same path
    never reuses a model trained on the old file."""
    text = json.dumps(
        {**spec.to_dict(), "data_content": _content_hash(spec.data_path)}, sort_keys=True
    )
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def ensure_feature_cache(spec: PriceRunSpec, root: str | Path, progress: bool = False) -> Path:
    """Train the stage-1 model of ``spec`` once and export its feature cache once, under
    ``root`` (content-addressed by the spec and the data); return the cache directory.

    Safe when called at the same time from several processes (Tune trials) sharing ``root``:
    a file lock per spec makes one of them train while the others wait and then reuse it."""
    return ensure_stage1_features(spec, root, progress)[0]


def ensure_stage1_features(
    spec: PriceRunSpec, root: str | Path, progress: bool = False
) -> tuple[Path, bool]:
    """``ensure_feature_cache`` plus whether THIS call trained the stage-1 model (decided
    under the per-spec lock, so exactly one of several racing callers gets True)."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    key = spec_key(spec)
    model_dir = root / f"stage1-{key}"
    with FileLock(str(root / f".stage1-{key}.lock")):
        if (model_dir / CHECKPOINT_FILE).exists():
            try:
                load_checkpoint(model_dir)
            except DamagedFile as exc:
                moved = quarantine(model_dir)
                log.warning("%s\nmoved the damaged stage-1 entry to %s; retraining", exc, moved)
        trained = not (model_dir / CHECKPOINT_FILE).exists()
        if trained:
            tmp = root / f".stage1-{key}.partial"
            if tmp.exists():
                shutil.rmtree(tmp)
            fit_and_save(spec, tmp)
            os.rename(tmp, model_dir)
        return export_features(model_dir, root, spec.data_path, progress=progress), trained


def small_stage1_spec(
    data_path: str | Path | None = None, *, smoke: bool = False, seed: int = 0
) -> PriceRunSpec:
    """The stage-1 run used when stage 2 needs features and none were given."""
    from quantray.config import DataConfig, PriceModelConfig, PriceTrainConfig, SplitConfig

    train = PriceTrainConfig(
        epochs=1,
        batch_size=32,
        max_steps_per_epoch=10 if smoke else 150,
        eval_samples=128 if smoke else 1024,
        warmup_steps=5,
        lr=1e-3,
        seed=seed,
    )
    model = PriceModelConfig.preset("tiny").replace(**SMALL_STAGE1)
    data = str(Path(SAMPLE_PATH if data_path is None else data_path).resolve())
    return PriceRunSpec(model, train, data, DataConfig(), SplitConfig())
