"""Action and observation spaces of the trading env, and the observation layout.

Shared by ``TradingEnv`` and ``TradingVectorEnv`` so the single and the batched env expose
exactly the same spaces. Axis legend: D feature width (11 raw, or the frozen d_model),
E episode length, A actions.

Observation of day t (float32, length ``D + 2``, or ``D + 3`` with the episode return):

| index     | meaning                                                        | range     |
|-----------|----------------------------------------------------------------|-----------|
| 0 .. D-1  | feature vector of day t (``task.table`` row)                   | [-10, 10] raw, (-inf, inf) frozen |
| D         | position held into day t (executed on day t-1; 0 on day 0)     | [0, 1]    |
| D + 1     | day in episode, t / E (0 on the first day, 1 after the last)   | [0, 1]    |
| D + 2     | episode return so far, prod(1 + net_0..net_{t-1}) - 1 (flag)   | (-inf, inf) |
"""

from __future__ import annotations

import numpy as np
from gymnasium import spaces

from quantray.config import ACTION_TYPES, N_LEVELS, check_choice


def action_space(action_type: str) -> spaces.Space:
    """``Discrete(11)`` (index a -> position a/10) or ``Box(0, 1, (1,), float32)``."""
    check_choice("TradingEnv", "action_type", action_type, ACTION_TYPES)
    if action_type == "discrete":
        return spaces.Discrete(N_LEVELS)
    return spaces.Box(low=0.0, high=1.0, shape=(1,), dtype=np.float32)


def observation_size(dim: int, include_episode_return: bool) -> int:
    """Length of one observation: D features + position + day (+ episode return)."""
    return dim + 2 + int(include_episode_return)


def observation_space(
    dim: int, include_episode_return: bool, feature_bound: float = np.inf
) -> spaces.Box:
    """The Box described in the module docstring (bounds per column, float32).

    ``feature_bound`` bounds the feature columns to [-bound, bound]: the normalised raw
    features are clipped to +-``quantray.data.features.NORM_CLIP``; frozen features are not.
    """
    size = observation_size(dim, include_episode_return)
    low = np.full(size, -np.inf, dtype=np.float32)
    high = np.full(size, np.inf, dtype=np.float32)
    low[:dim] = -feature_bound
    high[:dim] = feature_bound
    low[dim : dim + 2] = 0.0  # position and day fraction
    high[dim : dim + 2] = 1.0
    return spaces.Box(low=low, high=high, dtype=np.float32)
