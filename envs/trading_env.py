"""``TradingEnv``: one E-day trading episode at a time, as a Gymnasium env.

The episodes, features and accounting are exactly those of stage 2 and the evaluation
(``quantray.data.Task.episodes``, ``quantray.accounting.step_np``), so an RL agent trained here
is comparable with the GRU strategy. The env never imports Ray or RLlib: any Gymnasium client
(RLlib, stable-baselines3, a hand-written loop) can train on it.
"""

from __future__ import annotations

import operator
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from quantray.accounting import step_np
from quantray.config import EnvSettings
from quantray.data import Task
from quantray.envs.common import MarketEnvMixin
from quantray.envs.episode_block import EpisodeBlock
from quantray.envs.reward import shaped_reward
from quantray.envs.spaces import (
    N_LEVELS,
    observation_size,
)

BLOCK_SIZE = 16
"""Episodes prepared per ``EpisodeBlock`` (amortises NumPy call overhead over B resets)."""


class TradingEnv(MarketEnvMixin, gym.Env[np.ndarray, Any]):
    """Hold a fraction of equity in one asset for E = 20 trading days.

    ## Description

    Each episode is one symbol over E consecutive trading days of a split (train, valid or
    test), the same episodes the stage-2 GRU strategy trains and is evaluated on. At the
    close of day t the agent chooses the position p_t (fraction of equity in the asset, long
    only); it is held to the close of day t+1 and earns r_{t+1} = close_{t+1}/close_t - 1
    minus the cost of changing position (``quantray.accounting``, design.md section 3).

    ## Action Space

    ``action_type="discrete"`` (default): ``Discrete(11)``; action a means position a/10
    (0 = all cash, 10 = fully invested; exactly ``linspace(0, 1, 11)[a]``).
    ``action_type="continuous"``: ``Box(0, 1, (1,), float32)``, the position itself; values
    outside [0, 1] are clipped to it (NaN is an error).

    ## Observation Space

    ``Box(float32)`` of length D + 2 (D + 3 with ``include_episode_return=True``); D = 11
    without a feature cache, else the cache's width (the stage-1 d_model):

    | index    | observation                                              | min  | max |
    |----------|----------------------------------------------------------|------|-----|
    | 0..D-1   | features of day t (see below)                            | -10 (raw) / -inf | 10 / inf |
    | D        | position held into day t (executed on day t-1, 0 on day 0) | 0  | 1   |
    | D + 1    | day in episode t / E (0 at reset, 1 in the final obs)    | 0    | 1   |
    | D + 2    | episode net return so far, prod(1 + net_0..net_{t-1}) - 1 (only with include_episode_return) | -inf | inf |

    Features: with ``features=None`` the 11 raw daily features of ``quantray.data.features``
    normalised with statistics fitted on the TRAINING split only (so the env works at once on
    the bundled data, no model needed); with ``features=PATH`` the frozen stage-1 features
    read from that feature-cache directory. Every column of day t's observation is known at
    the close of day t: changing any bar after t leaves it unchanged (tested).

    ## Rewards

    ``reward="return"`` (default): the accounting rule's daily net return, from
    ``quantray.accounting.step_np``:
    ``net_t = p_exec_t * r_{t+1} - cost_t``, with ``cost_t`` the commission / stamp duty /
    slippage of the change ``p_exec_t - p_exec_{t-1}`` and ``p_exec_t`` the position actually
    held: no order fills on a suspended (zero-volume) day, and when the cost model enforces
    price limits no buying on a limit-up close and no selling on a limit-down close
    (``quantray.data.limits``). On the last step (t = E-1) ``cost_t`` also includes selling
    the final position (``CostConfig.charge_exit``, default on), as in every evaluation. ``reward="shaped"`` subtracts
    ``risk_weight * max(-net_t, 0) + opportunity_weight * (1 - p_exec_t) * max(r_{t+1}, 0)``
    (see ``quantray.envs.reward``). The episode's summed "return" rewards are its simple
    return; ``prod(1 + net) - 1`` is the compounded one the evaluation reports.

    ## Starting State

    Flat (position 0, in cash) on the episode's first decision day. In ``mode="train"`` the
    episode is drawn uniformly from every start day of the split with ``self.np_random``
    (seeded by ``reset(seed=...)``); in ``mode="eval"`` (or with ``episode_indices``) a fixed
    list is replayed in order, and ``reset(seed=...)`` rewinds it to its first entry.
    ``reset(options={"episode_index": k})`` plays episode k of the list once (the replay
    position does not move).

    ## Episode End

    After E = ``task.data.episode_len`` (20) steps: ``truncated=True``, ``terminated=False``
    (the horizon is a time limit, not a terminal state: bootstrap from the final observation,
    which is day E with the last executed position). Stepping again before ``reset`` raises.

    ## Arguments

    The fields of ``quantray.config.EnvSettings`` as keyword arguments (each documented
    there), or a whole ``settings=EnvSettings(...)`` with keyword arguments overriding its
    fields; a misspelt name is an error with a "did you mean" hint. In short:

    * ``data``: bars file or directory (``quantray.data.load_bars``); None = bundled sample
      (S&P 500, NASDAQ composite, MSFT daily). ``features``: frozen-feature cache directory;
      None = normalised raw features.
    * ``split``: "train" | "valid" | "test"; ``mode``: "train" (random starts, all start
      days, overlapping) | "eval" (the split's non-overlapping stride-E list, the one
      ``quantray.evaluate`` scores, in order); ``episode_indices``: a fixed list of indices
      into the mode's episode list to replay in order (cycling).
    * ``cost``: "none" | "us_equity" | "cn_a_share" or a ``CostConfig``.
    * ``action_type``: "discrete" | "continuous"; ``reward``: "return" | "shaped" (with
      ``risk_weight`` 0.5 and ``opportunity_weight`` 0.0); ``include_episode_return``: add
      observation column D + 2.
    * ``data_config`` / ``split_config``: geometry and split dates for ``load_task``.

    ``task``: a prebuilt ``quantray.data.Task`` to share between envs (then data, features
    and the configs must be None). Without it Tasks are memoised per process by their
    arguments (``quantray.envs.market.shared_task``), so making many envs is cheap.

    ## Info

    ``reset``: ``episode_index`` (index into the mode's episode list), ``day`` (0), ``date`` (first
    decision day, numpy datetime64), ``symbol``, ``start_row`` (panel row).
    ``step``: ``position`` (wanted), ``executed`` (after blocked trades), ``cost``,
    ``next_return`` (r_{t+1}), ``net_return`` (the accounting net, = reward for "return"),
    ``episode_index``, ``day`` (t, the decision day's index), ``date`` (decision day t).

    ## Notes

    Episodes are prepared ``BLOCK_SIZE`` at a time (``quantray.envs.episode_block``): their
    observation rows, and their returns and trade permissions as Python scalars, so that a
    step calls ``step_np`` on Python floats (its scalar branch: the same numbers as on arrays,
    bit for bit, tested, at a fraction of NumPy's per-call cost on scalars). Returned
    observations are rows of the per-block array: each is handed out once and never
    written again by the env. For N episodes at once use ``TradingVectorEnv``
    (``gymnasium.make_vec("quantray/TradingEnv-v0", num_envs=N)``).
    """

    def __init__(
        self,
        data: str | Path | None = None,
        *,
        task: Task | None = None,
        settings: EnvSettings | None = None,
        **fields: Any,
    ) -> None:
        self.action_space, self.observation_space = self._configure(
            EnvSettings.of(settings, data, **fields), task
        )
        E = self.episode_len
        self._levels_list: list[float] = self._levels.tolist()
        self._obs_size = observation_size(self.dim, self.include_episode_return)
        # Upcoming episodes, prepared BLOCK_SIZE at a time (see episode_block.py).
        self._block: EpisodeBlock | None = None
        self._slot = 0
        self._cursor = 0  # next position in the replay schedule
        # Episode state; _t == E means "needs reset".
        self._t = E
        self._episode = -1
        self._equity = 1.0
        self._held = 0.0
        self._wanted = self._level_position if self._discrete else self._continuous_position

    # ------------------------------------------------------------------ reset

    def _prepare(self, episodes: np.ndarray) -> EpisodeBlock:
        return EpisodeBlock.prepare(
            self.market, episodes, obs_size=self._obs_size, day_fraction=self._day_fraction
        )

    def _next_block(self) -> EpisodeBlock:
        """The next BLOCK_SIZE episodes: uniform draws, or the next entries of the schedule."""
        market = self.market
        if market.schedule is None:
            episodes = self.np_random.integers(market.n_episodes, size=BLOCK_SIZE)
        else:
            position = self._cursor + np.arange(BLOCK_SIZE)  # [B]
            episodes = market.schedule[position % len(market.schedule)]
            self._cursor += BLOCK_SIZE
        return self._prepare(episodes)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Start an episode (see the class docstring: Starting State); returns (obs, info)."""
        super().reset(seed=seed)
        if seed is not None:
            # Forget episodes drawn with the old generator; rewind the replay list.
            self._block = None
            self._cursor = 0
        market = self.market
        if options and options.get("episode_index") is not None:
            k = int(options["episode_index"])
            if not 0 <= k < market.n_episodes:
                raise ValueError(
                    f"TradingEnv.reset: episode_index={k} is out of range; this env's "
                    f"{market.split}/{market.mode} list has {market.n_episodes} episodes"
                )
            block, j = self._prepare(np.array([k])), 0
        else:
            if self._block is None or self._slot == len(self._block):
                self._block, self._slot = self._next_block(), 0
            block, j = self._block, self._slot
            self._slot += 1

        # Slot j's inputs; rows of _obs are handed out one per step, never written again.
        self._obs = block.obs[j]  # [E+1, K]
        self._next_returns = block.next_returns[j]  # [E] Python floats
        self._dates = block.dates[j]  # [E]
        # Trade permissions, [E] each: False on a day the order cannot fill, else None.
        self._can_buy = block.can_buy[j]
        self._can_sell = block.can_sell[j]
        self._episode = k = block.episodes[j]
        self._t = 0
        self._equity = 1.0
        self._held = 0.0
        info = {
            "episode_index": k,
            "day": 0,
            "date": self._dates[0],
            "symbol": block.symbols[j],
            "start_row": block.start_rows[j],
        }
        return self._obs[0], info

    # ------------------------------------------------------------------ step

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Trade at the close of day t; returns (obs of day t+1, reward, False, t+1 == E, info)."""
        t = self._t
        if t >= self.episode_len:
            raise RuntimeError(
                "TradingEnv.step: the episode has ended (or reset() was never called); call "
                "reset() before stepping again"
            )
        # The accounting rule on day t (Python floats): the position wanted, the one actually
        # held (a blocked order keeps the old one), the day's net return and cost.
        wanted = self._wanted(action)
        next_return = self._next_returns[t]
        net, cost, executed = step_np(
            wanted,
            self._held,
            next_return,
            self.market.cost,
            self._can_buy[t],
            self._can_sell[t],
            last_day=t == self.episode_len - 1,  # the exit sale is paid too
        )
        self._held = executed
        reward = net
        if self._shaping is not None:
            reward = shaped_reward(net, executed, next_return, *self._shaping)
        self._t = day = t + 1

        obs = self._obs[day]
        obs[self.dim] = executed
        if self.include_episode_return:
            self._equity *= 1.0 + net
            obs[self.dim + 2] = self._equity - 1.0
        info = {
            "position": wanted,
            "executed": executed,
            "cost": cost,
            "next_return": next_return,
            "net_return": net,
            "episode_index": self._episode,
            "day": t,
            "date": self._dates[t],
        }
        return obs, reward, False, day == self.episode_len, info

    def _level_position(self, action: Any) -> float:
        """Discrete actions: level a's position a / 10."""
        try:
            a = operator.index(action)  # ints and NumPy integers; a float is a client bug
        except TypeError:
            a = -1
        if not 0 <= a < N_LEVELS:
            raise ValueError(
                f"TradingEnv.step: action {action!r} is outside Discrete({N_LEVELS}); "
                f"expected an integer 0..{N_LEVELS - 1} (position a/10)"
            )
        return self._levels_list[a]

    @staticmethod
    def _continuous_position(action: Any) -> float:
        try:
            value = float(action[0])
        except (TypeError, IndexError):
            value = float(action)
        if not 0.0 <= value <= 1.0:
            if value != value:
                raise ValueError(
                    "TradingEnv.step: the continuous action is NaN; expected a position in "
                    "[0, 1] (check the policy's output for NaN)"
                )
            value = min(max(value, 0.0), 1.0)
        return value
