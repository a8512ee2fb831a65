"""The backtest runner, the one evaluation path: (positions, episodes, cost model) ->
accounting -> ``Backtest`` (the metric formulas themselves live in ``evaluate.metrics``).

Every method and baseline (GRU, PPO, SAC, buy-and-hold, ...) is scored by these functions on
an ``Episodes`` list (``versus.baseline_backtests`` runs every baseline through
``backtest_episodes``). The episodes carry their own trade permissions
(``Episodes.trade_flags(cost)``: suspensions and, when the cost model enforces them, the
exchange price limits), so no caller assembles limit flags by hand, and every episode's
final position is sold at its end when ``cost.charge_exit`` (the default).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, TypedDict

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from quantray import accounting
from quantray.config import CostConfig
from quantray.data.windows import Episodes
from quantray.evaluate.metrics import (
    TRADING_DAYS_PER_YEAR,
    Array,
    MetricInputs,
    check_2d,
    episode_metrics,
    pooled_metrics,
    prev_column,
)

if TYPE_CHECKING:
    from typing_extensions import Unpack


@dataclass(frozen=True)
class Backtest:
    """The accounting output for N episodes: what every metric is computed from."""

    net: Array
    """[N, E] daily net returns ``p_t * r_{t+1} - cost_t``."""
    costs: Array
    """[N, E] daily transaction costs (fraction of equity); the last day includes the exit
    sale when ``cost.charge_exit``."""
    executed: Array
    """[N, E] positions actually held (after blocked trades: price limits, suspensions)."""
    next_returns: Array
    """[N, E] the asset's returns r_{t+1}; the buy-and-hold benchmark for excess return."""
    prev_position: float | Array
    """Position before day 0 (scalar or [N])."""

    def episode_metrics(self, periods_per_year: int = TRADING_DAYS_PER_YEAR) -> pd.DataFrame:
        """Per-episode metrics (see ``episode_metrics``)."""
        return episode_metrics(self.net, self.executed, **self._inputs(periods_per_year))

    def pooled_metrics(self, periods_per_year: int = TRADING_DAYS_PER_YEAR) -> dict[str, float]:
        """Metrics of all episodes concatenated (see ``pooled_metrics``)."""
        return pooled_metrics(self.net, self.executed, **self._inputs(periods_per_year))

    def _inputs(self, periods_per_year: int) -> MetricInputs:
        return {
            "prev_position": self.prev_position,
            "benchmark_returns": self.next_returns,
            "costs": self.costs,
            "periods_per_year": periods_per_year,
        }


class BacktestOptions(TypedDict, total=False):
    """The optional accounting inputs of ``run_backtest``, passed through unchanged by
    ``evaluate_positions`` and ``baselines.evaluate_baselines``."""

    prev_position: float | ArrayLike
    """Position held before day 0, scalar or [N]; 0.0 (cash) when omitted."""
    can_buy: ArrayLike | None
    """[N, E] bool: False where that day's order cannot raise the position (limit-up close,
    suspension); every order fills when omitted. ``backtest_episodes`` takes the flags from
    the episodes."""
    can_sell: ArrayLike | None
    """[N, E] bool: False where that day's order cannot lower the position (limit-down close,
    suspension); every order fills when omitted."""


def run_backtest(
    positions: ArrayLike,
    next_returns: ArrayLike,
    cost: CostConfig,
    **options: Unpack[BacktestOptions],
) -> Backtest:
    """Run positions [N, E] through ``accounting.net_returns_np`` and keep every output.

    Positions must lie in [0, 1] (long-only, fraction of equity); ``options`` are the
    position before day 0 and the trade permissions (``BacktestOptions``). Each episode's last
    day pays the exit sale when ``cost.charge_exit``. Prefer ``backtest_episodes(positions,
    episodes, cost)``, which takes the permissions from the episodes.
    """
    unknown = sorted(set(options) - BacktestOptions.__optional_keys__)
    if unknown:
        raise TypeError(
            f"run_backtest: unknown option(s) {unknown}; expected "
            f"{sorted(BacktestOptions.__optional_keys__)}"
        )
    prev_position = options.get("prev_position", 0.0)
    can_buy, can_sell = options.get("can_buy"), options.get("can_sell")
    r = check_2d("next_returns", next_returns)
    p = check_2d("positions", positions, r.shape)
    if p.min() < 0.0 or p.max() > 1.0:
        raise ValueError(
            f"positions: found values in [{p.min():.4g}, {p.max():.4g}], expected [0, 1] "
            "(fraction of equity, long only). Map action indices a in 0..10 to a / 10."
        )
    prev = np.asarray(prev_position, dtype=np.float64)
    prev_column(prev, r.shape[:-1])  # validates the shape
    net, costs, executed = accounting.net_returns_np(
        p,
        r,
        cost,
        prev_position=prev_position,
        can_buy=None if can_buy is None else np.asarray(can_buy, dtype=bool),
        can_sell=None if can_sell is None else np.asarray(can_sell, dtype=bool),
    )
    return Backtest(
        net=np.asarray(net, dtype=np.float64),
        costs=np.asarray(costs, dtype=np.float64),
        executed=np.asarray(executed, dtype=np.float64),
        next_returns=r,
        prev_position=prev if prev.ndim else float(prev),
    )


def evaluate_positions(
    name: str,
    positions: ArrayLike,
    next_returns: ArrayLike,
    cost: CostConfig,
    *,
    episode_ids: ArrayLike | None = None,
    **options: Unpack[BacktestOptions],
) -> pd.DataFrame:
    """Evaluate one strategy's positions on N test episodes: the single evaluation path.

    Args:
        name: method name written to the ``method`` column (e.g. "gru", "ppo", "buy_and_hold").
        positions: [N, E] positions in [0, 1]; p_t is decided at close t.
        next_returns: [N, E] r_{t+1} = close_{t+1} / close_t - 1, aligned with positions.
        cost: the cost model (``CostConfig.preset(...)``).
        episode_ids: [N] identifiers for the ``episode`` column; 0..N-1 when omitted. Use the
            same ids for every strategy so paired comparisons line up.
        options: ``prev_position``, ``can_buy``, ``can_sell`` (``BacktestOptions``).

    Returns:
        DataFrame with one row per episode: ``method``, ``episode`` and ``METRIC_COLUMNS``.
    """
    return _result_rows(name, run_backtest(positions, next_returns, cost, **options), episode_ids)


def _result_rows(name: str, backtest: Backtest, episode_ids: ArrayLike | None) -> pd.DataFrame:
    """``backtest``'s per-episode metrics with the ``method`` and ``episode`` columns first."""
    frame = backtest.episode_metrics()
    n_episodes = frame.shape[0]
    ids = np.arange(n_episodes) if episode_ids is None else np.asarray(episode_ids)
    if ids.shape != (n_episodes,):
        raise ValueError(
            f"episode_ids: expected shape ({n_episodes},) (one id per episode), got {ids.shape}."
        )
    frame.insert(0, "episode", ids)
    frame.insert(0, "method", name)
    return frame


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
        prev_position=prev_position,
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
    backtest = backtest_episodes(positions, episodes, cost, prev_position=prev_position)
    return _result_rows(name, backtest, episode_ids)


__all__ = [
    "Backtest",
    "backtest_episodes",
    "episode_results",
    "evaluate_positions",
    "run_backtest",
]
