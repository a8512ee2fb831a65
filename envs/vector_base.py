"""What ``TradingVectorEnv`` and ``PortfolioVectorEnv`` share as Gymnasium vector envs.

Both keep the state of all their sub-envs in arrays and autoreset the Gymnasium 1.x
``AutoresetMode.NEXT_STEP`` way (the default of ``SyncVectorEnv`` and what RLlib's env runners
expect): the step after an episode's last one ignores that sub-env's action and returns the
first observation of a new episode with reward 0.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space


class ArrayVectorEnv(VectorEnv):
    """A vector env whose ``num_envs`` sub-envs are rows of arrays, with NEXT_STEP autoreset."""

    metadata: ClassVar[dict[str, Any]] = {
        "autoreset_mode": AutoresetMode.NEXT_STEP,
        "render_modes": [],
    }

    def _set_num_envs(self, num_envs: Any) -> int:
        """Check and set ``num_envs`` (an integer >= 1); returns it."""
        if not (isinstance(num_envs, int | np.integer) and num_envs >= 1):
            raise ValueError(
                f"{type(self).__name__}: num_envs must be an integer >= 1, got {num_envs!r}"
            )
        self.num_envs = int(num_envs)
        return self.num_envs

    def _set_spaces(self, single: tuple[spaces.Space, spaces.Space]) -> None:
        """Set the (action, observation) spaces of one sub-env and their batches over
        ``num_envs``."""
        self.single_action_space, self.single_observation_space = single
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
