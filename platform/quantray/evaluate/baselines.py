"""Baseline strategies: the floor, the naive rules and the perfect-foresight ceiling.

Each function returns positions [N, E] in [0, 1] for N episodes of E days, to be scored by
``metrics.evaluate_positions`` exactly like a learned strategy. Position p_t is decided at the
close of day t and earns r_{t+1} (design.md section 3).

- ``buy_and_hold``: always 1.0 (fully invested).
- ``cash``: always 0.0.
- ``momentum``: 1.0 when the trailing ``window``-day return known at close t is > 0, else 0.
  Causal: reads only returns up to and including r_t.
- ``random_policy``: uniform over the 11 levels 0, 0.1, ..., 1.0 from a seeded Generator.
- ``perfect_foresight``: the ceiling. It LOOKS AHEAD on purpose: an exact dynamic programme
  over the position levels that maximises the sum of daily net returns given the cost model.

Return-array conventions:

- ``next_returns`` [N, E]: ``next_returns[:, t] = r_{t+1}``, what position p_t earns.
- ``realised_returns`` [N, lookback + E]: column ``lookback + t`` is ``r_t``, the return INTO
  day t (``close_t / close_{t-1} - 1``), known at close t. Columns 0..lookback-1 are the days
  before the episode, so ``realised_returns[:, lookback + 1:] == next_returns[:, :-1]``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from .. import accounting
from ..accounting import position_levels
from ..config import N_LEVELS, CostConfig
from .backtest import BacktestOptions, evaluate_positions

if TYPE_CHECKING:
    from typing_extensions import Unpack

Array = NDArray[np.float64]


def _check_shape(n_episodes: int, episode_len: int) -> None:
    if n_episodes < 1 or episode_len < 1:
        raise ValueError(
            f"expected n_episodes >= 1 and episode_len >= 1, got {n_episodes} and {episode_len}."
        )


def buy_and_hold(n_episodes: int, episode_len: int) -> Array:
    """[N, E] all ones: fully invested every day."""
    _check_shape(n_episodes, episode_len)
    return np.ones((n_episodes, episode_len))


def cash(n_episodes: int, episode_len: int) -> Array:
    """[N, E] all zeros: never invested."""
    _check_shape(n_episodes, episode_len)
    return np.zeros((n_episodes, episode_len))


def momentum(realised_returns: ArrayLike, episode_len: int, window: int = 20) -> Array:
    """Time-series momentum: fully invested while the trailing return is positive.

    Args:
        realised_returns: [N, lookback + E]; column ``lookback + t`` is r_t, the return into
            day t (see the module docstring). Needs ``lookback >= window - 1`` so the window
            of day 0 is complete.
        episode_len: E, the number of episode days (the trailing E columns).
        window: k, trading days in the trailing return ``prod(1 + r_{t-k+1..t}) - 1``.

    Returns:
        [N, E] positions: 1.0 where the trailing k-day return at close t is > 0, else 0.0.
        Position t reads only columns ``lookback + t - k + 1 .. lookback + t``.
    """
    r = np.asarray(realised_returns, dtype=np.float64)
    if r.ndim != 2:
        raise ValueError(f"realised_returns: expected [N, lookback + E], got shape {r.shape}.")
    if window < 1:
        raise ValueError(f"window must be >= 1 day, got {window}.")
    lookback = r.shape[1] - episode_len
    if lookback < window - 1:
        raise ValueError(
            f"realised_returns: has {r.shape[1]} columns for an episode of {episode_len} days, "
            f"i.e. lookback={lookback}; a {window}-day window needs lookback >= {window - 1}. "
            f"Pass at least {window - 1} days of returns before the episode, or a smaller window."
        )
    # Only the columns any window touches; a NaN before them is irrelevant.
    used = r[:, lookback - window + 1 :]  # [N, window - 1 + E]
    if not np.isfinite(used).all():
        raise ValueError(
            "realised_returns: found non-finite returns inside the momentum windows; expected "
            "finite returns (fill suspended days with 0)."
        )
    # [N, window - 1 + E] -> [N, E, window]: window t covers r_{t-k+1..t}.
    windows = np.lib.stride_tricks.sliding_window_view(1.0 + used, window, axis=1)
    trailing = np.prod(windows, axis=-1) - 1.0  # [N, E]
    return (trailing > 0.0).astype(np.float64)


def random_policy(
    n_episodes: int,
    episode_len: int,
    rng: np.random.Generator | int,
    n_levels: int = N_LEVELS,
) -> Array:
    """[N, E] positions drawn independently and uniformly from the ``n_levels`` levels.

    ``rng`` is a numpy Generator or an int seed; the same seed gives the same positions.
    """
    _check_shape(n_episodes, episode_len)
    generator = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    index = generator.integers(0, n_levels, size=(n_episodes, episode_len))
    return position_levels(n_levels)[index]


def _transition_costs(cost: CostConfig, levels: Array) -> Array:
    """[A, A] cost of moving from level i (row) to level j (column), from the accounting."""
    n = levels.size
    to_level = np.broadcast_to(levels[None, :, None], (n, n, 1))  # [A_from, A_to, 1]
    from_level = np.broadcast_to(levels[:, None], (n, n))  # [A_from, A_to]
    # One trade, not an episode: no exit sale (perfect_foresight adds it at the end).
    _, costs, _ = accounting.net_returns_np(
        to_level, np.zeros((n, n, 1)), cost.replace(charge_exit=False), prev_position=from_level
    )
    return costs[..., 0]  # [A_from, A_to, 1] -> [A_from, A_to]


def perfect_foresight(
    next_returns: ArrayLike,
    cost: CostConfig,
    prev_position: float | ArrayLike = 0.0,
    n_levels: int = N_LEVELS,
) -> Array:
    """The hindsight-optimal positions: an upper bound for every strategy on the levels.

    Exact dynamic programme over the ``n_levels`` positions that maximises, per episode,
    ``sum_t (p_t * r_{t+1} - cost(p_{t-1} -> p_t))`` with ``p_{-1} = prev_position`` and the
    costs of ``accounting.net_returns_np`` (commission, stamp duty on sells, slippage, and the
    exit sale of the last position when ``cost.charge_exit``). The
    objective is the SUM of daily net returns (not the compounded return); with zero costs
    the optimum is ``p_t = 1[r_{t+1} > 0]`` for both. Blocked trades (price limits,
    suspensions) are ignored: the oracle may trade on those days, which only makes it a
    looser (still valid) ceiling.
    Ties are broken towards the lower position. Vectorised over episodes; loops over E.

    Args:
        next_returns: [N, E] r_{t+1}; the oracle sees all of them (look-ahead by design).
        cost: the cost model.
        prev_position: position held before day 0, scalar or [N] (need not be a level).
        n_levels: A, number of levels in [0, 1].

    Returns:
        [N, E] positions on the level grid.
    """
    r = np.asarray(next_returns, dtype=np.float64)
    if r.ndim != 2 or not np.isfinite(r).all():
        raise ValueError(
            f"next_returns: expected a finite [N, E] array, got shape {r.shape}"
            + ("" if r.ndim != 2 else f" with {int((~np.isfinite(r)).sum())} non-finite value(s)")
            + "."
        )
    n_episodes, episode_len = r.shape
    levels = position_levels(n_levels)  # [A]
    transition = _transition_costs(cost, levels)  # [A_from, A_to]
    prev = np.broadcast_to(np.asarray(prev_position, dtype=np.float64), (n_episodes,))
    # Entry cost from an arbitrary prev_position into each level, again from the accounting.
    _, entry, _ = accounting.net_returns_np(
        np.broadcast_to(levels[None, :, None], (n_episodes, n_levels, 1)),  # [N, A, 1]
        np.zeros((n_episodes, n_levels, 1)),
        cost.replace(charge_exit=False),
        prev_position=np.broadcast_to(prev[:, None], (n_episodes, n_levels)),  # [N, A]
    )
    # value[n, j]: best sum of net returns up to day t when p_t = levels[j].
    value = levels[None, :] * r[:, :1] - entry[..., 0]  # [N, A]
    parent = np.zeros((n_episodes, episode_len, n_levels), dtype=np.int64)  # [N, E, A]
    for t in range(1, episode_len):
        # [N, A_from, 1] - [1, A_from, A_to] -> [N, A_from, A_to]
        candidates = value[:, :, None] - transition[None, :, :]
        parent[:, t] = np.argmax(candidates, axis=1)  # [N, A_to]
        value = np.max(candidates, axis=1) + levels[None, :] * r[:, t : t + 1]  # [N, A]

    if cost.charge_exit:
        value = value - accounting.exit_cost_np(levels, cost)[None, :]  # the final sale
    # Backtrack from the best final level.
    choice = np.empty((n_episodes, episode_len), dtype=np.int64)
    choice[:, -1] = np.argmax(value, axis=1)
    for t in range(episode_len - 1, 0, -1):
        # [N, A] gathered at [N, 1] -> [N]
        choice[:, t - 1] = np.take_along_axis(parent[:, t], choice[:, t : t + 1], axis=1)[:, 0]
    return levels[choice]


def baseline_positions(
    next_returns: ArrayLike,
    realised_returns: ArrayLike,
    cost: CostConfig,
    prev_position: float | ArrayLike = 0.0,
    momentum_window: int = 20,
    seed: int = 0,
) -> dict[str, Array]:
    """Positions [N, E] of every baseline: buy_and_hold, cash, momentum, random, perfect_foresight."""
    r = np.asarray(next_returns, dtype=np.float64)
    if r.ndim != 2:
        raise ValueError(f"next_returns: expected [N, E], got shape {r.shape}.")
    n_episodes, episode_len = r.shape
    return {
        "buy_and_hold": buy_and_hold(n_episodes, episode_len),
        "cash": cash(n_episodes, episode_len),
        "momentum": momentum(realised_returns, episode_len, momentum_window),
        "random": random_policy(n_episodes, episode_len, seed),
        "perfect_foresight": perfect_foresight(r, cost, prev_position),
    }


def evaluate_baselines(
    next_returns: ArrayLike,
    realised_returns: ArrayLike,
    cost: CostConfig,
    *,
    episode_ids: ArrayLike | None = None,
    momentum_window: int = 20,
    seed: int = 0,
    **options: Unpack[BacktestOptions],
) -> pd.DataFrame:
    """Every baseline through ``evaluate_positions`` on the same episodes, stacked.

    Methods: buy_and_hold, cash, momentum, random, perfect_foresight. Arguments as in
    ``evaluate_positions`` and ``momentum``; ``seed`` drives the random policy. Prefer
    ``quantray.evaluate.versus.baseline_backtests(task, episodes, cost)``, which takes the
    trade permissions from the episodes.

    Returns:
        One row per (method, episode) with the ``evaluate_positions`` columns.
    """
    r = np.asarray(next_returns, dtype=np.float64)
    prev_position = options.get("prev_position", 0.0)
    strategies = baseline_positions(r, realised_returns, cost, prev_position, momentum_window, seed)
    frames = [
        evaluate_positions(name, positions, r, cost, episode_ids=episode_ids, **options)
        for name, positions in strategies.items()
    ]
    return pd.concat(frames, ignore_index=True)


__all__ = [
    "buy_and_hold",
    "cash",
    "evaluate_baselines",
    "momentum",
    "perfect_foresight",
    "random_policy",
]
