"""What ``TradingEnv`` and ``TradingVectorEnv`` share: argument checks, the Market, the
single-env spaces and the read-only properties. Each env keeps its own state and stepping."""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import numpy as np

from quantray.accounting import position_levels
from quantray.config import CostConfig, DataConfig, SplitConfig, check_choice
from quantray.data import Task
from quantray.data.features import NORM_CLIP
from quantray.envs.market import Market, make_market
from quantray.envs.reward import check_weights
from quantray.envs.spaces import (
    ACTION_TYPES,
    N_ACTIONS,
    REWARD_KINDS,
    action_space,
    observation_space,
)


class MarketEnvMixin:
    """Set up by ``_configure`` (the arguments both envs take, documented on ``TradingEnv``)."""

    market: Market

    def _configure(
        self,
        *,
        data: str | Path | None,
        features: str | Path | None,
        split: str,
        mode: str,
        episode_indices: np.ndarray | list[int] | None,
        cost: str | CostConfig,
        action_type: str,
        reward: str,
        include_episode_return: bool,
        risk_weight: float,
        opportunity_weight: float,
        task: Task | None,
        data_config: DataConfig | None,
        split_config: SplitConfig | None,
    ) -> tuple[gym.Space, gym.spaces.Box]:
        """Checks and stores the shared arguments and builds the Market; returns the single
        env's (action space, observation space)."""
        self.action_type = check_choice("TradingEnv", "action_type", action_type, ACTION_TYPES)
        self.reward_kind = check_choice("TradingEnv", "reward", reward, REWARD_KINDS)
        check_weights(risk_weight, opportunity_weight)
        self.risk_weight = float(risk_weight)
        self.opportunity_weight = float(opportunity_weight)
        self.include_episode_return = bool(include_episode_return)
        self.market = make_market(
            data=data,
            features=features,
            task=task,
            data_config=data_config,
            split_config=split_config,
            split=split,
            mode=mode,
            cost=cost,
            episode_indices=episode_indices,
        )
        self.dim = self.market.dim
        self.episode_len = E = self.market.episode_len
        self._discrete = self.action_type == "discrete"
        self._shaping = (
            (self.risk_weight, self.opportunity_weight) if self.reward_kind == "shaped" else None
        )
        self._levels = position_levels(N_ACTIONS)  # [A]
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
