"""Frozen features: run the trained stage-1 encoder once over every (symbol, day).

The encoder is frozen (eval mode, no gradients) and maps the 180-day window ending at each
row to its [D] feature; rows without a full window stay NaN. Normalisation comes from the
checkpoint (fitted on the training period when the model was trained), never refitted here.
The result is written as a cache keyed by checkpoint content and data hash (see
``quantray.features.cache``), read by stage 2, the env and every Tune trial.

Two paths give the same features: in-process (``feature_table``: small data, no Ray) and a
Ray Data batch-inference job over an actor pool (``quantray.features.ray_export``: big
universes, clusters, GPUs), chosen by ``RayExportSettings.backend``.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from quantray.config import RayExportSettings
from quantray.data import FeatureNormalizer, Panel, data_hash, load_bars
from quantray.data.sample import SAMPLE_PATH
from quantray.features.cache import cache_dir_name, reusable, write_cache
from quantray.features.ray_export import ray_feature_cache, use_ray_export
from quantray.integrity import verify
from quantray.models import PriceTransformer
from quantray.train.price import (
    CHECKPOINT_FILE,
    PriceRunSpec,
    load_checkpoint,
    model_from_checkpoint,
)


def checkpoint_id(path: str | Path) -> str:
    """Content hash of a checkpoint file (12 hex digits): part of the cache key."""
    path = Path(path)
    if path.is_dir():
        path = path / CHECKPOINT_FILE
    verify(path)  # a damaged checkpoint is named here, not hashed into a new cache key
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


def encode_batch(
    model: PriceTransformer,
    normalized: np.ndarray,
    rows: np.ndarray,
    window: int,
    device: torch.device | str = "cpu",
) -> np.ndarray:
    """Frozen features [B, D] of the windows ending at ``rows`` [B] of ``normalized`` [N, F].

    Hands the model the rows the batch reads as one slice (no [B, L, F] gather): for
    consecutive rows a one-layer encoder then does its per-day work once per row, not once
    per window (``PriceTransformer.encode_rows``)."""
    first, last = int(rows.min()) - window + 1, int(rows.max())
    table = torch.from_numpy(normalized[first : last + 1]).to(device)  # [S, F] rows read
    ends = torch.from_numpy(rows - first).to(device)  # [B] positions in that slice
    return model.encode_rows(table, ends).float().cpu().numpy()  # [B, D]


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
    starts = range(0, len(rows), batch_size)
    for start in tqdm(starts, desc="frozen features", disable=not progress, unit="batch"):
        t = rows[start : start + batch_size]
        out[start : start + len(t)] = encode_batch(model, normalized, t, window, device)
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
    batch_size: int | None = None,
    device: str = "auto",
    progress: bool = True,
    settings: RayExportSettings | None = None,
) -> Path:
    """Compute (or reuse) the frozen-feature cache of ``checkpoint`` on ``data``.

    Returns the cache directory ``out_dir/features-<checkpoint id>-<data hash>``; an
    existing cache with that key is reused without running the model. ``settings`` chooses
    the path (in-process or the Ray Data actor pool, see ``RayExportSettings``; default
    auto) and ``batch_size`` overrides its batch size. Neither enters the cache key: both
    paths write the same features."""
    settings = RayExportSettings() if settings is None else settings
    if batch_size is not None:
        settings = settings.replace(batch_size=batch_size)
    data_path = Path(SAMPLE_PATH if data is None else data)
    bars = load_bars(data_path)
    ckpt_id = checkpoint_id(checkpoint)
    target = Path(out_dir) / cache_dir_name(ckpt_id, data_hash(bars))
    if reusable(target):
        return target  # reused: no features computed, no model loaded
    panel = Panel.from_bars(bars)
    state = load_checkpoint(checkpoint)
    spec = PriceRunSpec.from_dict(state["spec"])
    window = spec.data.window
    normalizer = FeatureNormalizer.from_dict(state["normalizer"])
    meta = {
        "checkpoint": str(checkpoint),
        "checkpoint_id": ckpt_id,
        "data": str(data_path),
        "data_hash": panel.data_hash,
        "trained_on_data_hash": state["data_hash"],
        "trained_period": state.get("train_period"),
        "d_model": spec.model.d_model,
        "window": window,
        "rows": panel.n_rows,
        "symbols": list(panel.symbols),
    }
    rows = np.flatnonzero(panel.first_window_row(window))
    if use_ray_export(len(rows), settings):
        normalized = normalizer.transform(panel.features)  # [N, F], shared by the actors
        path, _ = ray_feature_cache(
            target, state, normalized, rows, window, spec.model.d_model, meta, settings
        )
        return path
    model = model_from_checkpoint(state)  # encoding runs under torch.no_grad
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    t0 = time.perf_counter()
    table = feature_table(model, panel, normalizer, window, settings.batch_size, device, progress)
    meta["export"] = "in_process"
    meta["seconds"] = round(time.perf_counter() - t0, 2)
    return write_cache(target, table, meta)
