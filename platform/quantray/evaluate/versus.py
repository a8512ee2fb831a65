"""One method against the baselines on a fixed episode list, scored for the results table.

Every script that reports a method (train_strategy, train_rl, the search summary, compare)
scores it here: the method's positions and every baseline's go through the same accounting on
the same episodes (``evaluate.backtest.backtest_episodes``, with the episodes' own trade
permissions), and ``Scored.markdown`` prints the one table (``evaluate.table``).
"""

from __future__ import annotations

import numpy as np

from quantray.config import CostConfig
from quantray.data import Episodes, Task
from quantray.evaluate.backtest import Backtest, backtest_episodes
from quantray.evaluate.baselines import baseline_positions
from quantray.evaluate.table import Scored

MOMENTUM_LOOKBACK = 20


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
