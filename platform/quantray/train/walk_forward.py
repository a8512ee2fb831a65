"""One walk-forward fold, end to end: stage 1 -> frozen features -> stage 2 -> out-of-sample
positions of the GRU and the baselines.

A fold (``quantray.data.folds``) is a split: fit part, validation tail, out-of-sample block.
``run_fold`` trains the stage-1 price model on the fold's fit part (normalisation fitted
there too), exports its frozen features through the shared content-addressed cache (the
stage-1 key holds the fold's dates, so no two folds share a model), trains the GRU strategy
on the same fit part with epochs selected on the validation tail, and plays the fixed
non-overlapping E-day episodes of the block. Nothing after the block's first day reaches
training or selection; the positions of a block day depend on bars up to that day only.

With ``methods`` beyond "gru", PPO and SAC (RLlib, ``quantray.tune.methods.train_method``)
train per fold on the same frozen features and train split to ``budget`` (a
``TrainingBudget``: the machinery of ``experiments/compare.py``), keep their best validation
checkpoint by the same score, and play the same out-of-sample episodes.

``update='incremental'`` warm-starts the models from the previous fold's weights and trains
them on the days after the previous fit part plus a replay window (``Fold.update_start``):
stage 1, the GRU, and PPO / SAC (their full RLModule weights: policy and value function /
critics; optimizer state, SAC's replay buffer and temperature start afresh). Feature
normalisation is refitted on that update window (training data of the fold only), so the
warm-started weights meet slightly shifted inputs and adapt to them.

Per-fold results go to ``out_dir/<fold name>/``: ``oos.parquet`` (one row per episode and
day: returns, the accounting's trade flags ``can_buy`` / ``can_sell``, one position column
per method), ``result.json`` (dates, samples, seconds, validation metrics; written last, so
its presence means the fold is finished), ``strategy.pt`` and ``<ppo|sac>.pt``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from quantray.config import CostConfig, StrategyConfig, TrainingBudget
from quantray.config.rl import RL_METHODS
from quantray.data import Episodes, Task, load_task, sample_rows
from quantray.data.folds import Fold
from quantray.evaluate.baselines import baseline_positions
from quantray.evaluate.versus import MOMENTUM_LOOKBACK
from quantray.features.store import ensure_stage1_features, spec_key
from quantray.integrity import replace_atomically
from quantray.train.price import CHECKPOINT_FILE, PriceRunSpec, steps_per_epoch
from quantray.train.strategy import load_strategy, policy_positions, score_key, train_strategy

UPDATES = ("retrain", "incremental")
RESULT_FILE = "result.json"
OOS_FILE = "oos.parquet"
STRATEGY_FILE = "strategy.pt"


@dataclass(frozen=True)
class FoldPlan:
    """Everything one fold needs; plain data, shipped to a Ray task as is."""

    fold: Fold
    """The fold's dates."""
    stage1: PriceRunSpec
    """Stage-1 run (model, training, data path); its split is replaced by the fold's."""
    strategy: StrategyConfig
    """Stage-2 settings (feature_dim is set from the fold's features)."""
    cost: CostConfig
    """Cost model of training, validation and the out-of-sample record."""
    embargo: int
    """Trading days between fit part, validation tail and block."""
    update: str
    """'retrain' or 'incremental'."""
    seed: int
    """Seed of stage 2 (stage 1 has its own in ``stage1.train``) and of the random baseline."""
    steps_per_epoch: int | None
    """Stage-2 steps per epoch (None: up to 200, from the number of training episodes)."""
    cache_root: str
    """Shared stage-1 / feature cache directory."""
    out_dir: str
    """This update mode's fold directory (``<out>/<update>``)."""
    threads: int = 1
    """torch intra-op threads for this fold."""
    methods: tuple[str, ...] = ("gru",)
    """Learned methods: "gru" always, plus "ppo" / "sac" (need ``budget`` and a running Ray)."""
    budget: TrainingBudget | None = None
    """PPO / SAC training budget per fold (``TrainingBudget``; env-days or seconds)."""
    smoke: bool = False
    """PPO / SAC at their smoke sizes (``PPOSettings.smoke()`` / ``SACSettings.smoke()``)."""

    def __post_init__(self) -> None:
        rl = [m for m in self.methods if m != "gru"]
        unknown = sorted(set(rl) - set(RL_METHODS))
        if unknown or "gru" not in self.methods:
            raise ValueError(
                f"FoldPlan.methods: found {self.methods}; expected 'gru' plus any of "
                f"{', '.join(RL_METHODS)}"
            )
        if rl and self.budget is None:
            raise ValueError(f"FoldPlan: {', '.join(rl)} need a TrainingBudget (budget=...)")

    @property
    def fold_dir(self) -> Path:
        return Path(self.out_dir) / self.fold.name

    def warm_state(
        self, previous: dict[str, Any] | None, checkpoint_key: str, load: Callable[[str], Any]
    ) -> Any | None:
        """The weights one learner of this fold starts from: with an incremental update,
        ``load`` of the previous fold's checkpoint ``previous[checkpoint_key]``; None (a
        fresh initialisation) when retraining or on the first fold."""
        if self.update != "incremental" or previous is None:
            return None
        return load(previous[checkpoint_key])

    def stage1_spec(self, init_checkpoint: str | None) -> PriceRunSpec:
        """The fold's stage-1 run: its split, and the predecessor's weights when warm."""
        split = self.fold.split_config(self.embargo, incremental=self.update == "incremental")
        train = self.stage1.train.replace(init_checkpoint=init_checkpoint)
        return PriceRunSpec(
            self.stage1.model, train, self.stage1.data_path, self.stage1.data, split
        )


def is_finished(plan: FoldPlan) -> bool:
    return (plan.fold_dir / RESULT_FILE).exists()


def read_result(plan: FoldPlan) -> dict[str, Any]:
    return json.loads((plan.fold_dir / RESULT_FILE).read_text())


def run_fold(plan: FoldPlan, previous: dict[str, Any] | None = None) -> dict[str, Any]:
    """Train and play one fold (see the module docstring); returns its ``result.json``.

    ``previous`` is the previous fold's result (incremental mode only): its stage-1
    checkpoint and strategy warm-start this fold."""
    if is_finished(plan):
        return read_result(plan)
    if plan.update == "incremental" and plan.fold.index > 0 and previous is None:
        raise ValueError(
            f"{plan.fold.name}: an incremental update needs the previous fold's result"
        )
    torch.set_num_threads(max(1, plan.threads))
    warm = plan.update == "incremental" and previous is not None
    started = time.perf_counter()
    spec = plan.stage1_spec(previous["stage1_checkpoint"] if warm else None)
    cache, trained = ensure_stage1_features(spec, plan.cache_root)
    stage1_seconds = time.perf_counter() - started
    stage1_dir = Path(plan.cache_root) / f"stage1-{spec_key(spec)}"

    task = load_task(spec.data_path, features=cache, data_config=spec.data, split_config=spec.split)
    config = plan.strategy.replace(feature_dim=task.dim)
    plan.fold_dir.mkdir(parents=True, exist_ok=True)
    result = train_strategy(
        task,
        config,
        plan.cost,
        seed=plan.seed,
        steps_per_epoch=plan.steps_per_epoch,
        checkpoint=plan.fold_dir / STRATEGY_FILE,
        log=None,
        init_state=plan.warm_state(previous, "strategy_checkpoint", _load_strategy_weights),
    )
    oos = task.episodes("test", stride=task.data.episode_len)
    if len(oos) == 0:
        raise ValueError(f"{plan.fold.name}: its out-of-sample block holds no whole episode")
    positions = {"gru": policy_positions(result.model, oos, task.table, plan.cost)}
    rl_summary: dict[str, Any] = {}
    for method in (m for m in plan.methods if m != "gru"):
        rl_summary.update(_train_rl_method(plan, method, task, oos, positions, previous))
    positions.update(
        baseline_positions(
            oos.next_returns,
            task.realised_returns(oos, MOMENTUM_LOOKBACK),
            plan.cost,
            momentum_window=MOMENTUM_LOOKBACK,
            seed=plan.seed + plan.fold.index,
        )
    )
    panel = task.panel
    n, e = oos.rows.shape
    can_buy, can_sell = oos.trade_flags(plan.cost)  # [n, E]: the accounting's own rule
    frame = pd.DataFrame(
        {
            "fold": plan.fold.index,
            "symbol": np.asarray(panel.symbols)[panel.symbol_id[oos.rows]].reshape(-1),  # [n*E]
            "episode": np.repeat(panel.dates[oos.starts], e),  # [n] -> [n*E]
            "date": panel.dates[oos.rows].reshape(-1),  # [n, E] -> [n*E]
            "day": np.tile(np.arange(e), n),  # [n*E]
            "next_return": oos.next_returns.reshape(-1),  # [n, E] -> [n*E]
            "prev_return": oos.prev_returns.reshape(-1),  # [n, E] -> [n*E]
            "can_buy": can_buy.reshape(-1),  # [n, E] -> [n*E]
            "can_sell": can_sell.reshape(-1),  # [n, E] -> [n*E]
        }
    )
    for name, p in positions.items():
        frame[name] = np.asarray(p, dtype=np.float64).reshape(-1)  # [n, E] -> [n*E]
    frame.to_parquet(plan.fold_dir / OOS_FILE, index=False)

    summary = {
        "fold": plan.fold.index,
        "update": plan.update,
        "warm_start": warm,
        **{k: getattr(plan.fold, k) for k in ("train_start", "fit_end", "valid_start")},
        "update_start": spec.split.train_start,
        **{k: getattr(plan.fold, k) for k in ("valid_end", "test_start", "test_end")},
        "stage1_key": spec_key(spec),
        "stage1_trained": trained,
        "stage1_checkpoint": str(stage1_dir / CHECKPOINT_FILE),
        "stage1_samples": _stage1_samples(task, spec),
        "stage1_seconds": round(stage1_seconds, 2),
        "strategy_checkpoint": str(plan.fold_dir / STRATEGY_FILE),
        "strategy_samples": result.samples,
        "strategy_seconds": round(result.seconds, 2),
        "seconds": round(time.perf_counter() - started, 2),
        "train_episodes": len(task.episodes("train")),
        "oos_episodes": len(oos),
        "valid_sharpe": float(result.best["valid_sharpe"]),
        "selected_by": score_key(config),
        "valid_score": float(result.best[score_key(config)]),
        "selected_epoch": int(result.best["epoch"]),
        "feature_cache": str(cache),
        "methods": list(plan.methods),
        **rl_summary,
    }
    # result.json last: its presence marks the fold finished (a killed fold restarts clean).
    text = json.dumps(summary, indent=2, default=str)
    replace_atomically(plan.fold_dir / RESULT_FILE, lambda tmp: tmp.write_text(text))
    return summary


def _train_rl_method(
    plan: FoldPlan,
    method: str,
    task: Task,
    oos: Episodes,
    positions: dict[str, np.ndarray],
    previous: dict[str, Any] | None,
) -> dict[str, Any]:
    """Train ``method`` (PPO / SAC) on the fold to ``plan.budget``, warm from the previous
    fold's weights when incremental; add its out-of-sample positions; return its summary."""
    from quantray.tune.methods import SELECT, train_method

    run = train_method(
        method,
        task,
        plan.budget,
        cost=plan.cost,
        seed=plan.seed,
        smoke=plan.smoke,
        init_state=plan.warm_state(previous, f"{method}_checkpoint", _load_rl_weights),
    )
    positions[method] = run.play(task, oos)
    checkpoint = plan.fold_dir / f"{method}.pt"
    _save_rl_weights(run.state, checkpoint)
    return {
        f"{method}_checkpoint": str(checkpoint),
        f"{method}_samples": int(run.samples),
        f"{method}_seconds": round(run.seconds, 2),
        f"{method}_valid_score": float(run.best.get(SELECT, float("nan"))),
    }


def _stage1_samples(task: Task, spec: PriceRunSpec) -> int:
    """Training windows stage 1 consumed: steps x batch x epochs (its schedule is fixed by the
    spec and the number of training windows in the fold's fit part)."""
    n = len(sample_rows(task.panel, task.splits, "train", spec.data))
    return steps_per_epoch(n, spec.train) * spec.train.batch_size * spec.train.epochs


def _map_leaves(tree: Any, leaf: Any) -> Any:
    """``tree`` (nested dicts/lists) with ``leaf`` applied to every array-like leaf."""
    if isinstance(tree, dict):
        return {k: _map_leaves(v, leaf) for k, v in tree.items()}
    if isinstance(tree, list | tuple):
        return type(tree)(_map_leaves(v, leaf) for v in tree)
    return leaf(tree)


def _save_rl_weights(state: dict[str, Any], path: Path) -> None:
    """RLModule weights (numpy arrays) as tensors, so they load with ``weights_only=True``
    (a checkpoint on a shared path must not be able to run code)."""
    to_tensor = lambda a: torch.from_numpy(a) if isinstance(a, np.ndarray) else a  # noqa: E731
    torch.save(_map_leaves(state, to_tensor), path)


def _load_rl_weights(path: str | Path) -> dict[str, Any]:
    """What ``_save_rl_weights`` wrote, back as numpy arrays (RLlib's weight format)."""
    state = torch.load(path, weights_only=True)
    return _map_leaves(state, lambda t: t.numpy() if isinstance(t, torch.Tensor) else t)


def _load_strategy_weights(path: str | Path) -> dict[str, torch.Tensor]:
    """The ``StrategyGRU`` state dict of a fold's saved strategy checkpoint."""
    return load_strategy(path)[0].state_dict()
