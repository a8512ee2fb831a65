"""One method against the baselines on a fixed episode list, scored for the results table.

Every script that reports a method (train_strategy, train_rl, the search summary, compare)
scores it here: the method's positions and every baseline's go through the same accounting on
the same episodes, and ``Scored.markdown`` prints the one table (``evaluate.table``).
"""

from __future__ import annotations

import numpy as np

from quantray.accounting import limit_flags
from quantray.config import CostConfig
from quantray.data import Episodes, Task
from quantray.evaluate.baselines import baseline_positions
from quantray.evaluate.metrics import Backtest, run_backtest
from quantray.evaluate.table import Scored

MOMENTUM_LOOKBACK = 20


def backtest_episodes(positions: np.ndarray, episodes: Episodes, cost: CostConfig) -> Backtest:
    """Positions [n, E] on ``episodes`` through the accounting, with the episodes' limit flags."""
    up, down = limit_flags(episodes.prev_returns, cost.price_limit)
    return run_backtest(positions, episodes.next_returns, cost, limit_up=up, limit_down=down)


def baseline_backtests(
    task: Task, episodes: Episodes, cost: CostConfig, *, seed: int = 0
) -> dict[str, Backtest]:
    """Every baseline (buy_and_hold, cash, momentum, random, perfect_foresight) on ``episodes``."""
    positions = baseline_positions(
        episodes.next_returns,
        task.realised_returns(episodes, MOMENTUM_LOOKBACK),
        cost,
        momentum_window=MOMENTUM_LOOKBACK,
        seed=seed,
    )
    return {name: backtest_episodes(p, episodes, cost) for name, p in positions.items()}


def versus_baselines(
    name: str,
    positions: np.ndarray,
    task: Task,
    episodes: Episodes,
    cost: CostConfig,
    *,
    seed: int = 0,
) -> Scored:
    """``name`` (positions [n, E]) and every baseline on ``episodes``, ready for the table."""
    backtests = {name: backtest_episodes(positions, episodes, cost)}
    backtests.update(baseline_backtests(task, episodes, cost, seed=seed))
    return Scored.build(backtests, task.episode_dates(episodes))
