"""Frozen features: run the trained stage-1 encoder once over every (symbol, day).

The encoder is frozen (eval mode, no gradients) and maps the 180-day window ending at each
row to its [D] feature; rows without a full window stay NaN. Normalisation comes from the
checkpoint (fitted on the training period when the model was trained), never refitted here.
The result is written as a cache keyed by checkpoint content and data hash (see
``quantray.data.feature_cache``), read by stage 2, the env and every Tune trial.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import time
from pathlib import Path

import numpy as np
import torch
from filelock import FileLock
from tqdm.auto import tqdm

from quantray.data import (
    FeatureNormalizer,
    Panel,
    cache_dir_name,
    data_hash,
    load_bars,
    write_cache,
)
from quantray.data.sample import SAMPLE_PATH
from quantray.models import PriceTransformer
from quantray.train.price import (
    CHECKPOINT_FILE,
    PriceRunSpec,
    fit_and_save,
    load_checkpoint,
    model_from_checkpoint,
)


def checkpoint_id(path: str | Path) -> str:
    """Content hash of a checkpoint file (12 hex digits): part of the cache key."""
    path = Path(path)
    if path.is_dir():
        path = path / CHECKPOINT_FILE
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


@torch.no_grad()
def encode_rows(
    model: PriceTransformer,
    normalized: np.ndarray,
    rows: np.ndarray,
    window: int,
    batch_size: int = 512,
    device: torch.device | str = "cpu",
    progress: bool = False,
) -> np.ndarray:
    """Frozen features [len(rows), D] of the windows ending at ``rows`` of ``normalized`` [N, F]."""
    model = model.to(device).eval()
    out = np.empty((len(rows), model.config.d_model), dtype=np.float32)
    offsets = np.arange(-window + 1, 1)
    starts = range(0, len(rows), batch_size)
    for start in tqdm(starts, desc="frozen features", disable=not progress, unit="batch"):
        t = rows[start : start + batch_size]
        x = torch.from_numpy(normalized[t[:, None] + offsets]).to(device)  # [B, L, F]
        out[start : start + len(t)] = model.encode(x).float().cpu().numpy()  # [B, D]
    return out


def feature_table(
    model: PriceTransformer,
    panel: Panel,
    normalizer: FeatureNormalizer,
    window: int,
    batch_size: int = 512,
    device: torch.device | str = "cpu",
    progress: bool = False,
) -> np.ndarray:
    """[N, D] frozen features for every panel row; NaN where the window is incomplete."""
    table = np.full((panel.n_rows, model.config.d_model), np.nan, dtype=np.float32)
    rows = np.flatnonzero(panel.first_window_row(window))
    normalized = normalizer.transform(panel.features)
    table[rows] = encode_rows(model, normalized, rows, window, batch_size, device, progress)
    return table


def export_features(
    checkpoint: str | Path,
    out_dir: str | Path,
    data: str | Path | None = None,
    batch_size: int = 512,
    device: str = "auto",
    progress: bool = True,
) -> Path:
    """Compute (or reuse) the frozen-feature cache of ``checkpoint`` on ``data``.

    Returns the cache directory ``out_dir/features-<checkpoint id>-<data hash>``; an
    existing cache with that key is reused without running the model."""
    data_path = Path(SAMPLE_PATH if data is None else data)
    bars = load_bars(data_path)
    ckpt_id = checkpoint_id(checkpoint)
    target = Path(out_dir) / cache_dir_name(ckpt_id, data_hash(bars))
    if (target / "meta.json").exists():
        return target  # reused: no features computed, no model loaded
    panel = Panel.from_bars(bars)
    state = load_checkpoint(checkpoint)
    spec = PriceRunSpec.from_dict(state["spec"])
    model = model_from_checkpoint(state)  # encoding runs under torch.no_grad
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    t0 = time.perf_counter()
    normalizer = FeatureNormalizer.from_dict(state["normalizer"])
    table = feature_table(model, panel, normalizer, spec.model.window, batch_size, device, progress)
    meta = {
        "checkpoint": str(checkpoint),
        "checkpoint_id": ckpt_id,
        "data": str(data_path),
        "data_hash": panel.data_hash,
        "trained_on_data_hash": state["data_hash"],
        "trained_period": state.get("train_period"),
        "d_model": spec.model.d_model,
        "window": spec.model.window,
        "rows": panel.n_rows,
        "symbols": list(panel.symbols),
        "seconds": round(time.perf_counter() - t0, 2),
    }
    return write_cache(target, table, meta)


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
        trained = not (model_dir / CHECKPOINT_FILE).exists()
        if trained:
            tmp = root / f".stage1-{key}.partial"
            if tmp.exists():
                shutil.rmtree(tmp)
            fit_and_save(spec, tmp)
            os.rename(tmp, model_dir)
        return export_features(model_dir, root, spec.data_path, progress=progress), trained


SMALL_STAGE1 = dict(
    d_model=32,
    n_layers=2,
    n_heads=2,
    kv_lora_rank=16,
    qk_nope_head_dim=8,
    qk_rope_head_dim=8,
    v_head_dim=16,
    ffn_hidden=64,
)
"""A ~40k-parameter stage-1 model: enough to give stage 2 learned features in a minute on a
laptop CPU when the user gives no feature cache."""


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
