"""Evaluation: per-episode backtest metrics, baselines, confidence intervals, deflated Sharpe.

Pure numpy / scipy / pandas / arch. Every strategy (GRU, PPO, SAC, baselines) is scored
through the one accounting rule on the same episodes (``backtest.backtest_episodes``, with the episodes' own trade permissions), and every
report prints the one table (``table.Scored``): pooled daily Sharpe, information ratio vs
buy-and-hold, date-block bootstrap intervals (``blocks``). After a search, ``selection``
gives the deflated Sharpe ratios and Hansen's SPA test.
"""

from .backtest import (
    Backtest,
    backtest_episodes,
    episode_results,
    evaluate_positions,
    run_backtest,
)
from .baselines import (
    buy_and_hold,
    cash,
    evaluate_baselines,
    momentum,
    perfect_foresight,
    random_policy,
)
from .metrics import (
    METRIC_COLUMNS,
    TRADING_DAYS_PER_YEAR,
    annual_return,
    annual_volatility,
    calmar_ratio,
    downside_deviation,
    episode_metrics,
    equity_curve,
    hit_rate,
    max_drawdown,
    pooled_metrics,
    pooled_sharpe,
    sharpe_from_moments,
    sharpe_ratio,
    sortino_ratio,
    total_return,
    turnover,
)
from .stats import (
    ConfidenceInterval,
    SharpeMoments,
    bootstrap_ci,
    deflated_sharpe_ratio,
    expected_max_sharpe,
    paired_difference_ci,
    probabilistic_sharpe_ratio,
    sharpe_moments,
)

__all__ = [
    "METRIC_COLUMNS",
    "TRADING_DAYS_PER_YEAR",
    "Backtest",
    "ConfidenceInterval",
    "SharpeMoments",
    "annual_return",
    "annual_volatility",
    "backtest_episodes",
    "bootstrap_ci",
    "buy_and_hold",
    "calmar_ratio",
    "cash",
    "deflated_sharpe_ratio",
    "downside_deviation",
    "episode_metrics",
    "episode_results",
    "equity_curve",
    "evaluate_baselines",
    "evaluate_positions",
    "expected_max_sharpe",
    "hit_rate",
    "max_drawdown",
    "momentum",
    "paired_difference_ci",
    "perfect_foresight",
    "pooled_metrics",
    "pooled_sharpe",
    "probabilistic_sharpe_ratio",
    "random_policy",
    "run_backtest",
    "sharpe_from_moments",
    "sharpe_moments",
    "sharpe_ratio",
    "sortino_ratio",
    "total_return",
    "turnover",
]
