"""The main job's search: one Tune trial = stage-1 features (shared) + one stage-2 training.

A trial samples a stage-1 architecture and stage-2 settings (``quantray.tune.space``), gets
the frozen-feature cache of that architecture from a content-addressed store under the
storage path (trained once per architecture: the first trial that needs it trains it while
the others wait on a file lock, then all reuse it), trains the GRU strategy with the
sampled loss weights and reports validation metrics every epoch. The search is Optuna's
TPE through ``OptunaSearch`` (single objective: the validation score; or score vs max
drawdown), pruned by ASHA on the same score, with a concurrency limit and per-trial
CPU / fractional-GPU resources. The test split is never touched by a trial.

The score (``TuneSettings.objective`` = ``StrategyConfig.select_by``) is by default the
pooled validation information ratio against buy-and-hold, so a trial that learns to always
be fully invested scores 0 instead of the market's Sharpe; ``sharpe`` selects on the pooled
validation Sharpe. Search metrics (always finite, so Optuna and ASHA never see NaN):
``objective`` is the best validation score so far (NaN counted as 0); ``objective_drawdown``
is the pooled validation max drawdown of that best epoch. Every improvement of a trial writes
its equal-weight daily validation path to ``valid_paths_dir`` (Hansen's SPA test over all
trials, ASHA-stopped ones included, reads them after the search).
"""

from __future__ import annotations

import json
import math
import os
import socket
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from quantray.config import (
    EVENTS_FILE,
    LOSS_WEIGHTS,
    CostConfig,
    StrategyConfig,
    TuneSettings,
    get_budget,
)
from quantray.data import load_task
from quantray.features.store import ensure_stage1_features, small_stage1_spec, spec_key
from quantray.integrity import replace_atomically
from quantray.train.monitoring import trial_metrics_callback
from quantray.train.price import PriceRunSpec
from quantray.train.strategy import score_key, train_strategy
from quantray.train.tracking import tune_callbacks
from quantray.tune.space import SearchSpace, stage1_model

OBJECTIVE = "objective"
"""Search metric (maximised): best validation score so far (``select_by``), NaN counted as 0."""
DRAWDOWN = "objective_drawdown"
"""Second objective with --multi-objective (minimised): validation max drawdown of the best epoch."""
TRIAL_FILE = "trial.json"
"""Written beside ``strategy.pt`` in every finished trial's checkpoint: how to rebuild it."""
STRATEGY_FILE = "strategy.pt"


def stage1_spec(config: dict[str, Any]) -> PriceRunSpec:
    """The stage-1 run of a trial config: ``small_stage1_spec`` with the sampled architecture
    and the budget's epochs and step cap (same spec => same content key => one shared
    model)."""
    budget = get_budget(config["budget"])
    base = small_stage1_spec(config["data_path"], smoke=budget.smoke_stage1, seed=config["seed"])
    train = base.train.replace(
        epochs=budget.stage1_epochs,
        max_steps_per_epoch=budget.stage1_steps,
        eval_samples=budget.stage1_eval_samples,
    )
    return PriceRunSpec(stage1_model(config), train, base.data_path, base.data, base.split)


def strategy_config(config: dict[str, Any], feature_dim: int) -> StrategyConfig:
    """The ``StrategyConfig`` of a trial: sampled weights / tau / GRU size / lr + the budget."""
    budget = get_budget(config["budget"])
    sampled = {k: config[k] for k in (*LOSS_WEIGHTS, "tau_start", "hidden_size", "lr")}
    sampled["hidden_size"] = int(sampled["hidden_size"])
    return StrategyConfig(
        feature_dim=feature_dim,
        epochs=budget.epochs,
        patience=budget.patience,
        select_by=config.get("select_by", "ir"),
        **sampled,
    )


def save_valid_path(directory: str, trial_id: str, daily: Any) -> None:
    """Atomically (re)write one trial's best daily validation path as ``<trial_id>.npz``."""
    if not directory:
        return
    target = Path(directory) / f"{trial_id}.npz"
    target.parent.mkdir(parents=True, exist_ok=True)
    dates = daily.index.to_numpy().astype("datetime64[D]")
    replace_atomically(target, lambda tmp: np.savez(tmp, dates=dates, values=daily.to_numpy()))


def load_valid_paths(directory: str | Path) -> pd.DataFrame:
    """[T, M] every trial's saved daily validation path, one column per trial id."""
    columns = {}
    for path in sorted(Path(directory).glob("*.npz")):
        with np.load(path) as f:
            columns[path.stem] = pd.Series(f["values"], index=pd.DatetimeIndex(f["dates"]))
    return pd.DataFrame(columns)


def _log_event(path: str, event: dict[str, Any]) -> None:
    # One short line per write with O_APPEND: concurrent trials never interleave lines.
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a") as f:
            f.write(json.dumps(event, default=str) + "\n")


def search_metrics(metrics: dict[str, float], best_drawdown: float) -> dict[str, float]:
    """Epoch metrics plus the two finite search metrics (see the module docstring)."""
    best = metrics.get("best_valid_score", float("nan"))
    return {
        **metrics,
        OBJECTIVE: best if math.isfinite(best) else 0.0,
        DRAWDOWN: best_drawdown if math.isfinite(best_drawdown) else 1.0,
    }


def run_trial(
    config: dict[str, Any],
    *,
    report: Callable[[dict[str, float]], None] | None = None,
    checkpoint_dir: Path | None = None,
    trial_id: str = "local",
    resources: dict[str, float] | None = None,
) -> dict[str, float]:
    """One trial without Ray: shared stage-1 features, stage-2 training, per-epoch ``report``.

    Writes ``strategy.pt`` and ``trial.json`` (everything needed to rebuild the trial) into
    ``checkpoint_dir`` when given; returns the selected epoch's metrics plus search metrics,
    ``stage1_trained`` (1.0 if this trial trained its stage-1 model) and timings."""
    started = time.time()
    events = config.get("events_log", "")
    base_event = {"trial_id": trial_id, "pid": os.getpid(), "host": socket.gethostname()}
    _log_event(events, {**base_event, "event": "start", "time": started, "resources": resources})
    # Deterministic and fair: a trial uses exactly the threads it reserved.
    torch.set_num_threads(int(config.get("torch_threads", 1)))
    budget = get_budget(config["budget"])
    spec = stage1_spec(config)
    cache, trained = ensure_stage1_features(spec, config["cache_root"])
    stage1_seconds = time.time() - started
    task = load_task(config["data_path"], features=cache)
    cost = CostConfig.preset(config["cost"])
    sconf = strategy_config(config, task.dim)

    key = score_key(sconf)
    drawdown_at_best = [float("nan")]

    def on_epoch(metrics: dict[str, float]) -> None:
        if metrics[key] == metrics["best_valid_score"]:
            drawdown_at_best[0] = metrics["valid_max_drawdown"]
        if report is not None:
            report(search_metrics(metrics, drawdown_at_best[0]))

    def on_best(daily: Any) -> None:
        save_valid_path(config.get("valid_paths_dir", ""), trial_id, daily)

    result = train_strategy(
        task,
        sconf,
        cost,
        seed=int(config["seed"]),
        steps_per_epoch=budget.steps_per_epoch,
        report=on_epoch,
        on_best=on_best,
        checkpoint=None if checkpoint_dir is None else Path(checkpoint_dir) / STRATEGY_FILE,
        log=None,
    )
    best = {k: float(v) for k, v in result.best.items()}
    final = {
        **search_metrics({**best, "best_valid_score": best[key]}, float("nan")),
        DRAWDOWN: best["valid_max_drawdown"] if math.isfinite(best["valid_max_drawdown"]) else 1.0,
        "best_epoch": best["epoch"],
        "epochs_run": float(len(result.history)),
        "stage1_trained": float(trained),
        "stage1_seconds": stage1_seconds,
        "stage2_seconds": result.seconds,
        "final": 1.0,
    }
    if checkpoint_dir is not None:
        info = {
            "trial_id": trial_id,
            "config": config,
            "stage1_key": spec_key(spec),
            "stage1_spec": spec.to_dict(),
            "feature_cache": str(cache),
            "strategy": sconf.to_dict(),
            "cost": cost.to_dict(),
            "seed": int(config["seed"]),
            "steps_per_epoch": budget.steps_per_epoch,
            "torch_threads": int(config.get("torch_threads", 1)),
            "task": task.describe(),
            "best": best,
        }
        (Path(checkpoint_dir) / TRIAL_FILE).write_text(json.dumps(info, indent=2, default=str))
    _log_event(
        events,
        {
            **base_event,
            "event": "end",
            "time": time.time(),
            "stage1_key": spec_key(spec),
            "stage1_trained": trained,
            OBJECTIVE: final[OBJECTIVE],
        },
    )
    return final


def strategy_trial(config: dict[str, Any]) -> None:
    """The Tune function trainable: ``run_trial`` reporting through ``ray.tune.report``.

    Reports once per stage-2 epoch, then once more with the selected epoch's metrics and
    the strategy checkpoint (so the final result of a finished trial is its selection)."""
    import ray
    from ray import tune

    trial_id = tune.get_context().get_trial_id()
    resources = ray.get_runtime_context().get_assigned_resources()
    with tempfile.TemporaryDirectory() as tmp:
        final = run_trial(
            config,
            report=tune.report,
            checkpoint_dir=Path(tmp),
            trial_id=trial_id,
            resources=resources,
        )
        tune.report(final, checkpoint=tune.Checkpoint.from_directory(tmp))


def trial_dirname(trial: Any) -> str:
    """Short trial directory names (Tune's default embeds every config value, paths too)."""
    return f"trial_{trial.trial_id}"


def _resources(settings: TuneSettings) -> dict[str, float]:
    return {"cpu": settings.cpus_per_trial, "gpu": settings.gpus_per_trial}


def make_tuner(
    settings: TuneSettings,
    trainable: Callable[[dict[str, Any]], None] = strategy_trial,
    space: SearchSpace | None = None,
    reuse_actors: bool = True,
) -> Any:
    """A fresh ``ray.tune.Tuner``: OptunaSearch (TPE) under a ConcurrencyLimiter, ASHA on
    the validation Sharpe, per-trial resources, actors reused between trials."""
    import optuna
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler
    from ray.tune.search import ConcurrencyLimiter
    from ray.tune.search.optuna import OptunaSearch

    budget = settings.budget
    space = space or SearchSpace(budget, settings.constants())
    metric: str | list[str] = [OBJECTIVE, DRAWDOWN] if settings.multi_objective else OBJECTIVE
    mode: str | list[str] = ["max", "min"] if settings.multi_objective else "max"
    sampler = optuna.samplers.TPESampler(seed=settings.seed, n_startup_trials=budget.startup_trials)
    searcher = OptunaSearch(space=space, metric=metric, mode=mode, sampler=sampler)
    limiter = ConcurrencyLimiter(
        searcher, max_concurrent=settings.max_concurrent or budget.max_concurrent
    )
    # training_iteration counts reports: one per epoch plus the final selection report.
    scheduler = ASHAScheduler(
        time_attr="training_iteration",
        metric=OBJECTIVE,
        mode="max",
        max_t=budget.epochs + 1,
        grace_period=min(budget.grace_period, budget.epochs),
        reduction_factor=3,
    )
    return tune.Tuner(
        tune.with_resources(trainable, _resources(settings)),
        tune_config=tune.TuneConfig(
            search_alg=limiter,
            scheduler=scheduler,
            num_samples=settings.num_samples or budget.num_samples,
            reuse_actors=reuse_actors,
            trial_dirname_creator=trial_dirname,
        ),
        run_config=tune.RunConfig(
            name=settings.name,
            storage_path=settings.storage_path,
            checkpoint_config=tune.CheckpointConfig(num_to_keep=1),
            failure_config=tune.FailureConfig(max_failures=1),
            callbacks=[
                trial_metrics_callback(settings.name, metric=OBJECTIVE),
                *tune_callbacks(settings.tracking, settings.name),
            ],
        ),
    )


def restore_tuner(
    settings: TuneSettings, trainable: Callable[[dict[str, Any]], None] = strategy_trial
) -> Any:
    """``Tuner.restore`` of ``settings.experiment_path``: finished trials are kept, unfinished
    and errored ones are resumed, the searcher continues from its saved state."""
    from ray import tune

    return tune.Tuner.restore(
        settings.experiment_path,
        trainable=tune.with_resources(trainable, _resources(settings)),
        resume_unfinished=True,
        resume_errored=True,
    )


def can_resume(settings: TuneSettings) -> bool:
    """Whether ``settings.experiment_path`` holds a search that ``restore_tuner`` can continue."""
    from ray import tune

    return bool(tune.Tuner.can_restore(settings.experiment_path))


def read_events(settings: TuneSettings) -> list[dict[str, Any]]:
    """The trial start/end lines of a local search (empty when none were written)."""
    path = Path(settings.experiment_path) / EVENTS_FILE
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
