"""Train the multi-asset strategy on a universe, differentiably, episode batches at a time.

Random E-day episodes of the TRAIN split go through ``PortfolioStrategy`` (weights fed back
day to day through the portfolio accounting) and ``PortfolioLoss``. Every epoch the model
plays the fixed non-overlapping VALIDATION list through the numpy accounting
(``evaluate.portfolio.evaluate_weights``); the best epoch by pooled validation information
ratio against 1/N (``SELECTION_METRIC``) is kept, with early stopping. The test split is never touched here. ``report`` (a Ray Tune
callback, say) gets the metrics of every epoch.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from quantray.config import CostConfig, PortfolioConfig
from quantray.data.universe import PortfolioEpisodes, PortfolioTask
from quantray.evaluate.daily import equal_weight_daily
from quantray.evaluate.metrics import pooled_sharpe
from quantray.evaluate.portfolio import equal_weight, evaluate_weights, pooled_summary
from quantray.integrity import record
from quantray.losses.portfolio import PortfolioLoss
from quantray.models.portfolio_strategy import PortfolioOutput, PortfolioStrategy

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
class PortfolioResult:
    model: PortfolioStrategy
    history: list[dict[str, float]]
    best: dict[str, float]
    seconds: float
    episodes_seen: int


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
    frame, paths = evaluate_weights(
        "strategy", policy_weights(model, episodes, table, cost), episodes, cost
    )
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
) -> PortfolioResult:
    """Train on ``task``'s train split, select on validation, return the best model.

    ``on_best`` receives the daily validation net returns (a Series by date) each time the
    selection improves: the search keeps them for Hansen's SPA test over all trials."""
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
    best: dict[str, float] = {}
    best_state: dict[str, torch.Tensor] | None = None
    stale = seen = 0
    for epoch in range(config.epochs):
        model.train()
        sums: dict[str, float] = {}
        for _ in range(config.steps_per_epoch):
            idx = rng.integers(0, len(train), size=config.batch_size)
            batch = PortfolioBatch.build(train, table, cost, idx)
            out = batch.run(model, cost)
            loss, terms = loss_fn(
                out, batch.mask, batch.next_returns, batch.can_buy, batch.can_sell
            )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if config.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            optimizer.step()
            seen += config.batch_size
            for k, v in terms.items():
                sums[k] = sums.get(k, 0.0) + v / config.steps_per_epoch
        metrics = {
            "epoch": epoch,
            **{f"train_{k}": v for k, v in sums.items()},
            **validate(model, valid, table, cost),
        }
        score = metrics[SELECTION_METRIC]
        improved = np.isfinite(score) and (not best or score > best[SELECTION_METRIC])
        if improved:
            best = dict(metrics)
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            stale = 0
            if on_best is not None:
                _, paths = evaluate_weights(
                    "strategy", policy_weights(model, valid, table, cost), valid, cost
                )
                on_best(equal_weight_daily(paths["net"], task.episode_dates(valid)))
        else:
            stale += 1
        history.append(metrics)
        if log is not None:
            log(
                f"[portfolio] epoch {epoch + 1}/{config.epochs} loss {sums['total']:.4f} "
                f"valid IR vs 1/N {score:.3f} sharpe {metrics['valid_sharpe']:.3f} "
                f"excess {metrics['valid_excess']:+.4f} "
                f"cash {metrics['valid_mean_cash']:.2f}{'  *' if improved else ''}"
            )
        if report is not None:
            report(metrics)
        if stale >= config.patience:
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return PortfolioResult(model, history, best or history[-1], time.perf_counter() - started, seen)
