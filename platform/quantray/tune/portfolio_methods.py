"""The portfolio methods of ``compare.py --task portfolio`` on equal terms: same budget, same
selection, same tuning, as ``tune.methods`` does for one asset.

``train_portfolio_method`` trains one method ("gru": the differentiable portfolio strategy;
"ppo" / "sac": RLlib on ``PortfolioEnv-v0``) for one seed on the TRAIN split to a
``TrainingBudget`` (env-days: one RL env step = one portfolio day = one day of one strategy
episode; or training seconds), validates at the budget's marks on the same fixed VALIDATION
list with the same score (``train.portfolio.SELECTION_METRIC``: pooled information ratio vs
1/N) and keeps the best validation weights. ``tune_portfolio_method`` gives a method N Ray Tune
trials (OptunaSearch, TPE) over its own hyperparameters under that budget and returns the
best parameters by validation. Nothing here touches the test split.

Parameters per method: gru: the portfolio search's loss weights, GRU size and lr
(``tune.portfolio.PortfolioSpace``); ppo / sac: ``rl.portfolio.PORTFOLIO_RL_PARAMS``.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from quantray.config import CostConfig, PortfolioConfig, TrainingBudget, check_choice
from quantray.config.rl import LEARNED_METHODS
from quantray.data.universe import PortfolioEpisodes, PortfolioTask, load_portfolio_task
from quantray.train.best_checkpoint import BestCheckpoint
from quantray.train.portfolio import SELECTION_METRIC, policy_weights, train_portfolio
from quantray.tune.methods import BudgetRun, MethodSearch, MethodSpace

SMOKE_STRATEGY = {"batch_size": 16, "hidden_size": 16}
"""Smoke runs: the strategy at small sizes so tiny budgets still take steps."""


@dataclass
class PortfolioMethodRun(BudgetRun):
    """One portfolio method trained for one seed to the budget, at its validation-selected
    weights."""

    score: ClassVar[str] = SELECTION_METRIC
    play: Callable[[PortfolioEpisodes], np.ndarray] = field(repr=False)
    """Target weights [n, E, N] of the selected weights on a fixed episode list."""


def train_portfolio_method(
    method: str,
    task: PortfolioTask,
    budget: TrainingBudget,
    *,
    cost: str,
    env_config: dict[str, Any],
    params: dict[str, Any] | None = None,
    seed: int = 0,
    smoke: bool = False,
) -> PortfolioMethodRun:
    """Train ``method`` for ``seed`` to ``budget`` on the train split; keep the best validation
    weights. ``cost``: a preset name; ``env_config``: ``PortfolioEnv`` arguments naming the
    same data, universe and features as ``task`` (PPO / SAC; they need a running Ray)."""
    check_choice("train_portfolio_method", "method", method, LEARNED_METHODS)
    params = dict(params or {})
    cost_config = CostConfig.preset(cost)
    if method == "gru":
        config = PortfolioConfig(**(SMOKE_STRATEGY if smoke else {})).replace(**params)
        result = train_portfolio(task, config, cost_config, seed=seed, budget=budget, log=None)
        model = result.model
        return PortfolioMethodRun(
            method,
            seed,
            result.history,
            result.best,
            samples=result.samples * task.episode_len,
            train_seconds=result.train_seconds,
            seconds=result.seconds,
            granularity=config.batch_size * task.episode_len,
            play=lambda eps: policy_weights(model, eps, task.task.table, cost_config),
        )
    return _train_rl(method, task, budget, cost, env_config, params, seed, smoke)


def _train_rl(
    algo_name: str,
    task: PortfolioTask,
    budget: TrainingBudget,
    cost: str,
    env_config: dict[str, Any],
    params: dict[str, Any],
    seed: int,
    smoke: bool,
) -> PortfolioMethodRun:
    """PPO / SAC iterations until the budget is used, validated at its marks
    (``rl.budget.budget_rounds``, as ``rl.budget.train_rl`` does for one asset); the best
    validation weights are kept."""
    from quantray.rl.budget import budget_rounds
    from quantray.rl.portfolio import module_weights, portfolio_config
    from quantray.train.portfolio import validation_metrics

    started = time.perf_counter()
    cost_config = CostConfig.preset(cost)
    config = portfolio_config(
        algo_name,
        {**env_config, "cost": cost, "split": "train"},
        smoke=smoke,
        seed=seed,
        training=params,
    )
    cap = env_config.get("cap")
    algo = config.build_algo()
    valid = task.episodes("valid", stride=task.episode_len)
    history: list[dict[str, float]] = []
    kept = BestCheckpoint(SELECTION_METRIC)
    samples, train_seconds = 0, 0.0
    try:
        for _, samples, train_seconds in budget_rounds(algo, budget):
            module = algo.get_module()
            weights = module_weights(module, task, "valid", len(valid), cost, cap=cap)
            row = {
                "samples": float(samples),
                "train_seconds": train_seconds,
                **validation_metrics(weights, valid, cost_config),
            }
            if kept.offer(row):
                kept.state = copy.deepcopy(module.state_dict())
            history.append(row)
        module = algo.get_module()
        if kept.state is not None:
            module.load_state_dict(kept.state)
        module.eval()
    finally:
        algo.stop()
    granularity = (
        config.train_batch_size_per_learner
        if algo_name == "ppo"
        else config.num_envs_per_env_runner * task.episode_len
    )
    return PortfolioMethodRun(
        algo_name,
        seed,
        history,
        kept.best or history[-1],
        samples=samples,
        train_seconds=train_seconds,
        seconds=time.perf_counter() - started,
        granularity=float(granularity),
        play=lambda eps: module_weights(
            module, task, _split_of(task, eps), len(eps), cost, cap=cap
        ),
    )


def _split_of(task: PortfolioTask, episodes: PortfolioEpisodes) -> str:
    """Which split's fixed stride-E list ``episodes`` is (the RL replay plays a split)."""
    for split in ("test", "valid", "train"):
        starts = task.episode_starts(split, stride=task.episode_len)
        if len(starts) == len(episodes) and np.array_equal(starts, episodes.starts):
            return split
    raise ValueError(
        "portfolio RL replay: the episodes are not a split's fixed stride-E list; play "
        "task.episodes(split, stride=task.episode_len)"
    )


class PortfolioMethodSpace(MethodSpace):
    """Optuna define-by-run space of one portfolio method (a picklable callable, as Tune needs)."""

    def suggest(self, trial: Any) -> None:
        """Sample the portfolio ``method``'s parameters on the Optuna ``trial``."""
        if self.method == "gru":
            from quantray.tune.portfolio import PORTFOLIO_WEIGHTS
            from quantray.tune.space import _WEIGHT_RANGES

            for name in PORTFOLIO_WEIGHTS:
                low, high = _WEIGHT_RANGES[name]
                trial.suggest_float(name, low, high, log=True)
            trial.suggest_categorical("hidden_size", [16, 32])
            trial.suggest_float("lr", 3e-4, 3e-3, log=True)
        elif self.method == "ppo":
            trial.suggest_float("lr", 1e-5, 1e-3, log=True)
            trial.suggest_float("gamma", 0.9, 0.999)
            trial.suggest_float("lambda_", 0.8, 1.0)
            trial.suggest_float("entropy_coeff", 1e-4, 0.05, log=True)
            trial.suggest_float("clip_param", 0.1, 0.3)
        else:
            trial.suggest_float("actor_lr", 1e-4, 1e-3, log=True)
            trial.suggest_float("critic_lr", 1e-4, 1e-3, log=True)
            trial.suggest_float("tau", 1e-3, 2e-2, log=True)
            trial.suggest_float("initial_alpha", 1e-3, 0.2, log=True)
            trial.suggest_float("gamma", 0.9, 0.999)


def portfolio_method_trial(config: dict[str, Any]) -> None:
    """Tune function trainable: one ``train_portfolio_method`` run of the sampled parameters,
    reported once with its selected validation score (every trial the full budget)."""
    import torch
    from ray import tune

    space = PortfolioMethodSpace(config["method"], {k: config[k] for k in config["constant_keys"]})
    torch.set_num_threads(1)
    env_config = config["env_config"]
    task = load_portfolio_task(
        env_config["data"], universe=env_config["universe"], features=env_config["features"]
    )
    run = train_portfolio_method(
        config["method"],
        task,
        env_config=env_config,
        params=space.params_of(config),
        **MethodSearch.run_args_of(config),
    )
    tune.report(run.trial_metrics())


def tune_portfolio_method(
    method: str, search: MethodSearch, *, env_config: dict[str, Any]
) -> tuple[dict[str, Any], pd.DataFrame]:
    """``search.num_trials`` Tune trials of ``method`` (OptunaSearch TPE over
    ``PortfolioMethodSpace``), each trained to the search's budget and scored on validation.
    Returns (best parameters, one row per trial). Needs a running Ray; ``env_config`` holds
    the data / universe / features each trial loads its task from."""
    check_choice("tune_portfolio_method", "method", method, LEARNED_METHODS)
    return search.run(
        portfolio_method_trial,
        PortfolioMethodSpace(method, search.constants(method, env_config=env_config)),
        name=f"compare_portfolio_tune_{method}",
        score=SELECTION_METRIC,
    )
