"""Launch options: HOW a job runs (devices, threads, actor pools), never WHAT it computes.

They are kept out of the settings that enter cache keys and checkpoints' specs, so moving a
run from a laptop to a GPU cluster (or changing the thread count) reuses the same stage-1
models and feature caches.
"""

from __future__ import annotations

from dataclasses import dataclass

from quantray.config.base import Config, check, check_choice

EXPORT_BACKENDS = ("auto", "local", "ray")
"""Frozen-feature export paths: auto (Ray Data for big exports when Ray runs), local
(in-process), ray (always Ray Data)."""


@dataclass(frozen=True)
class PriceLaunch(Config):
    """Where and how stage-1 training runs (not part of the run's spec or cache key)."""

    use_gpu: bool | None = None
    """Train on a GPU: True / False, or None = a GPU when one is visible to this process (a
    Tune trial or walk-forward fold that was given a GPU share sees it). Ray Train runs need
    an explicit choice (--use-gpu)."""
    threads_per_worker: int | None = None
    """torch intra-op threads per worker; None leaves torch's setting (Ray Train runs set
    CPU count / workers)."""

    def __post_init__(self) -> None:
        check(
            self.threads_per_worker is None or self.threads_per_worker >= 1,
            "PriceLaunch",
            f"threads_per_worker must be None or >= 1, got {self.threads_per_worker}",
        )


@dataclass(frozen=True)
class RayExportSettings(Config):
    """How the frozen-feature export runs (Ray Data actor pool or in-process)."""

    backend: str = "auto"
    """auto | local | ray: auto uses Ray Data when Ray is running, the export has at least
    ``min_rows`` rows and an actor fits in the free resources; otherwise in-process."""
    actors: int = 2
    """Size of the Ray Data actor pool (each actor holds one copy of the model)."""
    num_cpus: float = 1.0
    """CPUs reserved per actor (its torch threads follow it, at least 1)."""
    num_gpus: float = 0.0
    """GPUs per actor; a fraction (e.g. 0.25) packs several actors on one GPU."""
    batch_size: int = 512
    """Windows per forward pass (both paths)."""
    rows_per_block: int = 8192
    """Rows per Ray Data block: the unit of scheduling, streaming and retry."""
    actor_start_s: int = 600
    """Seconds to wait for the whole actor pool to start before any block is dispatched:
    the blocks then spread evenly, and a pool the cluster cannot place fails with a timeout
    instead of waiting forever."""
    min_rows: int = 200_000
    """``backend="auto"`` uses Ray Data from this many rows on; smaller exports run
    in-process, where Ray's start-up would cost more than it saves."""

    def __post_init__(self) -> None:
        owner = "RayExportSettings"
        check_choice(owner, "backend", self.backend, EXPORT_BACKENDS)
        check(self.actors >= 1, owner, f"actors must be >= 1, got {self.actors}")
        check(self.num_cpus >= 0, owner, f"num_cpus must be >= 0, got {self.num_cpus}")
        check(self.num_gpus >= 0, owner, f"num_gpus must be >= 0, got {self.num_gpus}")
        check(self.batch_size >= 1, owner, f"batch_size must be >= 1, got {self.batch_size}")
        check(self.rows_per_block >= 1, owner, "rows_per_block must be >= 1")
        check(self.actor_start_s >= 1, owner, "actor_start_s must be >= 1")
        check(self.min_rows >= 0, owner, f"min_rows must be >= 0, got {self.min_rows}")
