"""Rewards from the accounting outputs: the daily net return, or a shaped variant.

Both are functions of what ``quantray.accounting.step_np`` returns (net return, executed
position) and of the day's return r_{t+1}; they never recompute P&L or costs themselves.

* ``"return"``: ``net_t = p_t * r_{t+1} - cost_t``, the accounting rule's daily net return.
  Summed over an episode it is the strategy's (simple, uncompounded) episode return.
* ``"shaped"``: the per-day analogue of the stage-2 strategy loss's extra terms,

      net_t - risk_weight * max(-net_t, 0) - opportunity_weight * (1 - p_t) * max(r_{t+1}, 0)

  the first penalty charges losing days extra (the downside-deviation risk cost made linear
  and per-day), the second charges upside missed while under-invested (the opportunity cost,
  here on every day: the env has no hindsight bull/bear label). With both weights 0 it equals
  ``"return"``.
"""

from __future__ import annotations

import numpy as np


def shaped_reward(
    net: float | np.ndarray,
    executed: float | np.ndarray,
    next_return: float | np.ndarray,
    risk_weight: float,
    opportunity_weight: float,
) -> float | np.ndarray:
    """The ``"shaped"`` reward (module docstring). Arrays broadcast against each other; when
    ``net`` is a Python float (one env's step) every input is a Python float and so is the
    result: the same formula in Python arithmetic, the same IEEE numbers (tested)."""
    if type(net) is float:
        # ~20x cheaper than ufuncs on scalars. Written so that NaN propagates as through
        # np.maximum (a NaN compares False: it takes the branch that keeps it).
        downside = 0.0 if net >= 0.0 else -net
        missed_upside = (1.0 - executed) * (0.0 if next_return <= 0.0 else next_return)
        return net - risk_weight * downside - opportunity_weight * missed_upside
    downside = np.maximum(-net, 0.0)
    missed_upside = (1.0 - executed) * np.maximum(next_return, 0.0)
    return net - risk_weight * downside - opportunity_weight * missed_upside
