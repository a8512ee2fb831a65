"""``PortfolioEnv``: allocate across N assets + cash for E = 20 trading days, as a Gymnasium env.

The universe, features and accounting are those of the portfolio strategy and its evaluation
(``quantray.data.universe``, ``quantray.portfolio_accounting``), so an RL agent trained here is
comparable with the differentiable portfolio strategy and the baselines.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from quantray.config import PortfolioEnvSettings
from quantray.data.universe import PortfolioTask
from quantray.envs.portfolio_market import PortfolioBookMixin


class PortfolioEnv(PortfolioBookMixin, gym.Env[dict[str, np.ndarray], np.ndarray]):
    """Hold a long-only portfolio of N assets plus cash for E = 20 trading days.

    ## Description

    Each episode is E consecutive trading days of a split (train, valid or test) on the
    union calendar of the universe's assets. At the close of day t the agent sets target
    weights over the N assets and cash (each >= 0, summing to 1), held to the close of day
    t+1. Weights drift with prices between decisions; rebalancing pays the cost model on the
    traded amount of each asset; an asset that is not in the universe that day (not listed
    yet, delisted, suspended, its own holiday, or without a full feature window) gets target
    weight 0 and cannot be traded, and with an enforced price limit no asset can be bought
    into a limit-up close or sold into a limit-down close (the order does not fill). The rule
    is ``quantray.portfolio_accounting`` (one definition, numpy and torch).

    ## Action Space

    ``Box(-1, 1, (N + 1,), float32)``: one score per asset and a last one for cash. Scores are
    clipped to [-1, 1] and mapped to target weights by
    ``portfolio_accounting.scores_to_weights_np``: ``softmax(5 * scores)`` over the assets in
    the universe that day plus cash (assets outside it get exactly 0), then each asset weight
    is capped at ``cap`` (if given) with the excess kept in cash. All-zero scores give equal
    weights to the available assets and cash; the factor 5 lets one asset take ~99% against
    100 others. Any action therefore maps to a legal portfolio.

    ## Observation Space

    ``Dict`` of float32 arrays (N assets, D feature width):

    | key        | shape    | meaning                                                      | range |
    |------------|----------|--------------------------------------------------------------|-------|
    | features   | (N, D)   | each asset's features of day t; 0 for assets not in the universe | [-10, 10] raw, (-inf, inf) frozen |
    | mask       | (N,)     | 1 if the asset is in the universe on day t (tradable), else 0 | [0, 1] |
    | weights    | (N + 1,) | weights held into the close of day t (drifted; cash last)    | [0, 1] |
    | day        | (1,)     | day in episode t / E (0 at reset, 1 in the final observation)| [0, 1] |

    Features: with ``features=None`` the 11 raw daily features normalised on the TRAINING
    split only; with ``features=PATH`` the frozen stage-1 features of that cache. Every value
    of day t's observation is known at the close of day t.

    ## Rewards

    The accounting's daily net return ``executed · r_{t+1} - cost_t`` (sum over assets of
    executed weight times the asset's next-day return, minus commission / stamp duty /
    slippage on each asset's traded amount).

    ## Starting State

    All cash. ``mode="train"``: the episode is drawn uniformly from every start day of the
    split (``self.np_random``, seeded by ``reset(seed=...)``); ``mode="eval"`` (or
    ``episode_indices``): a fixed list replayed in order, rewound by a seeded reset.
    ``reset(options={"episode_index": k})`` plays episode k once.

    ## Episode End

    After E steps: ``truncated=True``, ``terminated=False`` (a time limit; the final
    observation is day E). Stepping again before ``reset`` raises.

    ## Arguments

    The fields of ``quantray.config.PortfolioEnvSettings`` as keyword arguments (or a whole
    ``settings=`` they override): ``data`` (bars file or directory; None = bundled sample),
    ``universe`` (symbols; None = all), ``features`` (frozen-feature cache; None = raw),
    ``split``, ``mode``, ``episode_indices``, ``cost`` (preset name or ``CostConfig``), ``cap``
    (max weight per asset, None = no cap), ``data_config``, ``split_config``; and ``task``, a
    prebuilt ``PortfolioTask`` to share.

    ## Info

    ``reset``: ``episode_index``, ``date``. ``step``: ``target_weights`` [N] (after the mapping;
    0 for absent assets), ``executed_weights`` [N] (after fills), ``cost``, ``net_return``,
    ``day`` (t), ``date`` (decision day t), ``episode_index``.

    Notes: a position in an asset that leaves the universe while held (suspension,
    delisting) keeps its weight, marked at its last close, until it can trade again.
    """

    def __init__(
        self,
        data: str | Path | None = None,
        *,
        task: PortfolioTask | None = None,
        settings: PortfolioEnvSettings | None = None,
        **fields: Any,
    ) -> None:
        self.action_space, self.observation_space = self._configure(
            PortfolioEnvSettings.of(settings, data, **fields), task, num=1
        )
        self._one = np.zeros(1, dtype=np.int64)

    def _obs(self) -> dict[str, np.ndarray]:
        return {k: v[0] for k, v in self.book.observe().items()}

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        super().reset(seed=seed)
        self._rewind(seed)
        forced = (options or {}).get("episode_index")
        count = self.book.count.copy()
        self.book.choose(self._one, self.np_random, forced)
        if forced is not None:
            self.book.count[:] = count  # a forced episode does not move the replay list
        k = int(self.book.episode[0])
        return self._obs(), {"episode_index": k, "date": self.task.calendar[self.book.start[0]]}

    def step(self, action: Any) -> tuple[dict[str, np.ndarray], float, bool, bool, dict]:
        if self.book.t[0] >= self.book.episode_len:
            raise RuntimeError("PortfolioEnv.step: the episode has ended; call reset() first")
        out = self.book.trade(self._one, np.asarray(action, dtype=np.float64).reshape(1, -1))
        info = {k: v[0] for k, v in out.items()}
        info["episode_index"] = int(self.book.episode[0])
        truncated = bool(self.book.t[0] >= self.book.episode_len)
        return self._obs(), float(out["net_return"][0]), False, truncated, info
