"""The ONE portfolio accounting rule: target weights over N assets + cash -> fills -> P&L.

The multi-asset counterpart of ``quantray.accounting`` (which stays the rule for one asset),
implemented once in NumPy (env reward, baselines, backtests) and once in PyTorch
(differentiable, the portfolio strategy loss); a test asserts they agree to 1e-6 on random
inputs. Axis legend: B batch, E episode days, N assets. Weights are fractions of equity;
``w[..., n]`` is asset n and the cash weight is ``1 - sum_n w[..., n]`` (never stored).

The rule, for one portfolio and day t:

* ``held`` [N]: the weights carried into the close of day t, i.e. yesterday's executed weights
  after drifting with the day's returns (``drift``); all zeros (all cash) before day 0.
* ``wanted`` [N]: the target weights decided at the close of day t (long-only, summing to at
  most 1, each <= the cap: see ``scores_to_weights``).
* Fills. An asset's order fills only if it can trade that day: ``can_buy[n]`` (it trades, is
  in the universe and did not close limit-up) for an increase, ``can_sell[n]`` (it trades and
  did not close limit-down) for a decrease. An order that cannot fill leaves the asset at its
  held weight. Sells settle first; buys are then scaled by one common factor
  ``lam = min(1, free cash / wanted buys)`` so a blocked sell can never finance a buy
  (executed weights stay long-only with sum <= 1).
* Cost, per asset, with the single-asset cost presets (``CostConfig``):
  ``(commission + slippage) * sum_n max(Δ_n, 0) + (commission + stamp_duty + slippage) *
  sum_n max(-Δ_n, 0)`` with ``Δ = executed - held``.
* Exit (``cost.charge_exit``, default on), as in the single-asset rule: on the episode's last
  day the executed weights are also sold to cash, so that day's cost also includes
  ``(commission + stamp_duty + slippage) * sum_n executed_n`` (the sale at the close after
  the last decision; charged even if an asset could not trade then: it is liquidated at the
  first chance, at the same rate).
* Net return: ``executed · r_{t+1} - cost`` where ``r_{t+1}[n]`` is asset n's return from the
  close of t to the close of t+1 (0 when it does not trade on t+1: a held position is marked
  at its last close). In episode arrays ``next_returns[..., t, n]`` holds ``r_{t+1}[n]``.
* Drift into t+1: ``held_{t+1} = executed * (1 + r_{t+1}) / (1 + executed · r_{t+1})``. The
  cost is taken from equity as in the single-asset rule (net = exposure * return - cost), so
  with N = 1 and weights in {0, 1} this rule equals ``quantray.accounting`` exactly (tested),
  and drifted weights plus cash still sum to 1.

Rebalancing to constant weights therefore costs something every day (prices move the weights
away from the target), which is what makes 1/N rebalanced differ from 1/N bought and held.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from quantray.accounting import run_days
from quantray.config import CostConfig

if TYPE_CHECKING:
    from torch import Tensor

WEIGHT_TOLERANCE = 1e-6
"""Slack allowed on ``sum(w) <= 1`` and ``w <= cap`` when checking user-given weights."""

SCORE_SCALE = 5.0
"""Scores in [-1, 1] (the env's action Box) are multiplied by this before the softmax, so
one asset can take ~99% of the portfolio against up to 100 others (e^10 odds)."""

_EPS = 1e-12


# ------------------------------------------------------------------------- action -> weights


def scores_to_weights_np(
    scores: np.ndarray, mask: np.ndarray, cap: float | None = None, scale: float = SCORE_SCALE
) -> np.ndarray:
    """[..., N+1] scores (last = cash) -> [..., N] asset weights (cash = 1 - sum).

    ``softmax(scale * scores)`` over the available assets and cash (unavailable assets,
    ``mask`` False, get weight exactly 0; cash is always available), then each asset weight is
    clipped at ``cap`` with the excess going to cash. Finite scores always give a valid
    long-only weight vector, so any policy output is a legal portfolio.
    """
    scores = np.asarray(scores, dtype=np.float64) * scale
    mask = np.asarray(mask, dtype=bool)
    # [..., N] ++ [..., 1] -> [..., N+1]: cash is always available.
    full_mask = np.concatenate([mask, np.ones((*mask.shape[:-1], 1), dtype=bool)], axis=-1)
    logits = np.where(full_mask, scores, -np.inf)
    logits = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(logits)
    weights = (exp / exp.sum(axis=-1, keepdims=True))[..., :-1]
    return weights if cap is None else np.minimum(weights, cap)


def scores_to_weights_torch(
    scores: Tensor, mask: Tensor, cap: float | None = None, scale: float = SCORE_SCALE
) -> Tensor:
    """``scores_to_weights_np`` in torch, differentiable w.r.t. ``scores``."""
    import torch

    ones = torch.ones_like(mask[..., :1], dtype=torch.bool)
    full_mask = torch.cat([mask.bool(), ones], dim=-1)  # [..., N] ++ [..., 1] -> [..., N+1]
    logits = (scores * scale).masked_fill(~full_mask, float("-inf"))
    weights = torch.softmax(logits, dim=-1)[..., :-1]
    return weights if cap is None else torch.clamp(weights, max=cap)


def check_weights(
    weights: np.ndarray, mask: np.ndarray | None = None, cap: float | None = None
) -> np.ndarray:
    """Validate user-given target weights [..., N]: finite, >= 0, sum <= 1, <= cap, 0 where
    ``mask`` is False. Returns them as float64; raises ValueError saying what is wrong."""
    w = np.asarray(weights, dtype=np.float64)
    if not np.all(np.isfinite(w)):
        raise ValueError("portfolio weights: found NaN or inf; expected finite fractions")
    if w.min(initial=0.0) < -WEIGHT_TOLERANCE:
        raise ValueError(
            f"portfolio weights: found {w.min():.4g} < 0; the portfolio is long-only "
            "(map scores to weights with scores_to_weights_np)"
        )
    total = w.sum(axis=-1)
    if total.max(initial=0.0) > 1.0 + WEIGHT_TOLERANCE:
        raise ValueError(
            f"portfolio weights: a row sums to {total.max():.6g} > 1; asset weights plus cash "
            "must sum to 1 (cash = 1 - sum of asset weights)"
        )
    if cap is not None and w.max(initial=0.0) > cap + WEIGHT_TOLERANCE:
        raise ValueError(f"portfolio weights: found {w.max():.4g} above the cap {cap}")
    if mask is not None and np.any(np.where(np.asarray(mask, dtype=bool), 0.0, w) > 0.0):
        raise ValueError(
            "portfolio weights: an asset outside the universe that day (mask False) has a "
            "positive target weight; absent assets must get weight 0"
        )
    return np.clip(w, 0.0, None)


# --------------------------------------------------------------------------------- numpy


def step_np(
    wanted: np.ndarray,
    held: np.ndarray,
    next_return: np.ndarray,
    cost: CostConfig,
    can_buy: np.ndarray | None = None,
    can_sell: np.ndarray | None = None,
    last_day: np.ndarray | bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One day for a batch of portfolios (module docstring).

    Args:
        wanted: [..., N] target asset weights at today's close.
        held: [..., N] weights carried into today's close (drifted).
        next_return: [..., N] r_{t+1} per asset (0 where the asset does not trade on t+1).
        cost: the cost model (per-asset commission, stamp duty on sells, slippage).
        can_buy / can_sell: [..., N] bool, the order in that direction fills today; None =
            every order fills.
        last_day: [...] bool (or one bool for all): today is the episode's last decision day,
            so the executed weights are also sold (when ``cost.charge_exit``).

    Returns:
        ``(net, costs, executed, drifted)``: net return [...], cost [...] (exit included),
        executed weights [..., N] and the weights carried into tomorrow [..., N].
    """
    wanted = np.asarray(wanted, dtype=np.float64)
    held = np.asarray(held, dtype=np.float64)
    delta = wanted - held
    sells = delta < 0.0
    sell_ok = sells if can_sell is None else sells & can_sell
    buy_ok = ~sells if can_buy is None else ~sells & can_buy
    after_sells = np.where(sell_ok, wanted, held)  # [..., N]
    buys = np.where(buy_ok, delta, 0.0)  # [..., N], >= 0
    free = 1.0 - after_sells.sum(axis=-1, keepdims=True)  # [..., 1]
    want_buy = buys.sum(axis=-1, keepdims=True)
    lam = np.minimum(1.0, np.clip(free, 0.0, None) / np.maximum(want_buy, _EPS))
    executed = after_sells + lam * buys
    costs = _trade_cost_np(executed - held, cost)
    if cost.charge_exit and np.any(last_day):
        costs = costs + np.where(last_day, exit_cost_np(executed, cost), 0.0)
    gross = np.sum(executed * next_return, axis=-1)  # [...]
    drifted = executed * (1.0 + next_return) / (1.0 + gross)[..., None]
    return gross - costs, costs, executed, drifted


def exit_cost_np(executed: np.ndarray, cost: CostConfig) -> np.ndarray:
    """[..., N] -> [...]: cost of selling the weights ``executed`` to cash at an episode's end.
    Callers add it only when ``cost.charge_exit``."""
    return _trade_cost_np(-np.asarray(executed, dtype=np.float64), cost)


def _trade_cost_np(delta: np.ndarray, cost: CostConfig) -> np.ndarray:
    # Asymmetric per asset: sells also pay stamp duty. [..., N] -> [...]
    return cost.buy_rate * np.maximum(delta, 0.0).sum(axis=-1) + cost.sell_rate * np.maximum(
        -delta, 0.0
    ).sum(axis=-1)


def run_np(
    weights: np.ndarray,
    next_returns: np.ndarray,
    cost: CostConfig,
    can_buy: np.ndarray | None = None,
    can_sell: np.ndarray | None = None,
    held0: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Whole episodes: ``step_np`` day by day along axis -2 (``accounting.run_days``).

    Args:
        weights: [..., E, N] target weights decided at each day's close.
        next_returns: [..., E, N] ``next_returns[..., t, n] = r_{t+1}[n]``.
        cost: the cost model.
        can_buy / can_sell: [..., E, N] bool fill flags, or None.
        held0: [..., N] weights held before day 0; None = all cash.

    Returns:
        ``(net [..., E], costs [..., E], executed [..., E, N])``; the last day pays the exit
        sale when ``cost.charge_exit``.
    """
    weights = np.asarray(weights, dtype=np.float64)
    next_returns = np.asarray(next_returns, dtype=np.float64)
    _check_shapes(weights.shape, next_returns.shape, can_buy, can_sell)
    held = np.zeros(weights.shape[:-2] + weights.shape[-1:]) if held0 is None else held0
    days = run_days(step_np, weights, held, next_returns, cost, can_buy, can_sell, day_axis=-2)
    nets, costs, executed, _ = zip(*days, strict=True)
    # E x [...] -> [..., E]; E x [..., N] -> [..., E, N]
    return np.stack(nets, axis=-1), np.stack(costs, axis=-1), np.stack(executed, axis=-2)


# --------------------------------------------------------------------------------- torch


def step_torch(
    wanted: Tensor,
    held: Tensor,
    next_return: Tensor,
    cost: CostConfig,
    can_buy: Tensor | None = None,
    can_sell: Tensor | None = None,
    last_day: Tensor | bool = False,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """``step_np`` in torch, differentiable w.r.t. ``wanted`` and ``held`` (exit included)."""
    import torch

    delta = wanted - held
    sells = delta < 0.0
    sell_ok = sells if can_sell is None else sells & can_sell
    buy_ok = ~sells if can_buy is None else ~sells & can_buy
    after_sells = torch.where(sell_ok, wanted, held)
    buys = torch.where(buy_ok, delta, torch.zeros_like(delta))
    free = 1.0 - after_sells.sum(dim=-1, keepdim=True)
    want_buy = buys.sum(dim=-1, keepdim=True)
    lam = torch.clamp(torch.relu(free) / torch.clamp(want_buy, min=_EPS), max=1.0)
    executed = after_sells + lam * buys
    diff = executed - held
    costs = cost.buy_rate * torch.relu(diff).sum(dim=-1) + cost.sell_rate * torch.relu(-diff).sum(
        dim=-1
    )
    if cost.charge_exit and (last_day is True or (torch.is_tensor(last_day) and last_day.any())):
        exit_cost = cost.sell_rate * executed.sum(dim=-1)  # selling every weight to cash
        costs = costs + (exit_cost if last_day is True else torch.where(last_day, exit_cost, 0.0))
    gross = (executed * next_return).sum(dim=-1)
    drifted = executed * (1.0 + next_return) / (1.0 + gross).unsqueeze(-1)
    return gross - costs, costs, executed, drifted


def run_torch(
    weights: Tensor,
    next_returns: Tensor,
    cost: CostConfig,
    can_buy: Tensor | None = None,
    can_sell: Tensor | None = None,
    held0: Tensor | None = None,
) -> tuple[Tensor, Tensor, Tensor]:
    """``run_np`` in torch, differentiable w.r.t. ``weights``."""
    import torch

    _check_shapes(tuple(weights.shape), tuple(next_returns.shape), can_buy, can_sell)
    held = torch.zeros_like(weights[..., 0, :]) if held0 is None else held0
    days = run_days(step_torch, weights, held, next_returns, cost, can_buy, can_sell, day_axis=-2)
    nets, costs, executed, _ = zip(*days, strict=True)
    # E x [...] -> [..., E]; E x [..., N] -> [..., E, N]
    return torch.stack(nets, dim=-1), torch.stack(costs, dim=-1), torch.stack(executed, dim=-2)


def fill_flags(
    tradable: np.ndarray,
    prev_returns: np.ndarray,
    cost: CostConfig,
) -> tuple[np.ndarray, np.ndarray]:
    """``(can_buy, can_sell)`` [..., N] from whether each asset trades that day and, when the
    cost model enforces a price limit, its return INTO that day (``accounting.limit_flags``:
    no buying into a limit-up close, no selling into a limit-down close)."""
    from quantray.accounting import limit_flags

    tradable = np.asarray(tradable, dtype=bool)
    if not cost.enforce_price_limit:
        return tradable.copy(), tradable.copy()
    with np.errstate(invalid="ignore"):
        up, down = limit_flags(np.nan_to_num(prev_returns, nan=0.0), cost.price_limit)
    return tradable & ~up, tradable & ~down


def _check_shapes(
    weights: tuple[int, ...],
    next_returns: tuple[int, ...],
    can_buy: np.ndarray | Tensor | None,
    can_sell: np.ndarray | Tensor | None,
) -> None:
    if len(weights) < 2:
        raise ValueError(
            f"portfolio accounting: weights must be [..., E, N], got shape {weights}; "
            "use step_np/step_torch for a single day"
        )
    if weights != next_returns:
        raise ValueError(
            f"portfolio accounting: weights {weights} and next_returns {next_returns} must "
            "have the same shape [..., E, N]"
        )
    for name, flags in (("can_buy", can_buy), ("can_sell", can_sell)):
        if flags is not None and tuple(flags.shape) != weights:
            raise ValueError(
                f"portfolio accounting: {name} has shape {tuple(flags.shape)}, expected "
                f"{weights} like weights; build it with fill_flags(...)"
            )
