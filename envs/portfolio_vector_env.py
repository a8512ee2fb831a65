"""``PortfolioVectorEnv``: M portfolio episodes stepped together with array operations.

Same spaces, episodes, observation and accounting as ``PortfolioEnv`` (a test steps both side
by side); the state of all M sub-envs lives in [M, ...] arrays and one step is one
``portfolio_accounting.step_np`` call over [M, N]. Autoreset is Gymnasium 1.x
``AutoresetMode.NEXT_STEP``, like ``TradingVectorEnv``: the step after an episode's last one
ignores that sub-env's action and returns the first observation of a new episode with reward 0.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from quantray.config import PortfolioEnvSettings
from quantray.data.universe import PortfolioTask
from quantray.envs.portfolio_market import PortfolioBookMixin
from quantray.envs.vector_base import ArrayVectorEnv


class PortfolioVectorEnv(PortfolioBookMixin, ArrayVectorEnv):
    """``num_envs`` independent ``PortfolioEnv`` episodes; arguments as ``PortfolioEnv``.

    Sub-env i with a replay list plays ``list[(k * M + i) % len(list)]`` on its k-th episode.
    Infos: ``target_weights`` / ``executed_weights`` [M, N], ``cost`` / ``net_return`` [M] for
    the sub-envs that traded (``info["_" + key]`` marks them).
    """

    def __init__(
        self,
        num_envs: int = 1,
        data: str | Path | None = None,
        *,
        task: PortfolioTask | None = None,
        settings: PortfolioEnvSettings | None = None,
        **fields: Any,
    ) -> None:
        M = self._set_num_envs(num_envs)
        self._set_spaces(
            self._configure(PortfolioEnvSettings.of(settings, data, **fields), task, num=M)
        )
        self._all = np.arange(M)
        self._autoreset = np.zeros(M, dtype=bool)
        self._needs_reset = True

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        super().reset(seed=seed)
        self._rewind(seed)
        options = options or {}
        mask = options.get("reset_mask")
        idx = self._all if mask is None else np.flatnonzero(np.asarray(mask, dtype=bool))
        self.book.choose(idx, self.np_random, options.get("episode_index"))
        self._autoreset[idx] = False
        self._needs_reset = False
        return self.book.observe(), {"episode_index": self.book.episode.copy()}

    def step(
        self, actions: Any
    ) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        if self._needs_reset:
            raise RuntimeError("PortfolioVectorEnv.step: call reset() before the first step")
        actions = np.asarray(actions, dtype=np.float64)
        M, N = self.num_envs, self.book.task.n_assets
        if actions.shape != (M, N + 1):
            raise ValueError(
                f"PortfolioVectorEnv.step: expected actions of shape ({M}, {N + 1}), got "
                f"{actions.shape}"
            )
        stepping = np.flatnonzero(~self._autoreset)
        resetting = np.flatnonzero(self._autoreset)
        rewards = np.zeros(M)
        info: dict[str, Any] = {}
        if len(stepping):
            out = self.book.trade(stepping, actions[stepping])
            rewards[stepping] = out["net_return"]
            traded = np.zeros(M, dtype=bool)
            traded[stepping] = True
            for key, value in out.items():
                full = np.zeros((M, *value.shape[1:]), dtype=value.dtype)
                full[stepping] = value
                info[key] = full
                info["_" + key] = traded
        if len(resetting):
            self.book.choose(resetting, self.np_random)
        truncated = self.book.t >= self.book.episode_len
        self._autoreset = truncated.copy()
        info["episode_index"] = self.book.episode.copy()
        info["_episode_index"] = np.ones(M, dtype=bool)
        return self.book.observe(), rewards, np.zeros(M, dtype=bool), truncated, info
