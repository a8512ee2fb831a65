"""Frozen-feature export as a Ray Data batch-inference job (big universes, Ray clusters).

The same features as the in-process ``feature_table`` (the encoder is the same module, run
on the same windows; a test checks equality), computed by a pool of Ray actors:

* the normalised panel [N, F] is put in Ray's object store ONCE; every actor reads it as a
  zero-copy, read-only view and gathers its windows [B, L, F] from it by index, so no window
  array [rows, L, F] ever exists (the panel, not the windows, is what is shared);
* a dataset of the rows to encode (row indices, split into blocks) flows through
  ``Dataset.map_batches`` with an ``ActorPoolStrategy``: each actor rebuilds the model ONCE
  from the checkpoint state (also shipped through the object store, so remote nodes need no
  shared file system) and encodes batch after batch, on CPU or on a fraction of a GPU;
* the driver streams the output blocks into the cache's ``features.npy`` (a memory map
  written row by row index), so neither the driver nor any actor holds the whole table, and
  a block re-executed after a node failure overwrites its rows with the same values.

Nothing here imports Ray at module load: ``import quantray.features`` stays Ray-free.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from quantray.config import ConfigError, RayExportSettings
from quantray.features.cache import FEATURES_FILE, META_FILE, staged_cache


@dataclass
class ExportStats:
    """What a Ray export did: rows written, blocks seen, and which nodes computed them."""

    rows: int = 0
    blocks: int = 0
    seconds: float = 0.0
    rows_by_node: dict[str, int] = field(default_factory=dict)
    rows_by_actor: dict[str, int] = field(default_factory=dict)


def ray_running() -> bool:
    """True when this process is connected to Ray (a driver after ``ray.init`` or a Ray
    worker such as a Tune trial), checked without importing Ray."""
    ray = sys.modules.get("ray")
    return ray is not None and bool(ray.is_initialized())


def can_place_actor(settings: RayExportSettings) -> bool:
    """True when the cluster has the resources for at least one export actor right now (a
    Tune trial that holds every CPU must not wait forever for its own export)."""
    import ray

    free = ray.available_resources()
    return free.get("CPU", 0.0) >= settings.num_cpus and free.get("GPU", 0.0) >= (settings.num_gpus)


def use_ray_export(n_rows: int, settings: RayExportSettings) -> bool:
    """Decide the export path from ``settings.backend``: ``"ray"`` always, ``"local"`` never,
    ``"auto"`` when Ray is running, the export has at least ``settings.min_rows`` rows and an
    actor fits in the free resources now."""
    if settings.backend == "local":
        return False
    if settings.backend == "ray":
        if not ray_running():
            raise ConfigError(
                "RayExportSettings: backend 'ray' needs a running Ray (ray.init() or "
                "--address auto); use backend 'auto' or 'local' to export in-process"
            )
        return True
    return ray_running() and n_rows >= settings.min_rows and can_place_actor(settings)


class _WindowEncoder:
    """Ray Data actor: the model and the shared panel, loaded once; encodes row batches."""

    def __init__(self, shared: list[Any], window: int, num_cpus: float, num_gpus: float):
        import ray
        import torch

        from quantray.train.price import model_from_checkpoint

        # Wrapped in a list so Ray passes the references, not the values, to the actor.
        state, normalized = ray.get(shared)
        self.normalized = normalized  # [N, F] float32, a read-only view of the object store
        self.device = torch.device("cuda" if num_gpus > 0 and torch.cuda.is_available() else "cpu")
        torch.set_num_threads(max(1, int(num_cpus)))
        self.model = model_from_checkpoint(state).to(self.device).eval()
        self.window = window
        context = ray.get_runtime_context()
        self.node = context.get_node_id()
        self.actor = context.get_actor_id() or f"pid{os.getpid()}"

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        import torch

        from quantray.features.export import encode_batch

        rows = np.asarray(batch["data"], dtype=np.int64)  # [B]
        with torch.no_grad():
            features = encode_batch(self.model, self.normalized, rows, self.window, self.device)
        return {
            "row": rows,
            "feature": features,
            "node": np.full(len(rows), self.node),
            "actor": np.full(len(rows), self.actor),
        }


def ray_encode_rows(
    state: dict[str, Any],
    normalized: np.ndarray,
    rows: np.ndarray,
    window: int,
    settings: RayExportSettings,
    sink: Callable[[np.ndarray, np.ndarray], None],
) -> ExportStats:
    """Encode the windows ending at ``rows`` of ``normalized`` [N, F] with the checkpoint
    ``state``'s model on a Ray Data actor pool; ``sink(rows [b], features [b, D])`` receives
    every output block as it streams in (in no particular order)."""
    import ray

    started = time.perf_counter()
    shared = [ray.put(state), ray.put(np.ascontiguousarray(normalized, dtype=np.float32))]
    n_blocks = max(1, min(len(rows), -(-len(rows) // settings.rows_per_block)))
    # At least one block per actor, so every actor gets work.
    n_blocks = max(n_blocks, min(len(rows), settings.actors))
    context = ray.data.DataContext.get_current()
    saved_wait = context.wait_for_min_actors_s
    # Start the whole pool before dispatching (see RayExportSettings.actor_start_s).
    context.wait_for_min_actors_s = settings.actor_start_s
    try:
        ds = ray.data.from_numpy(np.array_split(np.asarray(rows, dtype=np.int64), n_blocks))
        ds = ds.map_batches(
            _WindowEncoder,
            fn_constructor_args=(shared, window, settings.num_cpus, settings.num_gpus),
            batch_size=settings.batch_size,
            batch_format="numpy",
            compute=ray.data.ActorPoolStrategy(size=settings.actors),
            num_cpus=settings.num_cpus,
            num_gpus=settings.num_gpus,
        )
        stats = ExportStats()
        for batch in ds.iter_batches(batch_size=None, batch_format="numpy"):
            sink(batch["row"], batch["feature"])
            stats.rows += len(batch["row"])
            stats.blocks += 1
            for key, counts in (("node", stats.rows_by_node), ("actor", stats.rows_by_actor)):
                names, n = np.unique(batch[key], return_counts=True)
                for name, count in zip(names.tolist(), n.tolist(), strict=True):
                    counts[name] = counts.get(name, 0) + count
    finally:
        context.wait_for_min_actors_s = saved_wait
    stats.seconds = time.perf_counter() - started
    return stats


def ray_feature_cache(
    target: Path,
    state: dict[str, Any],
    normalized: np.ndarray,
    rows: np.ndarray,
    window: int,
    d_model: int,
    meta: dict[str, Any],
    settings: RayExportSettings,
) -> tuple[Path, ExportStats]:
    """Write the cache directory ``target`` (``features.npy`` [N, D] + ``meta.json``) with
    the Ray Data export, streaming blocks into a memory-mapped ``features.npy``; rows not in
    ``rows`` stay NaN. Atomic like ``write_cache``: written in a temporary directory and
    renamed, an existing cache is kept. Every row is checked to be written (a lost block
    raises instead of leaving NaN holes)."""
    target = Path(target)
    if (target / META_FILE).exists():
        return target, ExportStats()
    with staged_cache(target) as tmp:
        n_rows = len(normalized)
        table = np.lib.format.open_memmap(
            tmp / FEATURES_FILE, mode="w+", dtype=np.float32, shape=(n_rows, d_model)
        )
        table[:] = np.nan
        written = np.zeros(n_rows, dtype=np.int32)

        def sink(block_rows: np.ndarray, features: np.ndarray) -> None:
            table[block_rows] = features
            written[block_rows] += 1

        stats = ray_encode_rows(state, normalized, rows, window, settings, sink)
        missing = int((written[rows] == 0).sum())
        if missing:
            raise RuntimeError(f"Ray export lost {missing} of {len(rows)} rows; rerun the export")
        table.flush()
        meta = {
            **meta,
            "export": "ray_data",
            "actors": settings.actors,
            "seconds": round(stats.seconds, 2),
            "duplicate_rows": int((written[rows] > 1).sum()),
            "actors_used": len(stats.rows_by_actor),
            "nodes_used": len(stats.rows_by_node),
            "rows_by_node": stats.rows_by_node,
        }
        (tmp / META_FILE).write_text(json.dumps(meta, indent=2, default=str))
    return target, stats
