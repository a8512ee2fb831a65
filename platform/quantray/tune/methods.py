"""The learned methods of the comparison on equal terms: same budget, same selection, same tuning.

``train_method`` trains one method ("gru" | "ppo" | "sac") for one seed on the TRAIN split
to a ``TrainingBudget`` and keeps its best VALIDATION checkpoint (the GRU through
``train_strategy(budget=...)``, PPO / SAC through ``quantray.rl.budget.train_rl``: the same
validation episodes, the same score, the same evaluation marks). ``tune_method`` gives a
method N Ray Tune trials (OptunaSearch, TPE) over its own hyperparameters
(``MethodSpace``), each a ``train_method`` run under the same budget, and returns the
parameters with the best validation score. Nothing here touches the test split.

Parameters per method:

* gru: the main job's strategy space (``quantray.tune.space.suggest_strategy``: five loss
  weights, Gumbel temperature, GRU size, lr).
* ppo: lr, entropy coefficient, gamma, GAE lambda, clip, minibatch (``PPOSettings`` fields).
* sac: lr, tau, initial alpha, training intensity (updates per env step) (``SACSettings``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from quantray.config import (
    ConfigError,
    CostConfig,
    StrategyConfig,
    TrainingBudget,
    check_choice,
)
from quantray.config.rl import LEARNED_METHODS
from quantray.data import Episodes, Task, load_task
from quantray.train.strategy import policy_positions, score_key, train_strategy
from quantray.tune.space import STRATEGY_PARAMS, suggest_strategy
from quantray.tune.tuner import OBJECTIVE

SELECT = score_key(StrategyConfig())
"""The one validation score every method selects its checkpoints and trials by (the GRU's
default, ``valid_ir``: information ratio of the pooled daily active return vs buy-and-hold)."""
GRU_HIDDEN_SIZES = (32, 64)
GRU_SMOKE_BATCH = 16
"""Smoke runs: 16 episodes (320 episode-days) per GRU step, so tiny budgets still take steps."""


@dataclass
class BudgetRun:
    """One method trained for one seed to a ``TrainingBudget``, at its validation-selected
    checkpoint (single-asset ``MethodRun`` and ``portfolio_methods.PortfolioMethodRun``)."""

    score: ClassVar[str]
    """The validation score the checkpoint (and a Tune trial) is selected by."""
    method: str
    seed: int
    history: list[dict[str, float]]
    """One row per validation: ``samples`` (env-days), ``train_seconds``, valid_* metrics."""
    best: dict[str, float]
    samples: int
    """Env-days seen in training (RL env steps; strategy episodes x E)."""
    train_seconds: float
    """Seconds of training steps (validation excluded)."""
    seconds: float
    """Wall-clock of the whole run."""
    granularity: float
    """Env-days one training granule adds (strategy step / PPO iteration / SAC sampling
    round): a samples budget is met to within this much."""

    def curve(self) -> pd.DataFrame:
        """The learning curve: one row per validation."""
        frame = pd.DataFrame(self.history)
        frame.insert(0, "seed", self.seed)
        frame.insert(0, "method", self.method)
        columns = ["samples", "train_seconds", self.score, "valid_sharpe"]
        return frame[["method", "seed", *dict.fromkeys(columns)]]

    def trial_metrics(self) -> dict[str, float]:
        """What a method-search trial reports: ``OBJECTIVE`` (the selected checkpoint's score,
        NaN as 0, maximised), the score itself, ``samples`` and ``train_seconds``."""
        value = float(self.best.get(self.score, float("nan")))
        return {
            OBJECTIVE: value if math.isfinite(value) else 0.0,
            self.score: value,
            "samples": float(self.samples),
            "train_seconds": self.train_seconds,
        }


@dataclass
class MethodRun(BudgetRun):
    """One single-asset method trained for one seed to the budget, its validation-selected
    checkpoint."""

    score: ClassVar[str] = SELECT
    play: Callable[[Task, Episodes], np.ndarray] = field(repr=False)
    """Positions [n, E] of the selected checkpoint on a fixed episode list."""
    state: dict[str, Any] | None = field(default=None, repr=False)
    """Weights of the selected checkpoint (GRU: ``StrategyGRU`` state dict; PPO / SAC: the
    learner's full RLModule weights): ``train_method(init_state=...)`` warm-starts from it."""


@dataclass
class MethodSpace:
    """Optuna define-by-run space of one method (a picklable callable, as Tune needs): it
    samples the method's parameters (``suggest``) and returns the trial's constants."""

    method: str
    constants: dict[str, Any] = field(default_factory=dict)

    def __call__(self, trial: Any) -> dict[str, Any]:
        self.suggest(trial)
        return dict(self.constants)

    def suggest(self, trial: Any) -> None:
        """Sample the single-asset ``method``'s parameters on the Optuna ``trial``."""
        if self.method == "gru":
            suggest_strategy(trial, GRU_HIDDEN_SIZES)
        elif self.method == "ppo":
            trial.suggest_float("lr", 1e-5, 1e-3, log=True)
            trial.suggest_float("entropy_coeff", 1e-4, 0.05, log=True)
            trial.suggest_float("gamma", 0.9, 0.999)
            trial.suggest_float("lambda_", 0.8, 1.0)
            trial.suggest_float("clip_param", 0.1, 0.3)
            trial.suggest_categorical("minibatch_size", [64, 128, 256])
        else:
            trial.suggest_float("lr", 1e-4, 1e-3, log=True)
            trial.suggest_float("tau", 1e-3, 2e-2, log=True)
            trial.suggest_float("initial_alpha", 1e-3, 0.2, log=True)
            trial.suggest_float("updates_per_step", 1 / 16, 1.0, log=True)

    def params_of(self, config: dict[str, Any]) -> dict[str, Any]:
        """The sampled parameters in a trial config (constants removed)."""
        return {k: v for k, v in config.items() if k not in self.constants}


def _rl_settings(
    method: str, params: dict[str, Any], smoke: bool, overrides: dict[str, Any]
) -> Any:
    from quantray.config.rl import SETTINGS

    cls = SETTINGS[method]
    base = (cls.smoke() if smoke else cls()).replace(**overrides)
    settings = base.replace(**params)
    if method == "ppo" and settings.minibatch_size > settings.train_batch_size:
        settings = settings.replace(minibatch_size=settings.train_batch_size)
    return settings


def method_settings(
    method: str,
    params: dict[str, Any],
    task: Task,
    smoke: bool,
    overrides: dict[str, Any] | None = None,
) -> Any:
    """The settings object a method trains with: defaults (smoke sizes in smoke runs), then
    the user's ``overrides`` (fields of the method's settings class), then the tuned
    ``params`` over them (unknown names are a ConfigError with a did-you-mean hint)."""
    check_choice("method_settings", "method", method, LEARNED_METHODS)
    overrides = dict(overrides or {})
    if method == "gru":
        unknown = set(params) - set(STRATEGY_PARAMS)
        if unknown:
            raise ConfigError(
                f"gru parameters: {sorted(unknown)} are not tuned here; expected a subset of "
                f"{', '.join(STRATEGY_PARAMS)}"
            )
        base = StrategyConfig(feature_dim=task.dim, select_by=SELECT.removeprefix("valid_"))
        if smoke:
            base = base.replace(batch_size=GRU_SMOKE_BATCH, hidden_size=16, head_hidden=16)
        return base.replace(**overrides).replace(**params)
    return _rl_settings(method, params, smoke, overrides)


def train_method(
    method: str,
    task: Task,
    budget: TrainingBudget,
    *,
    cost: str | CostConfig,
    params: dict[str, Any] | None = None,
    seed: int = 0,
    smoke: bool = False,
    log: Callable[[str], None] | None = None,
    overrides: dict[str, Any] | None = None,
    init_state: dict[str, Any] | None = None,
) -> MethodRun:
    """Train ``method`` for ``seed`` to ``budget`` on the train split, keep the best
    validation checkpoint. PPO / SAC need a running Ray. ``cost``: a preset name or a
    CostConfig. ``overrides``: settings fields the user fixed (``method_settings``).
    ``init_state``: an earlier run's ``MethodRun.state`` (same method and settings) to
    warm-start from (an incremental walk-forward update)."""
    settings = method_settings(method, dict(params or {}), task, smoke, overrides)
    # The same run for either trainer: budget, seed, progress log, warm start.
    run_args = {"budget": budget, "seed": seed, "log": log, "init_state": init_state}
    if method == "gru":
        cost_config = CostConfig.preset(cost) if isinstance(cost, str) else cost
        result = train_strategy(task, settings, cost_config, **run_args)
        model = result.model
        history = [{k: float(v) for k, v in row.items()} for row in result.history]
        days_per_step = settings.batch_size * task.data.episode_len
        return MethodRun(
            method,
            seed,
            history,
            {k: float(v) for k, v in result.best.items()},
            samples=result.samples * task.data.episode_len,
            train_seconds=result.train_seconds,
            seconds=result.seconds,
            granularity=days_per_step,
            play=lambda t, eps: policy_positions(model, eps, t.table, cost_config),
            state=model.state_dict(),
        )
    from quantray.rl.budget import train_rl

    run = train_rl(method, task, settings=settings, cost=cost, score=SELECT, **run_args)
    granularity = (
        settings.train_batch_size if method == "ppo" else settings.num_envs * task.data.episode_len
    )
    return MethodRun(
        method,
        seed,
        run.history,
        run.best,
        samples=run.samples,
        train_seconds=run.train_seconds,
        seconds=run.seconds,
        granularity=granularity,
        play=lambda t, eps: run.positions(t, eps, cost),
        state=run.learner_state,
    )


def method_trial(config: dict[str, Any]) -> None:
    """Tune function trainable: one ``train_method`` run of the sampled parameters, reported
    once with its selected validation score (every trial uses the full budget: no pruning,
    so each configuration is judged on equal terms)."""
    import torch
    from ray import tune

    space = MethodSpace(config["method"], {k: config[k] for k in config["constant_keys"]})
    torch.set_num_threads(1)
    task = load_task(config["data"], features=config["features"])
    run = train_method(
        config["method"],
        task,
        params=space.params_of(config),
        overrides=config["overrides"],
        **MethodSearch.run_args_of(config),
    )
    tune.report(run.trial_metrics())


@dataclass(frozen=True)
class MethodSearch:
    """How a comparison searches each method's hyperparameters: the same for every method
    (``tune_method``, ``portfolio_methods.tune_portfolio_method``)."""

    num_trials: int
    """Tune trials per method (OptunaSearch TPE), each trained to the full ``budget``."""
    budget: TrainingBudget
    """Every trial's training budget (the comparison's, so trials match the final runs)."""
    cost: str
    """Cost preset name every trial trains and validates with."""
    storage_path: str
    """Ray storage for the trials (a local path or URI)."""
    seed: int = 0
    """Seed of the TPE sampler and of every trial's training."""
    smoke: bool = False
    """Smoke-test sizes (``method_settings``)."""
    max_concurrent: int = 2
    """Trials running at once (each takes one CPU)."""

    def __post_init__(self) -> None:
        if self.num_trials < 1 or self.max_concurrent < 1:
            raise ConfigError(
                f"MethodSearch: num_trials ({self.num_trials}) and max_concurrent "
                f"({self.max_concurrent}) must be >= 1"
            )

    def constants(self, method: str, **task: Any) -> dict[str, Any]:
        """A trial config's fixed part: ``method``, the run arguments (``run_args_of``), the
        ``task`` arguments and ``constant_keys`` naming them all (the rest is sampled)."""
        constants = {
            "method": method,
            **task,
            "budget": self.budget.to_dict(),
            "cost": self.cost,
            "seed": self.seed,
            "smoke": self.smoke,
        }
        constants["constant_keys"] = [*constants, "constant_keys"]
        return constants

    @staticmethod
    def run_args_of(config: dict[str, Any]) -> dict[str, Any]:
        """The training arguments a trial config carries (``budget``, ``cost``, ``seed``,
        ``smoke``), as ``train_method`` / ``train_portfolio_method`` take them."""
        return {
            "budget": TrainingBudget.from_dict(config["budget"]),
            "cost": config["cost"],
            "seed": int(config["seed"]),
            "smoke": bool(config["smoke"]),
        }

    def run(
        self, trainable: Callable[[dict[str, Any]], None], space: Any, *, name: str, score: str
    ) -> tuple[dict[str, Any], pd.DataFrame]:
        """The one method search of compare.py (single-asset and portfolio): ``num_trials``
        Tune trials of ``trainable`` sampled by Optuna TPE from ``space`` (a define-by-run
        callable with ``method``, ``constants`` and ``params_of``), every trial trained to the
        full budget and reporting ``BudgetRun.trial_metrics`` once. Returns (best parameters,
        one row per finished trial, best first)."""
        import optuna
        from ray import tune
        from ray.tune.search.optuna import OptunaSearch

        sampler = optuna.samplers.TPESampler(
            seed=self.seed, n_startup_trials=min(5, self.num_trials)
        )
        searcher = OptunaSearch(space=space, metric=OBJECTIVE, mode="max", sampler=sampler)
        tuner = tune.Tuner(
            tune.with_resources(trainable, {"cpu": 1}),
            tune_config=tune.TuneConfig(
                search_alg=searcher,
                num_samples=self.num_trials,
                max_concurrent_trials=self.max_concurrent,
                trial_dirname_creator=lambda trial: f"trial_{trial.trial_id}",
            ),
            run_config=tune.RunConfig(
                name=name,
                storage_path=self.storage_path,
                failure_config=tune.FailureConfig(max_failures=0),
                verbose=0,
            ),
        )
        grid = tuner.fit()
        rows = []
        for result in grid:
            if result.error is not None or not result.metrics:
                continue
            reported = (OBJECTIVE, score, "samples", "train_seconds")
            rows.append(
                {
                    "method": space.method,
                    **space.params_of(result.config),
                    **{k: result.metrics[k] for k in reported},
                }
            )
        if not rows:
            raise RuntimeError(
                f"every {space.method} trial of {name} failed; see {self.storage_path}"
            )
        frame = pd.DataFrame(rows).sort_values(OBJECTIVE, ascending=False, ignore_index=True)
        best = max(grid, key=lambda r: r.metrics.get(OBJECTIVE, -np.inf) if r.metrics else -np.inf)
        return space.params_of(best.config), frame


def tune_method(
    method: str,
    search: MethodSearch,
    *,
    data: str | None,
    features: str | None,
    overrides: dict[str, Any] | None = None,
) -> tuple[dict[str, Any], pd.DataFrame]:
    """``search.num_trials`` Tune trials of ``method`` (OptunaSearch TPE over
    ``MethodSpace``), each trained to the search's budget and scored on validation. Returns
    (best parameters, one row per trial with its parameters and validation score). Needs a
    running Ray; ``data`` / ``features`` are the paths (None = bundled / raw) each trial
    loads its Task from; ``overrides``: settings fields the user fixed."""
    check_choice("tune_method", "method", method, LEARNED_METHODS)
    constants = search.constants(
        method, data=data, features=features, overrides=dict(overrides or {})
    )
    return search.run(
        method_trial, MethodSpace(method, constants), name=f"compare_tune_{method}", score=SELECT
    )
