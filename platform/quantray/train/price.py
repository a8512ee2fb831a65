"""Stage 1: train the price Transformer data-parallel with Ray Train V2 (TorchTrainer, DDP).

One loop (``run_price_training``) runs in-process at world size 1 and on every Ray Train
worker. Under Ray Train the driver loads the bars, builds the splits and normalisation
(fitted on the training period) once and cuts the windows into one shard per worker
(``price_data.PriceData.shard``: equal training-window counts, each holding only the panel
rows its windows read); each worker fetches its shard from the object store and trains on
shuffled batches of it, all workers taking the same number of steps. Validation loss and
directional accuracy are summed over workers and compared with the naive forecasts: the
zero-return forecast for the loss, "always up" for direction.

Checkpoints (rank 0, every epoch, through ``ray.train.report``) hold plain tensors and
dicts: model, optimizer and scheduler state, the model and training configs, the
normalisation statistics and the data hash, loadable with ``torch.load(weights_only=True)``.
A run resumes from its latest checkpoint when started again under the same run name
(``--resume``); ``FailureConfig(max_failures)`` restarts killed workers from it.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

from quantray.config import (
    ConfigError,
    DataConfig,
    PriceLaunch,
    PriceModelConfig,
    PriceTrainConfig,
    SplitConfig,
)
from quantray.data import WindowDataset, load_task, sample_rows
from quantray.data.sample import SAMPLE_PATH
from quantray.integrity import load_or_damaged, record
from quantray.losses.price import price_loss_from_config, zero_forecast_loss
from quantray.models import PriceTransformer, grad_norms
from quantray.train.monitoring import record_price_throughput
from quantray.train.price_data import PriceData
from quantray.train.tracking import MlflowTarget

log = logging.getLogger("quantray.train.price")

CHECKPOINT_FILE = "checkpoint.pt"
LEGACY_MODEL_KEYS = ("window", "horizon")
"""``PriceModelConfig`` fields of older saved specs: the data's window and horizon."""


@dataclass(frozen=True)
class PriceRunSpec:
    """Everything a worker needs; plain data so it ships to Ray workers as a dict. The model
    reads ``data.window`` days and predicts ``data.horizon`` returns (``new_model``)."""

    model: PriceModelConfig
    train: PriceTrainConfig
    data_path: str
    data: DataConfig
    split: SplitConfig

    def new_model(self) -> PriceTransformer:
        """A freshly initialised price model of this run: ``model``'s sizes on the data's
        window and horizon."""
        return PriceTransformer(self.model, window=self.data.window, horizon=self.data.horizon)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model.to_dict(),
            "train": self.train.to_dict(),
            "data_path": self.data_path,
            "data": self.data.to_dict(),
            "split": self.split.to_dict(),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PriceRunSpec:
        """The spec ``to_dict`` wrote. Specs saved before the window and horizon were the
        data's alone also list them under "model": they are accepted when they equal the
        data's (they always did: the spec refused a mismatch) and refused otherwise."""
        model, data = dict(d["model"]), DataConfig.from_dict(d["data"])
        for name in LEGACY_MODEL_KEYS:
            if name in model and (saved := model.pop(name)) != getattr(data, name):
                raise ConfigError(
                    f"PriceRunSpec: the saved spec's model {name} ({saved}) differs from its "
                    f"data {name} ({getattr(data, name)}); a price model reads the data's "
                    f'{name}. Remove "{name}" from "model" and set it under "data".'
                )
        return cls(
            PriceModelConfig.from_dict(model),
            PriceTrainConfig.from_dict(d["train"]),
            d["data_path"],
            data,
            SplitConfig.from_dict(d["split"]),
        )


def build_price_data(spec: PriceRunSpec) -> PriceData:
    """Load bars, split by date, fit normalisation on train (``load_task`` with no feature
    cache: its table is the normalised raw features), gather-able windows."""
    task = load_task(spec.data_path, data_config=spec.data, split_config=spec.split)
    panel, table = task.panel, task.table

    def windows(split: str) -> WindowDataset:
        return WindowDataset(
            table, panel.close, sample_rows(panel, task.splits, split, spec.data), spec.data
        )

    first, last = task.splits.ranges["train"]
    return PriceData(
        windows("train"),
        windows("valid"),
        task.normalizer,
        panel.data_hash,
        (str(first), str(last)),
    )


def lr_lambda(step: int, warmup: int, total: int, min_ratio: float = 0.1) -> float:
    """Linear warm-up to 1, then cosine decay to ``min_ratio`` at ``total`` steps."""
    if step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


def _device_and_autocast(use_gpu: bool, bf16: bool) -> tuple[torch.device, Any]:
    if use_gpu and torch.cuda.is_available():
        local = int(os.environ.get("LOCAL_RANK", "0"))
        device = torch.device("cuda", local % torch.cuda.device_count())
        dtype = torch.bfloat16 if bf16 else None
    else:
        device, dtype = torch.device("cpu"), None
    if dtype is None:
        return device, torch.autocast(device_type=device.type, enabled=False)
    return device, torch.autocast(device_type=device.type, dtype=dtype)


def _all_reduce(values: list[float], device: torch.device, op: str = "sum") -> list[float]:
    """``values`` summed (``op="sum"``) or maximised (``op="max"``) over the workers."""
    t = torch.tensor(values, dtype=torch.float64, device=device)
    if dist.is_available() and dist.is_initialized():
        dist.all_reduce(t, op=dist.ReduceOp.MAX if op == "max" else dist.ReduceOp.SUM)
    return t.tolist()


@torch.no_grad()
def evaluate(
    model: torch.nn.Module,
    data: WindowDataset,
    config: PriceModelConfig,
    batch_size: int,
    device: torch.device,
    autocast: Any = None,
    max_samples: int | None = None,
) -> dict[str, float]:
    """Validation metrics over ``data`` (or ``max_samples`` evenly spaced windows of it),
    summed over the workers: under Ray Train ``data`` is this worker's shard
    (``PriceData.shard``) and ``max_samples`` applies to each shard."""
    model.eval()
    idx = np.arange(len(data))
    if max_samples is not None and max_samples < len(data):
        idx = np.unique(np.linspace(0, len(data) - 1, max_samples).astype(np.int64))
    sums = [0.0, 0.0, 0.0, 0.0, 0.0]  # loss, zero-loss, correct sign, up targets, count
    for start in range(0, len(idx), batch_size):
        x, y = data.batch(idx[start : start + batch_size])
        xb = torch.from_numpy(x).to(device)
        yb = torch.from_numpy(y).to(device)
        with autocast or torch.autocast(device_type=device.type, enabled=False):
            pred = model(xb).returns.float()
        n = len(yb) * yb.shape[1]
        sums[0] += float(price_loss_from_config(pred, yb, config)) * n
        sums[1] += float(zero_forecast_loss(yb, config.loss, config.huber_delta)) * n
        sums[2] += float(((pred > 0) == (yb > 0)).sum())
        sums[3] += float((yb > 0).sum())
        sums[4] += n
    loss_sum, zero_sum, correct, up, count = _all_reduce(sums, device)
    count = max(count, 1.0)
    return {
        "val_loss": loss_sum / count,
        "zero_loss": zero_sum / count,
        "loss_ratio": loss_sum / max(zero_sum, 1e-30),
        "dir_acc": correct / count,
        "dir_base": max(up, count - up) / count,
    }


def save_checkpoint(
    directory: Path,
    model: PriceTransformer,
    optimizer: torch.optim.Optimizer | None,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None,
    epoch: int,
    spec: PriceRunSpec,
    data: PriceData,
    metrics: dict[str, float],
) -> Path:
    """Write ``checkpoint.pt`` of the bare ``model`` (plain tensors and dicts:
    ``weights_only=True`` loads it). ``directory`` is created if needed."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / CHECKPOINT_FILE
    torch.save(
        {
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict() if optimizer is not None else {},
            "scheduler": scheduler.state_dict() if scheduler is not None else {},
            "epoch": epoch,
            "spec": spec.to_dict(),
            "normalizer": data.normalizer.to_dict(),
            "data_hash": data.data_hash,
            "train_period": list(data.train_period),
            "metrics": metrics,
        },
        path,
    )
    record(path)  # size + sha256: a truncated copy is caught on load (quantray.integrity)
    (directory / "metrics.json").write_text(json.dumps({"epoch": epoch, **metrics}, indent=2))
    return path


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a stage-1 checkpoint file or directory safely (``weights_only=True``); a damaged
    file raises ``quantray.integrity.DamagedFile`` naming it."""
    path = Path(path)
    if path.is_dir():
        path = path / CHECKPOINT_FILE
    return load_or_damaged(
        path,
        lambda p: torch.load(p, map_location="cpu", weights_only=True),
        "a stage-1 checkpoint",
    )


def model_from_checkpoint(state: dict[str, Any]) -> PriceTransformer:
    """Rebuild the trained model (eval mode) from a loaded checkpoint dict."""
    spec = PriceRunSpec.from_dict(state["spec"])
    model = spec.new_model()
    model.load_state_dict(state["model"])
    return model.eval()


def train_epoch(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    data: WindowDataset,
    spec: PriceRunSpec,
    epoch: int,
    steps: int,
    device: torch.device,
    autocast: Any,
    rank: int = 0,
) -> tuple[float, int, dict[str, float]]:
    """One epoch of ``steps`` batches drawn without replacement from ``data`` (this worker's
    shard under Ray Train): returns (loss sum, samples, last grad norms)."""
    tc = spec.train
    model.train()
    order = np.random.default_rng(tc.seed + epoch).permutation(len(data))
    shard = order[: steps * tc.batch_size]
    losses, seen, norms = [], 0, {}
    optimizer.zero_grad(set_to_none=True)
    for step in range(steps):
        x, y = data.batch(shard[step * tc.batch_size : (step + 1) * tc.batch_size])
        xb, yb = torch.from_numpy(x).to(device), torch.from_numpy(y).to(device)
        with autocast:
            out = model(xb)
            loss = price_loss_from_config(out.returns.float(), yb, spec.model)
            loss = loss + out.aux_loss  # already weighted by moe_aux_weight
        (loss / tc.grad_accum).backward()
        # Step every grad_accum micro-batches and on the epoch's last one, so a remainder
        # is not thrown away by the next epoch's zero_grad.
        if (step + 1) % tc.grad_accum == 0 or step == steps - 1:
            if tc.log_grad_norms and rank == 0:
                norms = grad_norms(model)
            torch.nn.utils.clip_grad_norm_(model.parameters(), tc.grad_clip)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
        losses.append(loss.detach() * len(yb))  # no device->host sync inside the loop
        seen += len(yb)
    return float(torch.stack(losses).sum()), seen, norms


def make_optimizer(
    model: torch.nn.Module, tc: PriceTrainConfig, total_updates: int, device: torch.device
) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler]:
    """AdamW (fused on GPU) with linear warm-up and cosine decay."""
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=tc.lr, weight_decay=tc.weight_decay, fused=device.type == "cuda"
    )
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: lr_lambda(s, tc.warmup_steps, total_updates)
    )
    return optimizer, scheduler


def steps_per_epoch(n_samples: int, tc: PriceTrainConfig, world: int = 1) -> int:
    """Batches per worker per epoch (capped by ``max_steps_per_epoch``)."""
    cap = tc.max_steps_per_epoch or 1 << 30
    return max(1, min(cap, n_samples // (tc.batch_size * world)))


@dataclass
class PriceRun:
    """What the stage-1 loop trains with (``PriceRun.start``): the data, the seeded model on
    its device, the steps per epoch, the optimizer and its schedule."""

    spec: PriceRunSpec
    data: PriceData
    device: torch.device
    autocast: Any
    """The autocast context factory of ``spec.train.bf16`` on ``device``."""
    model: PriceTransformer
    """The bare model (the loop trains it DDP-wrapped / compiled under a ``Session``)."""
    steps: int
    """Batches per worker per epoch, the same on every worker."""
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler

    @classmethod
    def start(
        cls,
        spec: PriceRunSpec,
        launch: PriceLaunch | None = None,
        rank: int = 0,
        world: int = 1,
        data: PriceData | None = None,
    ) -> PriceRun:
        """Seed, build the data (unless given) and the model (from ``init_checkpoint``'s
        weights when set), and size the schedule over every worker's windows."""
        tc = spec.train
        launch = PriceLaunch() if launch is None else launch
        torch.manual_seed(tc.seed + rank)
        data = build_price_data(spec) if data is None else data
        use_gpu = torch.cuda.is_available() if launch.use_gpu is None else launch.use_gpu
        device, autocast = _device_and_autocast(use_gpu, tc.bf16)
        model = spec.new_model()
        if tc.init_checkpoint is not None:
            model.load_state_dict(load_checkpoint(tc.init_checkpoint)["model"])
        model = model.to(device)
        # Every worker takes the same number of steps (DDP): from the windows of all shards.
        (n_train,) = _all_reduce([float(len(data.train))], device)
        steps = steps_per_epoch(int(n_train), tc, world)
        updates = math.ceil(steps / tc.grad_accum) * tc.epochs  # optimizer steps in the run
        optimizer, scheduler = make_optimizer(model, tc, updates, device)
        return cls(spec, data, device, autocast, model, steps, optimizer, scheduler)

    def restore(self, state: dict[str, Any]) -> int:
        """Load a checkpoint's model, optimizer and schedule; returns the epoch to go on from."""
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        return int(state["epoch"]) + 1

    def save(self, directory: Path, epoch: int, metrics: dict[str, float]) -> Path:
        """``save_checkpoint`` of the run at the end of ``epoch`` into ``directory``."""
        return save_checkpoint(
            directory,
            self.model,
            self.optimizer,
            self.scheduler,
            epoch,
            self.spec,
            self.data,
            metrics,
        )


def _validate(
    model: torch.nn.Module,
    data: PriceData,
    spec: PriceRunSpec,
    device: torch.device,
    autocast: Any,
    n_valid: int,
) -> dict[str, float]:
    """The epoch's validation metrics, on ``eval_samples`` windows in all when that is set
    (this worker's shard evaluates its share of them: its part of the ``n_valid`` windows
    of all shards)."""
    tc = spec.train
    share = tc.eval_samples
    if share is not None:
        share = math.ceil(share * len(data.valid) / max(n_valid, 1))
    return evaluate(
        model, data.valid, spec.model, tc.batch_size * 2, device, autocast, max_samples=share
    )


class Session:
    """Where the stage-1 loop runs. This base is in-process at world size 1: no resume, no
    wrapping, metrics kept only in the returned history."""

    rank: int = 0
    world: int = 1

    def restore(self) -> dict[str, Any] | None:
        """The checkpoint state to resume from, or None to start fresh."""
        return None

    def prepare(self, model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
        """The model as the loop trains it (DDP-wrapped under Ray Train)."""
        return model

    def report(
        self, epoch: int, epochs: int, metrics: dict[str, float], save: Callable[[Path], Path]
    ) -> None:
        """End of epoch ``epoch`` (0-based) of ``epochs``; ``save(directory)`` writes the
        checkpoint when one is wanted."""


class RaySession(Session):
    """A Ray Train worker: resume from Ray's checkpoint, DDP, ``ray.train.report``."""

    def __init__(self) -> None:
        import ray.train

        ctx = ray.train.get_context()
        self.rank, self.world = ctx.get_world_rank(), ctx.get_world_size()
        self.name = ctx.get_experiment_name()

    def restore(self) -> dict[str, Any] | None:
        import ray.train

        checkpoint = ray.train.get_checkpoint()
        if checkpoint is None:
            return None
        with checkpoint.as_directory() as directory:
            state = load_checkpoint(directory)
        if self.rank == 0:
            print(f"[stage 1] resumed from checkpoint at epoch {state['epoch']}")
        return state

    def prepare(self, model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
        import ray.train.torch

        if self.world > 1 or device.type == "cuda":
            return ray.train.torch.prepare_model(model)
        return model

    def report(
        self, epoch: int, epochs: int, metrics: dict[str, float], save: Callable[[Path], Path]
    ) -> None:
        import ray.train

        if self.rank != 0:
            ray.train.report(metrics)
            return
        print(
            f"[stage 1] epoch {epoch + 1}/{epochs} train_loss {metrics['train_loss']:.3e} "
            f"val_loss {metrics['val_loss']:.3e} (zero forecast {metrics['zero_loss']:.3e}, "
            f"ratio {metrics['loss_ratio']:.3f}) dir_acc {metrics['dir_acc']:.3f} "
            f"(base {metrics['dir_base']:.3f}) {metrics['samples_per_s']:.0f} samples/s"
        )
        record_price_throughput(metrics["samples_per_s"], run=self.name)
        with tempfile.TemporaryDirectory() as tmp:
            save(Path(tmp))
            ray.train.report(metrics, checkpoint=ray.train.Checkpoint.from_directory(tmp))


def run_price_training(
    spec: PriceRunSpec,
    launch: PriceLaunch | None = None,
    session: Session | None = None,
    data: PriceData | None = None,
    track: Any = None,
) -> tuple[PriceTransformer, list[dict[str, float]], PriceData]:
    """THE stage-1 training loop, in-process (``Session()``, world size 1) or on a Ray Train
    worker (``RaySession()``): set up, resume if the session has a checkpoint, then per epoch
    train on this rank's shard, all-reduce the loss, validate and report. Returns the
    trained model (eval mode, unwrapped), the per-epoch metrics and the data.

    ``data`` (built from the spec when None) is read, never written: under Ray Train it is
    this worker's shard (``PriceData.shard``), fetched from the object store. ``data_mib``
    in the metrics is the largest worker's share of the panel, in MiB."""
    launch = PriceLaunch() if launch is None else launch
    session = Session() if session is None else session
    tc = spec.train
    rank, world = session.rank, session.world
    if launch.threads_per_worker is not None:
        torch.set_num_threads(launch.threads_per_worker)
    run = PriceRun.start(spec, launch, rank, world, data)
    data, device, autocast = run.data, run.device, run.autocast
    state = session.restore()
    start_epoch = 0 if state is None else run.restore(state)
    model = session.prepare(run.model, device)
    if tc.compile:
        model = torch.compile(model)

    (data_mib,) = _all_reduce([data.nbytes / 2**20], device, op="max")
    (n_valid,) = _all_reduce([float(len(data.valid))], device)
    history: list[dict[str, float]] = []
    for epoch in range(start_epoch, tc.epochs):
        t0 = time.perf_counter()
        total_loss, seen, norms = train_epoch(
            model,
            run.optimizer,
            run.scheduler,
            data.train,
            spec,
            epoch,
            run.steps,
            device,
            autocast,
            rank,
        )
        train_loss, train_seen = _all_reduce([total_loss, float(seen)], device)
        seconds = time.perf_counter() - t0
        metrics = {
            "epoch": epoch,
            "train_loss": train_loss / max(train_seen, 1.0),
            "samples_per_s": train_seen / seconds,
            "lr": run.scheduler.get_last_lr()[0],
            "data_mib": data_mib,
            **_validate(run.model, data, spec, device, autocast, int(n_valid)),
        }
        if norms:
            log.info("grad norms epoch %d: %s", epoch, {k: round(v, 4) for k, v in norms.items()})
            metrics["grad_norm_total"] = norms["total"]
        history.append(metrics)
        if track is not None:
            track.metrics(metrics, step=epoch)
        save = functools.partial(run.save, epoch=epoch, metrics=metrics)
        session.report(epoch, tc.epochs, metrics, save)
    return run.model.eval(), history, data


def train_loop_per_worker(config: dict[str, Any]) -> None:
    """The Ray Train worker: ``run_price_training`` in a ``RaySession``, on the data the
    driver shared through the object store (one read-only copy per node)."""
    import ray

    from quantray.train.tracking import worker_run

    spec = PriceRunSpec.from_dict(config["spec"])
    session = RaySession()
    # MLflow (--mlflow) through Ray's setup_mlflow: the rank-0 worker logs, others no-op.
    track = worker_run(config.get("mlflow"), session.name, spec.to_dict())
    shards = config.get("data")  # [ObjectRef] per rank: a list, so Ray passes the references
    data = ray.get(shards[session.rank]) if shards else None  # fetches only this rank's rows
    launch = PriceLaunch.from_dict(config.get("launch", {}))
    run_price_training(spec, launch, session, data, track)
    track.finish()


def default_data_path(path: str | Path | None) -> str:
    return str(SAMPLE_PATH if path is None else Path(path).resolve())


def fit_price_model(
    spec: PriceRunSpec,
    *,
    storage_path: str,
    name: str,
    num_workers: int = 2,
    use_gpu: bool = False,
    max_failures: int = 2,
    tracking: MlflowTarget | None = None,
) -> Any:
    """Run TorchTrainer with ``num_workers`` DDP workers; returns Ray's ``Result``.

    The driver builds the windows' data once, cuts it into one shard per worker
    (``PriceData.shard``: equal training-window counts, each with only the panel rows its
    windows read) and puts each shard in the object store; a worker fetches only its own,
    so a node holds about 1/num_workers of the panel per worker placed on it.

    Running again with the same ``storage_path`` and ``name`` resumes from the latest
    checkpoint of that run. With ``tracking``, the rank-0 worker records an MLflow run
    tagged ``name`` (the spec as params, every epoch's metrics)."""
    import ray
    from ray.train import CheckpointConfig, FailureConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchConfig, TorchTrainer

    threads = max(1, (os.cpu_count() or 2) // max(1, num_workers))
    launch = PriceLaunch(use_gpu=use_gpu, threads_per_worker=threads)
    trainer = TorchTrainer(
        train_loop_per_worker,
        train_loop_config={
            "spec": spec.to_dict(),
            "launch": launch.to_dict(),
            "data": [ray.put(s) for s in build_price_data(spec).shard(num_workers)],
            "mlflow": None if tracking is None else tracking.to_dict(),
        },
        scaling_config=ScalingConfig(num_workers=num_workers, use_gpu=use_gpu),
        torch_config=TorchConfig(backend="nccl" if use_gpu else "gloo"),
        run_config=RunConfig(
            name=name,
            storage_path=storage_path,
            failure_config=FailureConfig(max_failures=max_failures),
            checkpoint_config=CheckpointConfig(num_to_keep=2),
        ),
    )
    return trainer.fit()


def fit_in_process(
    spec: PriceRunSpec, launch: PriceLaunch | None = None
) -> tuple[PriceTransformer, list[dict[str, float]], PriceData]:
    """Train on this process without Ray (tests, benchmarks, small Tune trials): the same
    loop as the Ray path (``run_price_training``) at world size 1, minus checkpoints."""
    return run_price_training(spec, launch)


def fit_and_save(spec: PriceRunSpec, directory: Path, launch: PriceLaunch | None = None) -> Path:
    """Train in-process (no Ray) and write a checkpoint directory; returns its checkpoint file.

    Used where a small stage-1 model is needed without a Ray Train run (stage 2 with no
    feature cache given, Tune trials that share one model per architecture)."""
    model, history, data = fit_in_process(spec, launch)
    return save_checkpoint(
        directory, model, None, None, spec.train.epochs - 1, spec, data, history[-1]
    )
