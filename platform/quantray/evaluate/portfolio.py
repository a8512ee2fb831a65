"""Portfolio evaluation: baselines every portfolio paper uses, and the metrics of weights.

Every method (the differentiable strategy, RL agents, baselines) hands target weights
[n, E, N] on the same episodes to ``evaluate_weights``, which runs the one portfolio
accounting (``quantray.portfolio_accounting.run_np``) and reports the single-asset metric
columns (from ``evaluate.metrics``: compounded return, Sharpe, Sortino, drawdown, ...) plus
the portfolio's own: ``turnover`` (mean daily sum over assets of |executed - held|, the
traded fraction of equity), ``concentration`` (mean effective number of holdings
1 / sum w^2 of invested weights, 0 when all cash) and ``mean_cash``. ``excess_return`` is
against 1/N rebalanced daily (the portfolio analogue of buy-and-hold, through the same
accounting).

Baselines (target weights [n, E, N]; each reads only data known at close t):

- ``equal_weight``: 1/n over the assets in the universe that day, rebalanced daily.
- ``equal_weight_hold``: 1/n at day 0 over the assets available then, then no trades (the
  weights drift; a target equal to the drifted weights trades nothing).
- ``inverse_volatility``: w ∝ 1 / std of the trailing ``lookback`` daily returns.
- ``minimum_variance``: argmin w'Σw over long-only weights summing to 1 (scipy SLSQP) with
  Σ the trailing sample covariance (shrunk 10% to its diagonal so it is well conditioned).
- ``momentum_top_k``: equal weights on the k assets with the highest trailing return.

Perfect foresight is left out: over N assets + cash with costs the hindsight optimum is a
non-convex path problem (the single-asset DP over 11 levels becomes 11^N states).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.optimize import minimize

from quantray.config import CostConfig
from quantray.data.universe import PortfolioEpisodes, PortfolioTask
from quantray.evaluate.backtest import Backtest
from quantray.evaluate.metrics import (
    annual_volatility,
    max_drawdown,
    pooled_sharpe,
    sharpe_ratio,
    sortino_ratio,
    total_return,
)
from quantray.evaluate.table import Scored
from quantray.portfolio_accounting import run_np

LOOKBACK = 60
"""Trailing days the volatility, covariance and momentum baselines read."""
MOMENTUM_TOP_K = 2
"""Assets held by the cross-sectional momentum baseline."""
COV_SHRINK = 0.1
"""Weight of the diagonal in the shrunk covariance of ``minimum_variance``."""
BENCHMARK = "equal_weight"
"""The portfolio benchmark skill is judged against (1/N rebalanced daily, through the same
accounting): the training selection, the search's deflated ratios and SPA test, and the
report's information ratio and verdict all use it, as the single-asset task uses buy-and-hold."""


def _normalise(scores: np.ndarray, mask: np.ndarray) -> np.ndarray:
    w = np.where(mask, scores, 0.0)
    total = w.sum(-1, keepdims=True)
    return np.divide(w, total, out=np.zeros_like(w), where=total > 0)


def equal_weight(episodes: PortfolioEpisodes) -> np.ndarray:
    """[n, E, N] 1/n over the available assets, every day."""
    return _normalise(np.ones(episodes.mask.shape), episodes.mask)


def equal_weight_hold(episodes: PortfolioEpisodes) -> np.ndarray:
    """[n, E, N] 1/n bought on day 0, then targets equal to the drifted weights (no trades)."""
    n, E, N = episodes.mask.shape
    target = np.zeros((n, E, N))
    target[:, 0] = _normalise(np.ones((n, N)), episodes.mask[:, 0])
    for t in range(1, E):
        gross = (target[:, t - 1] * episodes.next_returns[:, t - 1]).sum(-1, keepdims=True)
        target[:, t] = target[:, t - 1] * (1.0 + episodes.next_returns[:, t - 1]) / (1.0 + gross)
    return target


def _trailing(task: PortfolioTask, episodes: PortfolioEpisodes, lookback: int) -> np.ndarray:
    """[n, E, lookback, N] the ``lookback`` daily returns known at each decision day's close."""
    past = task.realised_returns(episodes, lookback)  # [n, lookback + E, N]
    E = episodes.mask.shape[1]
    idx = np.arange(E)[:, None] + np.arange(1, lookback + 1)  # [E, lookback]: r_{t-K+1..t}
    return past[:, idx]  # [n, E, lookback, N]


def inverse_volatility(
    task: PortfolioTask, episodes: PortfolioEpisodes, lookback: int = LOOKBACK
) -> np.ndarray:
    """[n, E, N] weights ∝ 1 / trailing volatility over the available assets."""
    vol = _trailing(task, episodes, lookback).std(axis=2, ddof=1)  # [n, E, N]
    inv = np.divide(1.0, vol, out=np.zeros_like(vol), where=vol > 1e-12)
    return _normalise(inv, episodes.mask)


def minimum_variance(
    task: PortfolioTask, episodes: PortfolioEpisodes, lookback: int = LOOKBACK
) -> np.ndarray:
    """[n, E, N] long-only minimum-variance weights of the trailing covariance (SLSQP)."""
    trailing = _trailing(task, episodes, lookback)  # [n, E, K, N]
    n, E, _, N = trailing.shape
    out = np.zeros((n, E, N))
    for i in range(n):
        for t in range(E):
            live = np.flatnonzero(episodes.mask[i, t])
            if len(live) == 0:
                continue
            if len(live) == 1:
                out[i, t, live] = 1.0
                continue
            sigma = np.cov(trailing[i, t][:, live], rowvar=False)
            sigma = (1 - COV_SHRINK) * sigma + COV_SHRINK * np.diag(np.diag(sigma))
            sigma = sigma / max(np.trace(sigma) / len(live), 1e-12)  # scale for the solver
            x0 = np.full(len(live), 1.0 / len(live))
            result = minimize(
                lambda w, s=sigma: w @ s @ w,
                x0,
                jac=lambda w, s=sigma: 2.0 * s @ w,
                bounds=[(0.0, 1.0)] * len(live),
                constraints=[{"type": "eq", "fun": lambda w: w.sum() - 1.0}],
                method="SLSQP",
                options={"ftol": 1e-12, "maxiter": 200},
            )
            w = np.clip(result.x if result.success else x0, 0.0, None)
            out[i, t, live] = w / w.sum()
    return out


def momentum_top_k(
    task: PortfolioTask,
    episodes: PortfolioEpisodes,
    k: int = MOMENTUM_TOP_K,
    lookback: int = LOOKBACK,
) -> np.ndarray:
    """[n, E, N] equal weights on the k available assets with the highest trailing return."""
    trailing = _trailing(task, episodes, lookback)
    momentum = np.prod(1.0 + trailing, axis=2) - 1.0  # [n, E, N]
    momentum = np.where(episodes.mask, momentum, -np.inf)
    rank = np.argsort(np.argsort(-momentum, axis=-1), axis=-1)  # 0 = best
    return _normalise((rank < k).astype(float), episodes.mask)


def baseline_weights(
    task: PortfolioTask, episodes: PortfolioEpisodes, cost: CostConfig
) -> dict[str, np.ndarray]:
    """Every baseline's target weights [n, E, N] on ``episodes``."""
    return {
        "equal_weight": equal_weight(episodes),
        "equal_weight_hold": equal_weight_hold(episodes),
        "inverse_volatility": inverse_volatility(task, episodes),
        "minimum_variance": minimum_variance(task, episodes),
        "momentum_top_k": momentum_top_k(task, episodes),
    }


def evaluate_weights(
    name: str, weights: np.ndarray, episodes: PortfolioEpisodes, cost: CostConfig
) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Per-episode metrics of target weights [n, E, N] through the portfolio accounting, and
    the raw paths (``net`` [n, E], ``executed`` [n, E, N]) for plots and pooled statistics."""
    can_buy, can_sell = episodes.fill_flags(cost)
    net, costs, executed = run_np(weights, episodes.next_returns, cost, can_buy, can_sell)
    bench, _, _ = run_np(equal_weight(episodes), episodes.next_returns, cost, can_buy, can_sell)
    # Weights carried into each day (the accounting's drift), to measure what was traded.
    held = np.zeros_like(executed)
    gross = (executed * episodes.next_returns).sum(-1, keepdims=True)  # [n, E, 1]
    held[:, 1:] = (executed * (1.0 + episodes.next_returns) / (1.0 + gross))[:, :-1]
    invested = executed.sum(-1)  # [n, E]
    hhi = np.square(executed).sum(-1)
    effective = np.divide(invested**2, hhi, out=np.zeros_like(hhi), where=hhi > 1e-12)
    frame = pd.DataFrame(
        {
            "method": name,
            "episode": np.arange(len(net)),
            "total_return": total_return(net),
            "benchmark_return": total_return(bench),
            "excess_return": total_return(net) - total_return(bench),
            "annual_volatility": annual_volatility(net),
            "sharpe": sharpe_ratio(net),
            "sortino": sortino_ratio(net),
            "max_drawdown": max_drawdown(net),
            "turnover": np.abs(executed - held).sum(-1).mean(-1),
            "concentration": effective.mean(-1),
            "mean_cash": (1.0 - invested).mean(-1),
            "total_cost": costs.sum(-1),
        }
    )
    return frame, {"net": net, "costs": costs, "executed": executed}


def evaluate_all(
    weights: dict[str, np.ndarray], episodes: PortfolioEpisodes, cost: CostConfig
) -> tuple[pd.DataFrame, dict[str, dict[str, np.ndarray]]]:
    """``evaluate_weights`` for every method: the stacked per-episode rows and each
    method's paths, ready for ``write_portfolio_report``."""
    frames, paths = [], {}
    for name, w in weights.items():
        frame, paths[name] = evaluate_weights(name, w, episodes, cost)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True), paths


def scored(
    paths: dict[str, dict[str, np.ndarray]], dates: np.ndarray, benchmark: str = BENCHMARK
) -> Scored:
    """Every method's paths as the shared results table (``evaluate.table.Scored``: pooled
    Sharpe, IR and paired active return vs ``benchmark``, date-block intervals). Each method
    is a ``Backtest`` of its daily net returns and costs; its ``executed`` is the invested
    fraction [n, E] (the table's turnover is replaced by the portfolio's own in reports)."""
    backtests = {}
    for name, p in paths.items():
        invested = p["executed"].sum(-1)  # [n, E, N] -> [n, E]
        backtests[name] = Backtest(
            net=p["net"],
            costs=p["costs"],
            executed=invested,
            next_returns=np.zeros_like(p["net"]),
            prev_position=0.0,
        )
    return Scored.build(backtests, dates, benchmark=benchmark)


def pooled_summary(paths: dict[str, np.ndarray]) -> dict[str, float]:
    """Headline statistics of one method: annualised Sharpe of the pooled daily net returns
    (``metrics.pooled_sharpe``: all-cash = 0), compounded return and max drawdown of the
    episodes played back to back."""
    net = paths["net"].reshape(-1)  # [n, E] -> [n*E]
    return {
        "pooled_sharpe": pooled_sharpe(paths["net"]),
        "pooled_return": float(total_return(net)),
        "pooled_max_drawdown": float(max_drawdown(net)),
    }
