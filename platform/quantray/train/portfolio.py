"""Train the multi-asset strategy on a universe, differentiably, episode batches at a time.

Random E-day episodes of the TRAIN split go through ``PortfolioStrategy`` (weights fed back
day to day through the portfolio accounting) and ``PortfolioLoss``. Every epoch the model
plays the fixed non-overlapping VALIDATION list through the numpy accounting
(``evaluate.portfolio.evaluate_weights``); the best epoch by pooled validation information
ratio against 1/N (``SELECTION_METRIC``) is kept, with early stopping. With a
``TrainingBudget`` (``compare.py --task portfolio``) training length comes from it instead:
steps until the budget's env-days (batch x E per step) or training seconds are used, a
validation at each of its marks, no early stop, as the single-asset GRU does. The test split
is never touched here. ``report`` (a Ray Tune callback, say) gets the metrics of every
validation.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from quantray.config import CostConfig, PortfolioConfig, TrainingBudget
from quantray.data.universe import PortfolioEpisodes, PortfolioTask
from quantray.evaluate.daily import equal_weight_daily
from quantray.evaluate.metrics import pooled_sharpe
from quantray.evaluate.portfolio import equal_weight, evaluate_weights, pooled_summary
from quantray.integrity import record
from quantray.losses.portfolio import PortfolioLoss
from quantray.models.portfolio_strategy import PortfolioOutput, PortfolioStrategy
from quantray.train.best_checkpoint import BestCheckpoint, clone_state
from quantray.train.budget_progress import BudgetProgress
from quantray.train.result import TrainResult

SELECTION_METRIC = "valid_ir"
"""Pooled validation information ratio against 1/N rebalanced daily (annualised Sharpe of the
daily strategy-minus-1/N net returns): holding 1/N scores 0, as the main job's objective
scores buy-and-hold 0 for one asset."""


@dataclass
class PortfolioBatch:
    """Episodes as tensors: features [B, E, N, D], mask / fill flags [B, E, N] bool, returns
    [B, E, N] float32."""

    features: torch.Tensor
    mask: torch.Tensor
    next_returns: torch.Tensor
    can_buy: torch.Tensor
    can_sell: torch.Tensor

    @classmethod
    def build(
        cls,
        episodes: PortfolioEpisodes,
        table: np.ndarray,
        cost: CostConfig,
        idx: np.ndarray | None = None,
    ) -> PortfolioBatch:
        eps = episodes if idx is None else episodes.subset(idx)
        can_buy, can_sell = eps.fill_flags(cost)
        return cls(
            torch.from_numpy(eps.features(table)),
            torch.from_numpy(eps.mask),
            torch.from_numpy(eps.next_returns.astype(np.float32)),
            torch.from_numpy(can_buy),
            torch.from_numpy(can_sell),
        )

    def run(self, model: PortfolioStrategy, cost: CostConfig) -> PortfolioOutput:
        return model(self.features, self.mask, self.next_returns, cost, self.can_buy, self.can_sell)


@dataclass
class PortfolioResult(TrainResult):
    """A trained portfolio strategy (``model``: a ``PortfolioStrategy``) and how it got
    there."""


@torch.no_grad()
def policy_weights(
    model: PortfolioStrategy, episodes: PortfolioEpisodes, table: np.ndarray, cost: CostConfig
) -> np.ndarray:
    """[n, E, N] target weights of ``model`` on a fixed episode list (float64)."""
    model.eval()
    return PortfolioBatch.build(episodes, table, cost).run(model, cost).target.double().numpy()


def validate(
    model: PortfolioStrategy, episodes: PortfolioEpisodes, table: np.ndarray, cost: CostConfig
) -> dict[str, float]:
    """The validation metrics of ``model`` on a fixed episode list (``validation_metrics``)."""
    return validation_metrics(policy_weights(model, episodes, table, cost), episodes, cost)


def validation_metrics(
    weights: np.ndarray, episodes: PortfolioEpisodes, cost: CostConfig
) -> dict[str, float]:
    """valid_* metrics of target weights [n, E, N] (any method: the strategy, PPO, SAC): the
    selection score ``valid_ir`` against 1/N, pooled Sharpe, means per episode."""
    frame, paths = evaluate_weights("strategy", weights, episodes, cost)
    _, bench = evaluate_weights("equal_weight", equal_weight(episodes), episodes, cost)
    pooled = pooled_summary(paths)
    return {
        "valid_ir": pooled_sharpe(paths["net"] - bench["net"]),
        "valid_sharpe": pooled["pooled_sharpe"],
        "valid_return": float(frame["total_return"].mean()),
        "valid_excess": float(frame["excess_return"].mean()),
        "valid_turnover": float(frame["turnover"].mean()),
        "valid_mean_cash": float(frame["mean_cash"].mean()),
        "valid_max_drawdown": pooled["pooled_max_drawdown"],
    }


def save_portfolio(path: Path, model: PortfolioStrategy, cost: CostConfig, meta: dict) -> Path:
    """Checkpoint loadable with ``torch.load(weights_only=True)``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(
        {
            "model": model.state_dict(),
            "config": model.config.to_dict(),
            "cost": cost.to_dict(),
            "feature_dim": model.feature_dim,
            "meta": meta,
        },
        path,
    )
    record(path)  # size + sha256, checked by quantray.integrity.verify on load
    return path


def train_portfolio(
    task: PortfolioTask,
    config: PortfolioConfig,
    cost: CostConfig,
    *,
    seed: int = 0,
    report: Callable[[dict[str, float]], None] | None = None,
    log: Callable[[str], None] | None = print,
    on_best: Callable[[pd.Series], None] | None = None,
    budget: TrainingBudget | None = None,
) -> PortfolioResult:
    """Train on ``task``'s train split, select on validation, return the best model.

    Without ``budget``: ``config.epochs`` epochs of ``config.steps_per_epoch`` steps, early
    stopping after ``config.patience`` epochs without improvement. With it: steps until
    ``budget.amount`` is used (env-days = batch x E per step, or training seconds), one
    validation at each ``budget.mark(i)``. Every history row carries ``samples`` (env-days)
    and ``train_seconds``. ``on_best`` receives the daily validation net returns (a Series by
    date) each time the selection improves: the search keeps them for Hansen's SPA test."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    started = time.perf_counter()
    table = task.task.table
    train = task.episodes("train")
    valid = task.episodes("valid", stride=task.episode_len)
    model = PortfolioStrategy(config, task.dim)
    loss_fn = PortfolioLoss(config, cost)
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=config.lr, weight_decay=config.weight_decay
    )
    history: list[dict[str, float]] = []
    kept = BestCheckpoint(SELECTION_METRIC)
    seen = 0
    train_seconds = 0.0

    def step() -> dict[str, float]:
        nonlocal seen, train_seconds
        t0 = time.perf_counter()
        model.train()
        idx = rng.integers(0, len(train), size=config.batch_size)
        batch = PortfolioBatch.build(train, table, cost, idx)
        out = batch.run(model, cost)
        loss, terms = loss_fn(out, batch.mask, batch.next_returns, batch.can_buy, batch.can_sell)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if config.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        optimizer.step()
        seen += config.batch_size
        train_seconds += time.perf_counter() - t0
        return terms

    def evaluate(index: int, sums: dict[str, float], total: int) -> bool:
        metrics = {
            "epoch": index,
            "samples": float(seen * task.episode_len),
            "train_seconds": train_seconds,
            **{f"train_{k}": v for k, v in sums.items()},
            **validate(model, valid, table, cost),
        }
        improved = kept.offer(metrics)
        if improved:
            kept.state = clone_state(model)
            if on_best is not None:
                _, paths = evaluate_weights(
                    "strategy", policy_weights(model, valid, table, cost), valid, cost
                )
                on_best(equal_weight_daily(paths["net"], task.episode_dates(valid)))
        history.append(metrics)
        if log is not None:
            log(
                f"[portfolio] validation {index + 1}/{total} loss {sums.get('total', 0.0):.4f} "
                f"valid IR vs 1/N {metrics[SELECTION_METRIC]:.3f} sharpe {metrics['valid_sharpe']:.3f} "
                f"excess {metrics['valid_excess']:+.4f} "
                f"cash {metrics['valid_mean_cash']:.2f}{'  *' if improved else ''}"
            )
        if report is not None:
            report(metrics)
        return improved

    if budget is None:
        stale = 0
        for epoch in range(config.epochs):
            sums: dict[str, float] = {}
            for _ in range(config.steps_per_epoch):
                for k, v in step().items():
                    sums[k] = sums.get(k, 0.0) + v / config.steps_per_epoch
            stale = 0 if evaluate(epoch, sums, config.epochs) else stale + 1
            if stale >= config.patience:
                break
    else:
        progress, sums, steps = BudgetProgress(budget), {}, 0
        while True:
            for k, v in step().items():
                sums[k] = sums.get(k, 0.0) + v
            steps += 1
            index = progress.marks_passed
            if not progress.validation_due(seen * task.episode_len, train_seconds):
                continue
            evaluate(index, {k: v / steps for k, v in sums.items()}, budget.evaluations)
            sums, steps = {}, 0
            if progress.done:
                break
    if kept.state is not None:
        model.load_state_dict(kept.state)
    model.eval()
    return PortfolioResult(
        model,
        history,
        kept.best or history[-1],
        time.perf_counter() - started,
        seen,
        train_seconds,
    )
