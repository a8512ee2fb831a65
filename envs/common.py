"""What ``TradingEnv`` and ``TradingVectorEnv`` share: argument checks, the Market, the
single-env spaces and the read-only properties. Each env keeps its own state and stepping."""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from quantray.accounting import position_levels
from quantray.config import N_LEVELS, CostConfig, EnvSettings
from quantray.data import Task
from quantray.data.features import NORM_CLIP
from quantray.envs.market import Market, make_market
from quantray.envs.spaces import action_space, observation_space


class MarketEnvMixin:
    """Set up by ``_configure`` from one ``EnvSettings`` (the arguments both envs take)."""

    market: Market

    def _configure(self, settings: EnvSettings, task: Task | None) -> tuple[gym.Space, gym.Space]:
        """Take the resolved settings (fields documented on ``EnvSettings`` and ``TradingEnv``),
        build the Market and return the single env's (action space, observation space)."""
        self.settings = s = settings
        self.action_type = s.action_type
        self.reward_kind = s.reward
        self.risk_weight = float(s.risk_weight)
        self.opportunity_weight = float(s.opportunity_weight)
        self.include_episode_return = s.include_episode_return
        self.market = make_market(s, task)
        self.dim = self.market.dim
        self.episode_len = E = self.market.episode_len
        self._discrete = self.action_type == "discrete"
        self._shaping = (
            (self.risk_weight, self.opportunity_weight) if self.reward_kind == "shaped" else None
        )
        self._levels = position_levels(N_LEVELS)  # [A]
        # t / E, gathered by day: both envs write exactly these float32 values.
        self._day_fraction = (np.arange(E + 1) / E).astype(np.float32)  # [E+1]
        feature_bound = NORM_CLIP if self.market.task.source == "raw" else np.inf
        return (
            action_space(self.action_type),
            observation_space(self.dim, self.include_episode_return, feature_bound),
        )

    @property
    def task(self) -> Task:
        """The shared Task (panel, splits, feature table) played."""
        return self.market.task

    @property
    def cost(self) -> CostConfig:
        """The cost model of the accounting rule."""
        return self.market.cost

    @property
    def n_episodes(self) -> int:
        """Length of the episode list that ``episode_index`` values refer to."""
        return self.market.n_episodes
