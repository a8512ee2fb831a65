"""``TradingVectorEnv``: N trading envs as arrays, stepped with a few NumPy operations.

The same spaces, episodes, observation and accounting as ``TradingEnv`` (a test steps both
side by side and requires identical observations, rewards and flags), but the state of all N
sub-environments lives in [N] arrays: one step is a gather of returns by panel row, one
``quantray.accounting.step_np`` call over [N], and a gather of the next observations. No
Python loop runs over the sub-environments.

Autoreset follows Gymnasium 1.x ``AutoresetMode.NEXT_STEP`` (the default of ``SyncVectorEnv``
and what RLlib's env runners expect): the step that ends an episode returns its final
observation with ``truncated=True``; the NEXT ``step`` call ignores that sub-env's action,
starts a new episode and returns its first observation with reward 0 and both flags False.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from quantray.accounting import step_np
from quantray.config import EnvSettings
from quantray.data import Task
from quantray.envs.common import MarketEnvMixin
from quantray.envs.reward import shaped_reward
from quantray.envs.spaces import (
    N_LEVELS,
    observation_size,
)
from quantray.envs.vector_base import ArrayVectorEnv

_STEP_KEYS = ("position", "executed", "cost", "next_return", "net_return")
_RESET_KEYS = ("symbol", "start_row")


class TradingVectorEnv(MarketEnvMixin, ArrayVectorEnv):
    """``num_envs`` independent ``TradingEnv`` episodes stepped together.

    Spaces: ``single_observation_space`` / ``single_action_space`` are those of
    ``TradingEnv`` with the same arguments; ``observation_space`` is their batch [N, D + 2(+1)]
    float32 and ``action_space`` is ``MultiDiscrete([11] * N)`` or ``Box(0, 1, (N, 1))``.
    Observation, reward, episode end and the argument meanings are exactly ``TradingEnv``'s
    (see its docstring); only the arguments below differ.

    Args:
        num_envs: N, the number of sub-environments.
        copy: return a fresh observation array from every ``reset``/``step`` (default). With
            False the same [N, D + 2] buffer is overwritten in place by the next call (faster;
            only for clients that consume observations before stepping again).
        (all other arguments: as ``TradingEnv``.)

    Episode choice: in mode "train" every sub-env that (re)starts draws an episode uniformly
    from the split with ``self.np_random`` (one generator for all N; ``reset(seed=s)`` seeds
    it). With a replay list (mode "eval" or ``episode_indices``) sub-env i plays
    ``list[(k * N + i) % M]`` on its k-th episode since the last seeded reset: each round of
    N episodes walks the list in order, so a single ``TradingEnv`` given ``list[i::N]``
    replays exactly what sub-env i plays (when N divides M).

    ``reset(options=...)`` accepts ``{"reset_mask": bool [N]}`` (reset only those sub-envs,
    Gymnasium's convention) and ``{"episode_index": int or [N] ints}`` (play those episodes of
    the list on the reset sub-envs).

    Infos are Gymnasium vector infos: ``info[key]`` is an [N] array and ``info["_" + key]``
    marks the sub-envs it applies to. Step keys (``position``, ``executed``, ``cost``,
    ``next_return``, ``net_return``) cover the sub-envs that traded; reset keys (``symbol``,
    ``start_row``) the sub-envs that started an episode; ``episode_index``, ``day`` and ``date`` are
    always present for all.

    Memory: besides the shared Task, the env keeps a float32 copy of the feature rows its
    split's episodes touch, widened by the state columns ([rows, D + 2]), so one ``np.take``
    builds all N observations.
    """

    def __init__(
        self,
        num_envs: int = 1,
        data: str | Path | None = None,
        *,
        task: Task | None = None,
        settings: EnvSettings | None = None,
        copy: bool = True,
        **fields: Any,
    ) -> None:
        N = self._set_num_envs(num_envs)
        self.copy = bool(copy)
        self._set_spaces(self._configure(EnvSettings.of(settings, data, **fields), task))
        market = self.market
        D, E = self.dim, self.episode_len

        K = observation_size(D, self.include_episode_return)
        # Observation template of every local row: features, then zeros for the state
        # columns. One np.take of [N] rows builds the [N, K] observation in a single
        # contiguous gather (a strided write of D columns costs ~3x more at N = 1024).
        # Memory: the split's rows x K float32, a copy of that part of the feature table.
        self._template = np.zeros((len(market.rows), K), dtype=np.float32)
        self._template[:, :D] = market.features(np.arange(len(market.rows)))  # [R, D]
        self._env_ids = np.arange(N)
        self._everyone = np.ones(N, dtype=bool)
        self._everyone.flags.writeable = False  # shared by every info mask "all sub-envs"
        # Sub-env state, [N] each. _t == E marks an episode that has ended.
        self._episode = np.zeros(N, dtype=np.int64)
        self._start = np.zeros(N, dtype=np.int64)  # local row of day 0
        self._t = np.full(N, E, dtype=np.int64)
        self._prev = np.zeros(N, dtype=np.float64)
        self._equity = np.ones(N, dtype=np.float64)
        self._count = np.zeros(N, dtype=np.int64)
        self._autoreset = np.zeros(N, dtype=bool)
        self._any_autoreset = False
        self._in_blocked = np.zeros(N, dtype=bool)  # current episode has a blocked day
        self._n_blocked = 0
        self._needs_reset = True
        self._obs_buffer = np.empty((N, K), dtype=np.float32)

    # ------------------------------------------------------------------ reset

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Start episodes on all sub-envs (or on ``options["reset_mask"]``); (obs [N, K], info)."""
        if seed is not None and not isinstance(seed, int | np.integer):
            raise TypeError(
                f"TradingVectorEnv.reset: seed must be an int or None, got {type(seed).__name__}; "
                "all sub-envs share one generator, seeded once"
            )
        super().reset(seed=seed)
        if seed is not None:
            self._count[:] = 0
        options = options or {}
        mask = options.get("reset_mask")
        if mask is None:
            idx: np.ndarray | slice = slice(None)
            reset_mask = np.ones(self.num_envs, dtype=bool)
        else:
            reset_mask = np.asarray(mask)
            if reset_mask.shape != (self.num_envs,) or reset_mask.dtype != np.bool_:
                raise ValueError(
                    f"TradingVectorEnv.reset: options['reset_mask'] must be a bool array of "
                    f"shape ({self.num_envs},), got {reset_mask.dtype} {reset_mask.shape}"
                )
            idx = np.flatnonzero(reset_mask)
        self._restart(idx, options.get("episode_index"))
        self._any_autoreset = bool(self._autoreset.any())
        self._needs_reset = False
        info: dict[str, Any] = {}
        self._add_reset_info(info, reset_mask)
        self._add_common_info(info, self._t.copy())
        return self._observe(), info

    def _choose(self, idx: np.ndarray | slice, forced: Any) -> np.ndarray:
        """Episode indices for the sub-envs ``idx`` that start an episode now."""
        market = self.market
        n = len(self._env_ids[idx])
        if forced is not None:
            k = np.broadcast_to(np.asarray(forced, dtype=np.int64), (n,))  # int or [n] -> [n]
            if ((k < 0) | (k >= market.n_episodes)).any():
                raise ValueError(
                    f"TradingVectorEnv.reset: episode_index {forced!r} is out of range; the "
                    f"{market.split}/{market.mode} list has {market.n_episodes} episodes"
                )
            return k.copy()
        if market.schedule is None:
            return self.np_random.integers(market.n_episodes, size=n)
        k = market.schedule[
            (self._count[idx] * self.num_envs + self._env_ids[idx]) % len(market.schedule)
        ]
        self._count[idx] += 1
        return k

    def _restart(self, idx: np.ndarray | slice, forced: Any = None) -> None:
        k = self._choose(idx, forced)
        self._episode[idx] = k
        self._start[idx] = self.market.first[k]
        if self.market.episode_blocked is not None:
            self._in_blocked[idx] = self.market.episode_blocked[k]
            self._n_blocked = int(self._in_blocked.sum())
        self._t[idx] = 0
        self._prev[idx] = 0.0
        self._equity[idx] = 1.0
        self._autoreset[idx] = False

    def _add_reset_info(self, info: dict[str, Any], reset_mask: np.ndarray) -> None:
        """Reset keys (values for all N, marked for the sub-envs in ``reset_mask``)."""
        info["symbol"] = self.market.symbols[self._start]
        info["start_row"] = self.market.rows[self._start]
        for key in _RESET_KEYS:
            info["_" + key] = reset_mask

    def _add_common_info(self, info: dict[str, Any], day: np.ndarray) -> None:
        info["episode_index"] = self._episode.copy()
        info["day"] = day
        info["date"] = self.market.dates[self._start + day]
        info["_episode_index"] = info["_day"] = info["_date"] = self._everyone

    # ------------------------------------------------------------------ observe

    def _observe(self) -> np.ndarray:
        """Observations [N, K] of every sub-env's current day, from the state arrays."""
        D = self.dim
        rows = self._start + self._t  # [N] local rows of the current days
        if self.copy:
            obs = np.take(self._template, rows, axis=0, mode="clip")  # [N] -> [N, K]
        else:
            obs = np.take(self._template, rows, axis=0, out=self._obs_buffer, mode="clip")
        obs[:, D] = self._prev
        obs[:, D + 1] = self._day_fraction[self._t]
        if self.include_episode_return:
            obs[:, D + 2] = self._equity - 1.0
        return obs

    # ------------------------------------------------------------------ step

    def _wanted(self, actions: Any) -> np.ndarray:
        """[N] wanted positions from a batch of actions (validated, as in ``TradingEnv``)."""
        a = np.asarray(actions)
        if self._discrete:
            if a.shape != (self.num_envs,) or a.dtype.kind not in "iu":
                raise ValueError(
                    f"TradingVectorEnv.step: expected {self.num_envs} integer actions (shape "
                    f"({self.num_envs},)), got {a.dtype} {a.shape}"
                )
            # One reduction checks both ends: viewed as unsigned, negatives are huge.
            if a.view(f"u{a.dtype.itemsize}").max() >= N_LEVELS:
                raise ValueError(
                    f"TradingVectorEnv.step: actions must lie in 0..{N_LEVELS - 1} (position "
                    f"a/10), got min {a.min()} max {a.max()}"
                )
            return self._levels[a]
        if a.size != self.num_envs:
            raise ValueError(
                f"TradingVectorEnv.step: expected continuous actions of shape "
                f"({self.num_envs}, 1), got {a.shape}"
            )
        wanted = np.minimum(np.maximum(a.reshape(self.num_envs), 0.0), 1.0)  # [N, 1] -> [N]
        if np.isnan(wanted.sum()):  # clipped values are finite, so only NaN makes the sum NaN
            raise ValueError(
                "TradingVectorEnv.step: a continuous action is NaN; expected positions in "
                "[0, 1] (check the policy's output for NaN)"
            )
        return wanted.astype(np.float64, copy=False)

    def _advance(self, idx: np.ndarray | slice, wanted: np.ndarray) -> dict[str, np.ndarray]:
        """Trade day t on the sub-envs ``idx`` (all with a slice) and move them to day t+1."""
        market = self.market
        day = self._t[idx]
        rows = self._start[idx] + day  # [n] local rows of the decision days
        next_return = market.next_returns[rows]
        can_buy = can_sell = last_day = None
        if self._n_blocked:
            # Some sub-env plays an episode with a blocked day (suspension / price limit).
            can_buy, can_sell = market.can_buy[rows], market.can_sell[rows]
        if market.cost.charge_exit:
            last = day == self.episode_len - 1
            if last.any():
                last_day = last  # those sub-envs also sell their final position
        net, cost, executed = step_np(
            wanted, self._prev[idx], next_return, market.cost, can_buy, can_sell, last_day
        )
        if self._shaping is not None:
            reward = shaped_reward(net, executed, next_return, *self._shaping)
        else:
            reward = net.copy()  # the caller may scale rewards in place; info keeps net
        self._prev[idx] = executed
        if self.include_episode_return:
            self._equity[idx] *= 1.0 + net
        if isinstance(idx, slice):
            self._t = day + 1  # rebind: `day` is a view of the old state and stays day t
        else:
            self._t[idx] = day + 1
        return {
            "position": wanted,
            "executed": executed.copy() if executed is wanted else executed,
            "cost": cost,
            "next_return": next_return,
            "net_return": net,
            "reward": reward,
            "day": day,
        }

    def step(
        self, actions: Any
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        """One day for every sub-env (NEXT_STEP autoreset); batched (obs, rew, term, trunc, info)."""
        if self._needs_reset:
            raise RuntimeError("TradingVectorEnv.step: call reset() before the first step")
        wanted = self._wanted(actions)
        info: dict[str, Any] = {}
        if not self._any_autoreset:
            # Common case: all sub-envs trade (they start together and all episodes have E
            # days, so their resets coincide).
            out = self._advance(slice(None), wanted)
            rewards = out["reward"]
            for key in _STEP_KEYS:
                info[key] = out[key]
                info["_" + key] = self._everyone
            self._add_common_info(info, out["day"])
        else:
            resetting = self._autoreset.copy()  # _restart clears the state flags
            stepping = ~resetting
            rewards = np.zeros(self.num_envs)
            day = np.zeros(self.num_envs, dtype=np.int64)
            if stepping.any():
                idx = np.flatnonzero(stepping)
                out = self._advance(idx, wanted[idx])
                rewards[idx] = out["reward"]
                day[idx] = out["day"]
                for key in _STEP_KEYS:
                    info[key] = np.zeros(self.num_envs, dtype=out[key].dtype)
                    info[key][idx] = out[key]
                    info["_" + key] = stepping
                self._restart(np.flatnonzero(resetting))
            else:
                self._restart(slice(None))
            self._add_reset_info(info, resetting)
            self._add_common_info(info, day)
        truncated = self._t >= self.episode_len
        self._autoreset = truncated.copy()
        self._any_autoreset = bool(truncated.any())
        terminated = np.zeros(self.num_envs, dtype=bool)
        return self._observe(), rewards, terminated, truncated, info
