"""The ONE accounting rule: position -> P&L -> costs, in NumPy and in PyTorch.

Three users share it: the stage-2 strategy loss (torch, differentiable), the Gymnasium env
reward (numpy, one step for N environments) and the backtests / evaluation (numpy, whole
episodes). Both implementations follow the same definition, and a test asserts they agree to
1e-6 on random inputs, with and without the price-limit rule.

The rule, for one environment and day t (axis legend: B batch, E episode length):

* ``p_t`` is the position (fraction of equity in the asset, in [0, 1]) decided at the close of
  day t and held to the close of day t+1, where it earns ``r_{t+1} = close_{t+1}/close_t - 1``.
  In episode arrays ``next_returns[..., t]`` holds ``r_{t+1}``.
* Price limits (only when ``cost.enforce_price_limit``): if day t closed limit-up
  (``r_t >= price_limit - 1e-6``, the return INTO day t, known at close t) the order cannot
  fill on the buy side, so the executed position cannot increase: ``min(p_wanted, p_prev)``.
  If it closed limit-down it cannot decrease: ``max(p_wanted, p_prev)``.
* With ``Δ = p_exec_t - p_exec_{t-1}``, the cost is
  ``(commission + slippage) * max(Δ, 0) + (commission + stamp_duty + slippage) * max(-Δ, 0)``.
* The daily net return is ``p_exec_t * r_{t+1} - cost_t`` (simple returns; compound with
  ``prod(1 + net)`` for an equity curve).

Positions outside [0, 1] are not clipped: the formulas stay meaningful for leverage or shorts,
and clipping would hide a policy bug.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar

import numpy as np

from quantray.config import CostConfig

if TYPE_CHECKING:
    from torch import Tensor

# torch is imported inside the torch functions only: the env and the numpy backtests use
# this module on every step and should not pay torch's ~3 s import.

LIMIT_TOLERANCE = 1e-6
"""A close counts as limit-up when its return is >= price_limit - LIMIT_TOLERANCE (rounded
exchange prices land a hair under the exact limit)."""

ArrayT = TypeVar("ArrayT", np.ndarray, "Tensor")

N_LEVELS: int = 11
"""A: the discrete position levels 0, 0.1, ..., 1.0 shared by the GRU head, the env's
actions and the baselines."""


def position_levels(n_levels: int = N_LEVELS) -> np.ndarray:
    """[A] float64 evenly spaced positions from 0 to 1 (11 levels -> 0.0, 0.1, ..., 1.0):
    action / level index a means position ``position_levels()[a]`` everywhere."""
    if n_levels < 2:
        raise ValueError(
            f"n_levels must be >= 2 (at least cash and fully invested), got {n_levels}."
        )
    return np.linspace(0.0, 1.0, n_levels)


def limit_flags(prev_day_returns: ArrayT, price_limit: float | None) -> tuple[ArrayT, ArrayT]:
    """Which days closed at the daily price limit.

    ``prev_day_returns[..., t]`` must be ``r_t``, the return INTO day t (close_t/close_{t-1} -
    1), which is known at the close of day t. For episode arrays holding next-day returns
    ``next_returns[..., t] = r_{t+1}`` this is ``next_returns`` shifted right by one day, with
    the return into the first day prepended. Works on NumPy arrays and torch tensors alike.

    Returns boolean ``(limit_up, limit_down)`` of the same shape; all False when
    ``price_limit`` is None.
    """
    if price_limit is None:
        if not isinstance(prev_day_returns, np.ndarray):
            import torch

            none = torch.zeros_like(prev_day_returns, dtype=torch.bool)
            return none, none.clone()
        none_np = np.zeros(np.shape(prev_day_returns), dtype=bool)
        return none_np, none_np.copy()
    threshold = price_limit - LIMIT_TOLERANCE
    return prev_day_returns >= threshold, prev_day_returns <= -threshold


# --------------------------------------------------------------------------------- numpy


def step_np(
    wanted: np.ndarray,
    prev: np.ndarray,
    next_return: np.ndarray,
    cost: CostConfig,
    limit_up: np.ndarray | None = None,
    limit_down: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One trading day for N environments (the env calls this every step).

    Args:
        wanted: [N] position each environment asks for at today's close.
        prev: [N] position executed yesterday (held into today).
        next_return: [N] r_{t+1}, earned by today's executed position.
        cost: the cost model; limit flags are used only when ``cost.enforce_price_limit``.
        limit_up / limit_down: [N] bool, today closed at the limit (see ``limit_flags``).

    Returns:
        ``(net, cost, executed)``, each [N]: net return ``executed * next_return - cost``,
        the trading cost paid today, and the position actually held after the limit rule.
    """
    executed = wanted
    if cost.enforce_price_limit:
        if limit_up is not None:
            executed = np.where(limit_up, np.minimum(executed, prev), executed)
        if limit_down is not None:
            executed = np.where(limit_down, np.maximum(executed, prev), executed)
    costs = _trade_cost_np(executed - prev, cost)
    return executed * next_return - costs, costs, executed


def _trade_cost_np(delta: np.ndarray | float, cost: CostConfig) -> np.ndarray | float:
    # Asymmetric: sells also pay stamp duty.
    if isinstance(delta, float):
        # One env's step (the continuous TradingEnv): the same products in Python
        # arithmetic, ~30x cheaper than two ufunc calls on a scalar.
        return cost.buy_rate * delta if delta >= 0.0 else cost.sell_rate * -delta
    return cost.buy_rate * np.maximum(delta, 0.0) + cost.sell_rate * np.maximum(-delta, 0.0)


def net_returns_np(
    positions: np.ndarray,
    next_returns: np.ndarray,
    cost: CostConfig,
    prev_position: float | np.ndarray = 0.0,
    limit_up: np.ndarray | None = None,
    limit_down: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Whole episodes: the day-by-day rule of ``step_np`` applied along the last axis.

    Args:
        positions: [..., E] wanted positions, decided at each day's close.
        next_returns: [..., E] ``next_returns[..., t] = r_{t+1}``.
        cost: the cost model.
        prev_position: position held before day 0 (scalar or [...]); 0.0 starts in cash.
        limit_up / limit_down: [..., E] bool flags (used only when ``cost.enforce_price_limit``).

    Returns:
        ``(net, costs, executed)``, each [..., E].

    Without an enforced limit this is fully vectorised; with one it loops over the E days
    only (the executed position of day t depends on that of day t-1), never over the batch.
    """
    positions = np.asarray(positions, dtype=np.float64)
    next_returns = np.asarray(next_returns, dtype=np.float64)
    _check_shapes(positions.shape, next_returns.shape, limit_up, limit_down)
    # [...] -> [..., 1]: the position held before the first day of each episode.
    prev0 = np.broadcast_to(
        np.asarray(prev_position, dtype=np.float64)[..., None], (*positions.shape[:-1], 1)
    )
    use_limits = cost.enforce_price_limit and (limit_up is not None or limit_down is not None)
    if not use_limits:
        # [..., E]: yesterday's position for every day, prev0 first.
        prev = np.concatenate([prev0, positions[..., :-1]], axis=-1)
        costs = _trade_cost_np(positions - prev, cost)
        return positions * next_returns - costs, costs, positions.copy()

    net = np.empty_like(positions)
    costs = np.empty_like(positions)
    executed = np.empty_like(positions)
    prev_day = prev0[..., 0]
    for t in range(positions.shape[-1]):
        net[..., t], costs[..., t], executed[..., t] = step_np(
            positions[..., t],
            prev_day,
            next_returns[..., t],
            cost,
            None if limit_up is None else limit_up[..., t],
            None if limit_down is None else limit_down[..., t],
        )
        prev_day = executed[..., t]
    return net, costs, executed


# --------------------------------------------------------------------------------- torch


def step_torch(
    wanted: Tensor,
    prev: Tensor,
    next_return: Tensor,
    cost: CostConfig,
    limit_up: Tensor | None = None,
    limit_down: Tensor | None = None,
) -> tuple[Tensor, Tensor, Tensor]:
    """``step_np`` in torch, differentiable w.r.t. ``wanted`` and ``prev``.

    Shapes [N] (or any matching shape). The GRU strategy calls this once per day so that the
    executed position, not the wanted one, is fed back into the next step.
    """
    import torch

    executed = wanted
    if cost.enforce_price_limit:
        # torch.minimum/maximum route the gradient to whichever side is selected.
        if limit_up is not None:
            executed = torch.where(limit_up, torch.minimum(executed, prev), executed)
        if limit_down is not None:
            executed = torch.where(limit_down, torch.maximum(executed, prev), executed)
    costs = _trade_cost_torch(executed - prev, cost)
    return executed * next_return - costs, costs, executed


def _trade_cost_torch(delta: Tensor, cost: CostConfig) -> Tensor:
    import torch

    # relu keeps the asymmetric (buy vs sell) cost differentiable almost everywhere.
    return cost.buy_rate * torch.relu(delta) + cost.sell_rate * torch.relu(-delta)


def net_returns_torch(
    positions: Tensor,
    next_returns: Tensor,
    cost: CostConfig,
    prev_position: float | Tensor = 0.0,
    limit_up: Tensor | None = None,
    limit_down: Tensor | None = None,
) -> tuple[Tensor, Tensor, Tensor]:
    """``net_returns_np`` in torch, differentiable w.r.t. ``positions``.

    Shapes: positions / next_returns / limit flags [..., E], prev_position scalar or [...].
    Returns ``(net, costs, executed)``, each [..., E].
    """
    import torch

    _check_shapes(tuple(positions.shape), tuple(next_returns.shape), limit_up, limit_down)
    prev0 = torch.as_tensor(prev_position, dtype=positions.dtype, device=positions.device)
    # [...] -> [..., 1]: the position held before the first day of each episode.
    prev0 = prev0.unsqueeze(-1).expand(*positions.shape[:-1], 1)
    use_limits = cost.enforce_price_limit and (limit_up is not None or limit_down is not None)
    if not use_limits:
        # [..., E]: yesterday's position for every day, prev0 first.
        prev = torch.cat([prev0, positions[..., :-1]], dim=-1)
        costs = _trade_cost_torch(positions - prev, cost)
        return positions * next_returns - costs, costs, positions

    nets, costs_list, executed_list = [], [], []
    prev_day = prev0[..., 0]
    for t in range(positions.shape[-1]):
        net_t, cost_t, exec_t = step_torch(
            positions[..., t],
            prev_day,
            next_returns[..., t],
            cost,
            None if limit_up is None else limit_up[..., t],
            None if limit_down is None else limit_down[..., t],
        )
        nets.append(net_t)
        costs_list.append(cost_t)
        executed_list.append(exec_t)
        prev_day = exec_t
    # E x [...] -> [..., E]
    return (
        torch.stack(nets, dim=-1),
        torch.stack(costs_list, dim=-1),
        torch.stack(executed_list, dim=-1),
    )


def _check_shapes(
    positions: tuple[int, ...],
    next_returns: tuple[int, ...],
    limit_up: np.ndarray | Tensor | None,
    limit_down: np.ndarray | Tensor | None,
) -> None:
    if len(positions) == 0:
        raise ValueError(
            "accounting: positions must have a trailing day axis [..., E], got a scalar; "
            "wrap a single day as shape [1] or use step_np/step_torch"
        )
    if positions != next_returns:
        raise ValueError(
            f"accounting: positions {positions} and next_returns {next_returns} must have the "
            "same shape [..., E] (next_returns[..., t] is the return earned by the position "
            "decided on day t)"
        )
    for name, flags in (("limit_up", limit_up), ("limit_down", limit_down)):
        if flags is not None and tuple(flags.shape) != positions:
            raise ValueError(
                f"accounting: {name} has shape {tuple(flags.shape)}, expected {positions} like "
                "positions; build it with limit_flags(prev_day_returns, cost.price_limit)"
            )
