"""Stage 2: train the GRU strategy on frozen features, differentiably, episode batches at a time.

Training draws random 20-day episodes of the TRAIN split (every start day), runs the GRU with
Gumbel-softmax positions fed back day to day, and minimises ``StrategyLoss``. Every epoch the
model plays the fixed, non-overlapping VALIDATION episode list with argmax positions through
the numpy accounting (``quantray.evaluate.backtest_episodes``, the path every strategy is judged
by); the best epoch by ``StrategyConfig.select_by`` (default: the pooled validation
information ratio vs buy-and-hold) is kept, with early stopping. The test split
is never touched here.

``train_strategy`` runs alone (``experiments/train_strategy.py``) and inside a Ray Tune trial:
pass ``report`` and it is called with the metrics after every epoch.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from quantray.config import CostConfig, StrategyConfig, TrainingBudget
from quantray.data import Episodes, Task
from quantray.evaluate import Backtest, backtest_episodes, buy_and_hold, pooled_sharpe
from quantray.evaluate.daily import distinct_days, equal_weight_daily
from quantray.integrity import load_or_damaged, record
from quantray.losses import StrategyLoss
from quantray.models.strategy_gru import StrategyGRU, anneal_tau
from quantray.train.best_checkpoint import BestCheckpoint, clone_state
from quantray.train.monitoring import record_strategy_throughput
from quantray.train.result import TrainResult


@dataclass
class EpisodeTensors:
    """An episode list as tensors: features [n, E, D], returns [n, E], and the episodes' trade
    permissions [n, E] (None when every order fills: the accounting then skips the masks)."""

    features: torch.Tensor
    next_returns: torch.Tensor
    can_buy: torch.Tensor | None
    can_sell: torch.Tensor | None

    @classmethod
    def build(cls, episodes: Episodes, table: np.ndarray, cost: CostConfig) -> EpisodeTensors:
        can_buy, can_sell = episodes.trade_flags(cost)
        return cls(
            torch.from_numpy(np.ascontiguousarray(episodes.features(table), dtype=np.float32)),
            torch.from_numpy(episodes.next_returns.astype(np.float32)),
            None if can_buy.all() else torch.from_numpy(can_buy.copy()),
            None if can_sell.all() else torch.from_numpy(can_sell.copy()),
        )


@dataclass
class StrategyResult(TrainResult):
    """A trained GRU strategy (``model``: a ``StrategyGRU``) and how it got there."""

    checkpoint: Path | None = None
    """Where ``train_strategy(checkpoint=...)`` saved the selected model."""
    valid_daily: pd.Series | None = None
    """Equal-weight daily validation net return of the selected epoch, by date."""


@torch.no_grad()
def policy_positions(
    model: StrategyGRU, episodes: Episodes, table: np.ndarray, cost: CostConfig
) -> np.ndarray:
    """Argmax (evaluation) positions [n, E] of ``model`` on a fixed episode list."""
    model.eval()
    t = EpisodeTensors.build(episodes, table, cost)
    out = model(
        t.features,
        t.next_returns,
        cost,
        training=False,
        can_buy=t.can_buy,
        can_sell=t.can_sell,
    )
    return out.positions.double().numpy()


def policy_backtest(
    model: StrategyGRU, episodes: Episodes, table: np.ndarray, cost: CostConfig
) -> tuple[np.ndarray, Backtest]:
    """Argmax positions [n, E] of ``model`` on ``episodes`` and their numpy accounting."""
    positions = policy_positions(model, episodes, table, cost)
    return positions, backtest_episodes(positions, episodes, cost)


@dataclass
class Validation:
    """One pass over the validation episodes: the scores and the daily path behind them."""

    metrics: dict[str, float]
    """valid_sharpe (pooled), valid_ir (pooled active vs buy-and-hold), returns, drawdown..."""
    daily: pd.Series
    """Equal-weight daily net return across symbols, by date (Hansen's SPA input)."""


def score_key(config: StrategyConfig) -> str:
    """The validation metric that selects epochs and trials: ``valid_<select_by>``."""
    return f"valid_{config.select_by}"


def validate(
    model: StrategyGRU, episodes: Episodes, table: np.ndarray, cost: CostConfig, dates: np.ndarray
) -> Validation:
    """Pooled validation metrics of argmax positions through the numpy accounting.

    ``dates`` [n, E] are the episodes' decision dates (``Task.episode_dates``). valid_ir is
    the annualised Sharpe of the pooled daily active return (strategy minus buy-and-hold on
    the same days, both after costs): a policy that always holds the market scores 0."""
    positions = policy_positions(model, episodes, table, cost)
    return validation_of(positions, episodes, cost, dates)


def validation_of(
    positions: np.ndarray, episodes: Episodes, cost: CostConfig, dates: np.ndarray
) -> Validation:
    """``validate`` for any policy's positions [n, E] on ``episodes``: the one
    checkpoint-selection score of every learned method (GRU epochs, PPO / SAC iterations)."""
    backtest = backtest_episodes(positions, episodes, cost)
    hold = backtest_episodes(buy_and_hold(*positions.shape), episodes, cost)
    pooled = backtest.pooled_metrics()
    per_episode = backtest.episode_metrics()
    metrics = {
        "valid_sharpe": pooled_sharpe(backtest.net),
        "valid_ir": pooled_sharpe(backtest.net - hold.net),
        "valid_return": float(per_episode["total_return"].mean()),
        "valid_excess": float(per_episode["excess_return"].mean()),
        "valid_max_drawdown": pooled["max_drawdown"],
        "valid_turnover": pooled["turnover"],
        "valid_mean_position": float(np.mean(positions)),
        "valid_days": float(distinct_days(dates)),
    }
    return Validation(metrics, equal_weight_daily(backtest.net, dates))


def save_strategy(
    path: Path, model: StrategyGRU, config: StrategyConfig, cost: CostConfig, meta: dict
) -> Path:
    """Checkpoint loadable with ``torch.load(weights_only=True)``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(
        {
            "model": model.state_dict(),
            "config": config.to_dict(),
            "cost": cost.to_dict(),
            "feature_dim": model.feature_dim,
            "meta": meta,
        },
        path,
    )
    record(path)  # size + sha256: a truncated copy is caught on load (quantray.integrity)
    return path


def load_strategy(path: str | Path) -> tuple[StrategyGRU, StrategyConfig, CostConfig, dict]:
    """Rebuild a trained strategy (eval mode) from ``save_strategy``'s file."""
    state = load_or_damaged(
        Path(path),
        lambda p: torch.load(p, map_location="cpu", weights_only=True),
        "a strategy checkpoint",
    )
    config = StrategyConfig.from_dict(state["config"])
    model = StrategyGRU(config, feature_dim=state["feature_dim"])
    model.load_state_dict(state["model"])
    return model.eval(), config, CostConfig.from_dict(state["cost"]), state["meta"]


def train_strategy(
    task: Task,
    config: StrategyConfig,
    cost: CostConfig,
    *,
    seed: int = 0,
    steps_per_epoch: int | None = None,
    report: Callable[[dict[str, float]], None] | None = None,
    checkpoint: Path | None = None,
    log: Callable[[str], None] | None = print,
    on_best: Callable[[pd.Series], None] | None = None,
    budget: TrainingBudget | None = None,
    init_state: dict[str, torch.Tensor] | None = None,
) -> StrategyResult:
    """Train the GRU strategy on ``task`` (train split), select on validation, return the best.

    Epochs are selected by ``score_key(config)``; ``on_best`` receives the equal-weight daily
    validation path each time the selection improves (the search keeps it for the SPA test).
    With ``budget``, training length comes from it instead of ``config.epochs`` /
    ``steps_per_epoch`` / ``patience``: optimizer steps until ``budget.amount`` episode-days
    (batch x E per step) or training seconds are used, validating at each
    ``budget.mark(i)`` (one "epoch" per validation, no early stop). Every history row carries
    ``samples`` (episode-days so far) and ``train_seconds``.
    ``init_state`` (a ``StrategyGRU`` state dict) warm-starts the model instead of a fresh
    initialisation: an incremental walk-forward update."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    started = time.perf_counter()
    train = EpisodeTensors.build(task.episodes("train"), task.table, cost)
    valid_eps = task.episodes("valid", stride=task.data.episode_len)
    valid_dates = task.episode_dates(valid_eps)
    key = score_key(config)
    best_daily: pd.Series | None = None
    n_train = len(train.next_returns)
    steps = steps_per_epoch or max(1, min(200, n_train // config.batch_size))

    model = StrategyGRU(config, feature_dim=task.dim)
    if init_state is not None:
        model.load_state_dict(init_state)
    loss_fn = StrategyLoss(config, cost)
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=config.lr, weight_decay=config.weight_decay
    )
    history: list[dict[str, float]] = []
    kept = BestCheckpoint(key)
    stale, global_step, samples, train_seconds = 0, 0, 0, 0.0
    days_per_step = config.batch_size * task.data.episode_len
    epochs = config.epochs if budget is None else budget.evaluations
    patience = config.patience if budget is None else budget.evaluations

    def epoch_done(epoch: int, epoch_steps: int) -> bool:
        if budget is None:
            return epoch_steps >= steps
        used = global_step * days_per_step if budget.by == "samples" else train_seconds
        # Reaching the mark ends the epoch: overshoot is under one optimizer step.
        return epoch_steps > 0 and used >= budget.mark(epoch)

    for epoch in range(epochs):
        model.train()
        epoch_started, epoch_samples = time.perf_counter(), samples
        sums: dict[str, float] = {}
        epoch_steps = 0
        while not epoch_done(epoch, epoch_steps):
            step_started = time.perf_counter()
            idx = torch.from_numpy(rng.integers(0, n_train, size=config.batch_size))
            tau = anneal_tau(global_step, config)
            can_buy = None if train.can_buy is None else train.can_buy[idx]
            can_sell = None if train.can_sell is None else train.can_sell[idx]
            out = model(
                train.features[idx],
                train.next_returns[idx],
                cost,
                training=True,
                tau=tau,
                can_buy=can_buy,
                can_sell=can_sell,
            )
            loss, terms = loss_fn(out, train.next_returns[idx], can_buy=can_buy, can_sell=can_sell)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            optimizer.step()
            global_step += 1
            epoch_steps += 1
            samples += config.batch_size
            for k, v in terms.items():
                sums[k] = sums.get(k, 0.0) + float(v)
            train_seconds += time.perf_counter() - step_started
        metrics = {
            "epoch": epoch,
            "tau": anneal_tau(global_step, config),
            "samples": float(samples * task.data.episode_len),
            "train_seconds": train_seconds,
            **{f"train_{k}": v / epoch_steps for k, v in sums.items()},
        }
        validation = validate(model, valid_eps, task.table, cost, valid_dates)
        metrics.update(validation.metrics)
        improved = kept.offer(metrics)
        if improved:
            kept.state = clone_state(model)
            best_daily = validation.daily
            if on_best is not None:
                on_best(validation.daily)
            stale = 0
        else:
            stale += 1
        metrics["best_valid_score"] = kept.value
        history.append(metrics)
        record_strategy_throughput(
            (samples - epoch_samples) / max(time.perf_counter() - epoch_started, 1e-9),
            run=f"seed{seed}",
        )
        if log is not None:
            log(
                f"[stage 2] epoch {epoch + 1}/{epochs} loss {metrics.get('train_total', float('nan')):.4f} "
                f"valid sharpe {metrics['valid_sharpe']:.3f} ir {metrics['valid_ir']:.3f} return {metrics['valid_return']:+.4f} "
                f"excess {metrics['valid_excess']:+.4f} position {metrics['valid_mean_position']:.2f}"
                f"{'  *' if improved else ''}"
            )
        if report is not None:
            report(metrics)
        if stale >= patience:
            if log is not None:
                log(f"[stage 2] early stop: no validation improvement in {patience} epochs")
            break
    if kept.state is not None:
        model.load_state_dict(kept.state)
    model.eval()
    best = kept.best or history[-1]
    result = StrategyResult(
        model,
        history,
        best,
        time.perf_counter() - started,
        samples,
        valid_daily=best_daily,
        train_seconds=train_seconds,
    )
    if checkpoint is not None:
        meta = {"task": task.describe(), "seed": seed, "best": best, "samples": samples}
        result.checkpoint = save_strategy(checkpoint, model, config, cost, meta)
    return result
