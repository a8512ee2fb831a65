"""Train PPO or SAC to a fixed budget, selecting the checkpoint on validation like the GRU.

``train_rl`` runs ``algo.train()`` iterations on the TRAIN split until the budget
(``TrainingBudget``: env steps sampled, or seconds spent in ``algo.train()``) is used; each
time another ``1 / budget.evaluations`` of it is used, the greedy policy plays the fixed,
non-overlapping VALIDATION list and is scored by ``quantray.train.strategy.validation_of``
(the GRU's epoch-selection scores; ``score`` picks one, by default the GRU's own
``score_key(StrategyConfig())``, the validation information ratio vs buy-and-hold). The module weights of the best
score are kept, as the GRU keeps its best epoch. The test split is never touched here.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from ray.rllib.core import DEFAULT_MODULE_ID

from quantray.config import CostConfig, StrategyConfig, TrainingBudget
from quantray.config.rl import PPOSettings, SACSettings
from quantray.data import Episodes, Task
from quantray.rl.config import algo_config
from quantray.rl.evaluate import _env_kwargs, module_positions
from quantray.train.best_checkpoint import BestCheckpoint
from quantray.train.budget_progress import BudgetProgress
from quantray.train.strategy import score_key, validation_of

ACTION_TYPES = {"ppo": "discrete", "sac": "continuous"}


@dataclass
class RLRun:
    """A budget-trained agent: its selected module and how it got there."""

    algo: str
    module: Any
    """The RLModule holding the best validation weights (eval mode)."""
    env_kwargs: dict[str, Any]
    """TradingEnv arguments of training, minus data / split choices (for replays)."""
    history: list[dict[str, float]] = field(default_factory=list)
    """One row per validation: samples, train_seconds, iteration and the valid_* metrics."""
    best: dict[str, float] = field(default_factory=dict)
    samples: int = 0
    """Env steps sampled in training."""
    train_seconds: float = 0.0
    """Seconds inside ``algo.train()`` (validation excluded)."""
    seconds: float = 0.0
    """Wall-clock of the whole run (build, training, validations)."""
    learner_state: dict[str, Any] | None = None
    """The full RLModule weights (the learner's: value function / critics included) at the
    selected validation, for warm-starting a later run (``train_rl(init_state=...)``)."""

    @property
    def action_type(self) -> str:
        return ACTION_TYPES[self.algo]

    def positions(self, task: Task, episodes: Episodes, cost: str | CostConfig) -> np.ndarray:
        """Greedy positions [n, E] of the selected weights on a fixed episode list."""
        return module_positions(
            self.module, self.env_kwargs, task, episodes, action_type=self.action_type, cost=cost
        )


def train_rl(
    algo_name: str,
    task: Task,
    budget: TrainingBudget,
    *,
    settings: PPOSettings | SACSettings | None = None,
    cost: str | CostConfig = "none",
    seed: int = 0,
    score: str | None = None,
    log: Any = None,
    init_state: dict[str, Any] | None = None,
) -> RLRun:
    """Train ``algo_name`` ("ppo" | "sac") on the train split of ``task`` (its envs play the
    same Task: sampling runs in this process) until ``budget`` is used; keep the
    best-validation weights. Needs a running Ray.

    ``init_state`` (an earlier run's ``learner_state``, same settings) starts the networks
    from those weights instead of a fresh initialisation; optimizer state, SAC's replay
    buffer and its entropy temperature start afresh (they are not part of the module)."""
    if algo_name not in ACTION_TYPES:
        raise ValueError(f"algo_name must be 'ppo' or 'sac', got {algo_name!r}")
    settings = settings or (PPOSettings() if algo_name == "ppo" else SACSettings())
    started = time.perf_counter()
    env_config = {"task": task, "cost": cost, "split": "train"}
    algo = algo_config(algo_name, env_config, settings=settings, seed=seed).build_algo()
    if init_state is not None:
        _load_weights(algo, init_state)
    run = RLRun(algo_name, algo.get_module(), _env_kwargs(algo))
    valid = task.episodes("valid", stride=task.data.episode_len)
    valid_dates = task.episode_dates(valid)
    kept = BestCheckpoint(score or score_key(StrategyConfig()))
    try:
        for iteration, samples, train_seconds in budget_rounds(algo, budget):
            run.samples, run.train_seconds = samples, train_seconds
            module = algo.get_module()
            metrics = validation_of(
                module_positions(
                    module, run.env_kwargs, task, valid, action_type=run.action_type, cost=cost
                ),
                valid,
                CostConfig.resolve(cost),
                valid_dates,
            ).metrics
            row = {
                "iteration": float(iteration),
                "samples": float(run.samples),
                "train_seconds": run.train_seconds,
                **metrics,
            }
            if kept.offer(row):
                kept.state = copy.deepcopy(module.state_dict())
                run.learner_state = copy.deepcopy(_learner_weights(algo))
            row["best_valid_score"] = kept.value
            run.history.append(row)
            if log is not None:
                log(
                    f"[{algo_name}] {run.samples:,} steps {run.train_seconds:.1f}s "
                    f"{kept.score} {metrics[kept.score]:.3f}"
                )
        run.module = algo.get_module()
        if kept.state is not None:
            run.module.load_state_dict(kept.state)
        run.best = kept.best or dict(run.history[-1])
        run.module.eval()
    finally:
        algo.stop()
    run.seconds = time.perf_counter() - started
    return run


def budget_rounds(algo: Any, budget: TrainingBudget) -> Iterator[tuple[int, int, float]]:
    """Call ``algo.train()`` until ``budget`` is used, yielding (iterations so far, env steps
    sampled, seconds spent in ``train()``) after each iteration that reaches one of the
    budget's validation marks (once however many marks it crossed) and after the last one."""
    progress = BudgetProgress(budget)
    train_seconds, iteration = 0.0, 0
    while not progress.done:
        t0 = time.perf_counter()
        result = algo.train()
        train_seconds += time.perf_counter() - t0
        iteration += 1
        samples = int(result.get("env_runners", {}).get("num_env_steps_sampled_lifetime", 0))
        if progress.validation_due(samples, train_seconds):
            yield iteration, samples, train_seconds


def _learner_weights(algo: Any) -> dict[str, Any]:
    """The learner's full module weights (numpy arrays; the env runner's module may be an
    inference-only copy without the value function / critics)."""
    return algo.learner_group.get_weights()[DEFAULT_MODULE_ID]


def _load_weights(algo: Any, state: dict[str, Any]) -> None:
    """Set the learner's module to ``state`` and push it to the sampling module."""
    algo.learner_group.set_weights({DEFAULT_MODULE_ID: state})
    algo.env_runner_group.sync_weights(
        from_worker_or_learner_group=algo.learner_group, inference_only=True
    )
