"""The one evaluation path: (positions, episodes, cost model) -> accounting -> results.

Every method and baseline (GRU, PPO, SAC, buy-and-hold, ...) is scored by these functions on
an ``Episodes`` list (``versus.baseline_backtests`` runs every baseline through
``backtest_episodes``). The episodes carry their own trade permissions
(``Episodes.trade_flags(cost)``: suspensions and, when the cost model enforces them, the
exchange price limits), so no caller assembles limit flags by hand, and every episode's
final position is sold at its end when ``cost.charge_exit`` (the default).
"""

from __future__ import annotations

import pandas as pd
from numpy.typing import ArrayLike

from quantray.config import CostConfig
from quantray.data.windows import Episodes
from quantray.evaluate.metrics import Backtest, evaluate_positions, run_backtest


def backtest_episodes(
    positions: ArrayLike,
    episodes: Episodes,
    cost: CostConfig,
    *,
    prev_position: float | ArrayLike = 0.0,
) -> Backtest:
    """Positions [n, E] (in [0, 1], decided at each day's close) on ``episodes`` through the
    accounting, with the episodes' trade permissions: daily net returns, costs and executed
    positions [n, E] (``Backtest``; ``.episode_metrics()`` / ``.pooled_metrics()``)."""
    can_buy, can_sell = episodes.trade_flags(cost)
    return run_backtest(
        positions,
        episodes.next_returns,
        cost,
        prev_position,
        can_buy=can_buy,
        can_sell=can_sell,
    )


def episode_results(
    name: str,
    positions: ArrayLike,
    episodes: Episodes,
    cost: CostConfig,
    *,
    prev_position: float | ArrayLike = 0.0,
    episode_ids: ArrayLike | None = None,
) -> pd.DataFrame:
    """One method's per-episode result rows (``method``, ``episode`` and ``METRIC_COLUMNS``)
    for positions [n, E] on ``episodes``; ``episode_ids`` default 0..n-1 (use the same for
    every method so paired comparisons line up)."""
    can_buy, can_sell = episodes.trade_flags(cost)
    return evaluate_positions(
        name,
        positions,
        episodes.next_returns,
        cost,
        prev_position=prev_position,
        can_buy=can_buy,
        can_sell=can_sell,
        episode_ids=episode_ids,
    )
