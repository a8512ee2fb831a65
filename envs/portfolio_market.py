"""What ``PortfolioEnv`` and ``PortfolioVectorEnv`` share: the memoised universe, the spaces,
M portfolios' state stepped with one ``portfolio_accounting.step_np`` call, and the setup of
both envs from their settings (``PortfolioBookMixin``).

Axis legend: M sub-environments, N assets, D feature width, E episode length.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import numpy as np
from gymnasium import spaces

from quantray.config import DataConfig, PortfolioEnvSettings, SplitConfig
from quantray.data.features import NORM_CLIP
from quantray.data.universe import PortfolioTask, load_portfolio_task
from quantray.portfolio_accounting import fill_flags, scores_to_weights_np, step_np


@functools.lru_cache(maxsize=8)
def _cached_portfolio_task(
    data: str | None,
    universe: tuple[str, ...] | None,
    features: str | None,
    data_config: DataConfig | None,
    split_config: SplitConfig | None,
) -> PortfolioTask:
    return load_portfolio_task(
        data,
        universe=universe,
        features=features,
        data_config=data_config,
        split_config=split_config,
    )


def shared_portfolio_task(settings: PortfolioEnvSettings) -> PortfolioTask:
    """``load_portfolio_task`` memoised per process by the settings that choose the task
    (``PortfolioEnvSettings.TASK_FIELDS``): one copy per process."""
    s = settings
    return _cached_portfolio_task(
        None if s.data is None else str(Path(s.data).expanduser().resolve()),
        s.universe,
        None if s.features is None else str(Path(s.features).expanduser().resolve()),
        s.data_config,
        s.split_config,
    )


def portfolio_spaces(n_assets: int, dim: int, raw_features: bool) -> tuple[spaces.Box, spaces.Dict]:
    """(action space, observation space) of one portfolio env (see ``PortfolioEnv``)."""
    bound = NORM_CLIP if raw_features else np.inf
    action = spaces.Box(-1.0, 1.0, shape=(n_assets + 1,), dtype=np.float32)
    observation = spaces.Dict(
        {
            "features": spaces.Box(-bound, bound, shape=(n_assets, dim), dtype=np.float32),
            "mask": spaces.Box(0.0, 1.0, shape=(n_assets,), dtype=np.float32),
            "weights": spaces.Box(0.0, 1.0, shape=(n_assets + 1,), dtype=np.float32),
            "day": spaces.Box(0.0, 1.0, shape=(1,), dtype=np.float32),
        }
    )
    return action, observation


class PortfolioBook:
    """Episodes of one split and the state of M portfolios playing them."""

    def __init__(self, task: PortfolioTask, settings: PortfolioEnvSettings, num: int) -> None:
        # split, mode and cap are checked by PortfolioEnvSettings (quantray.config.env).
        split, mode = settings.split, settings.mode
        self.task = task
        self.split, self.mode, self.cap = split, mode, settings.cap
        self.cost = settings.cost_config()
        E = self.episode_len = task.episode_len
        self.starts = task.episode_starts(split, stride=1 if mode == "train" else E)
        if len(self.starts) == 0:
            raise ValueError(
                f"PortfolioEnv: the {split} split has no {E}-day episodes "
                f"({task.describe()}); use more data or move the split boundaries."
            )
        self.schedule: np.ndarray | None = None
        if settings.episode_indices is not None:
            self.schedule = np.asarray(settings.episode_indices, dtype=np.int64).reshape(-1)
            if self.schedule.size == 0 or self.schedule.min() < 0:
                raise ValueError("PortfolioEnv: episode_indices must be non-empty and >= 0")
            if self.schedule.max() >= len(self.starts):
                raise ValueError(
                    f"PortfolioEnv: episode_indices contains {int(self.schedule.max())}, but "
                    f"the {split}/{mode} list has {len(self.starts)} episodes"
                )
        elif mode == "eval":
            self.schedule = np.arange(len(self.starts))
        self.can_buy, self.can_sell = fill_flags(task.available, task.prev_returns, self.cost)
        N, M = task.n_assets, num
        self.num = M
        self.episode = np.zeros(M, dtype=np.int64)
        self.start = np.zeros(M, dtype=np.int64)  # calendar day of day 0
        self.t = np.full(M, E, dtype=np.int64)
        self.held = np.zeros((M, N))
        self.count = np.zeros(M, dtype=np.int64)

    @property
    def n_episodes(self) -> int:
        return len(self.starts)

    def choose(self, idx: np.ndarray, rng: np.random.Generator, forced: Any = None) -> None:
        """Start episodes on sub-envs ``idx``: forced indices, the schedule, or uniform draws."""
        if forced is not None:
            k = np.broadcast_to(np.asarray(forced, dtype=np.int64), idx.shape).copy()
            if ((k < 0) | (k >= self.n_episodes)).any():
                raise ValueError(
                    f"PortfolioEnv.reset: episode_index {forced!r} is out of range; the "
                    f"{self.split}/{self.mode} list has {self.n_episodes} episodes"
                )
        elif self.schedule is None:
            k = rng.integers(self.n_episodes, size=len(idx))
        else:
            k = self.schedule[(self.count[idx] * self.num + idx) % len(self.schedule)]
            self.count[idx] += 1
        self.episode[idx] = k
        self.start[idx] = self.starts[k]
        self.t[idx] = 0
        self.held[idx] = 0.0

    def observe(self) -> dict[str, np.ndarray]:
        """Observations of every sub-env's current day: dict of [M, ...] float32 arrays."""
        task = self.task
        day = self.start + self.t  # [M] calendar days
        mask = task.available[day]  # [M, N]
        rows = np.where(mask, task.cell_row[day], 0)
        features = task.task.table[rows]  # [M, N] rows -> [M, N, D]
        features[~mask] = 0.0
        cash = 1.0 - self.held.sum(axis=-1, keepdims=True)  # [M, 1]
        return {
            "features": features.astype(np.float32, copy=False),
            "mask": mask.astype(np.float32),
            "weights": np.clip(np.concatenate([self.held, cash], axis=-1), 0.0, 1.0).astype(
                np.float32
            ),
            "day": (self.t / self.episode_len).astype(np.float32)[:, None],
        }

    def trade(self, idx: np.ndarray, scores: np.ndarray) -> dict[str, np.ndarray]:
        """Map scores [n, N+1] to target weights and trade day t on sub-envs ``idx``."""
        scores = np.asarray(scores, dtype=np.float64)
        if scores.shape != (len(idx), self.task.n_assets + 1):
            raise ValueError(
                f"PortfolioEnv.step: expected scores of shape ({self.task.n_assets + 1},) per "
                f"env (N assets + cash), got {scores.shape[1:]}"
            )
        if np.isnan(scores).any():
            raise ValueError("PortfolioEnv.step: an action is NaN; check the policy's output")
        day = self.start[idx] + self.t[idx]  # [n] calendar days
        target = scores_to_weights_np(
            np.clip(scores, -1.0, 1.0), self.task.available[day], self.cap
        )  # [n, N]
        net, cost, executed, drifted = step_np(
            target,
            self.held[idx],
            self.task.next_returns[day],
            self.cost,
            self.can_buy[day],
            self.can_sell[day],
            last_day=self.t[idx] == self.episode_len - 1,  # the exit sale (cost.charge_exit)
        )
        self.held[idx] = drifted
        self.t[idx] += 1
        return {
            "target_weights": target,
            "executed_weights": executed,
            "cost": cost,
            "net_return": net,
            "day": self.t[idx] - 1,
            "date": self.task.calendar[day],
        }


def make_book(
    settings: PortfolioEnvSettings, task: PortfolioTask | None, num: int
) -> PortfolioBook:
    """Resolve the env settings (and a shared PortfolioTask, if given) into a ``PortfolioBook``
    of ``num`` portfolios."""
    if task is None:
        task = shared_portfolio_task(settings)
    else:
        settings.check_prebuilt_task()
    return PortfolioBook(task, settings, num)


class PortfolioBookMixin:
    """Set up by ``_configure`` from one ``PortfolioEnvSettings`` (the arguments both
    portfolio envs take): the settings and the ``PortfolioBook`` of the env's portfolios."""

    book: PortfolioBook

    def _configure(
        self, settings: PortfolioEnvSettings, task: PortfolioTask | None, num: int
    ) -> tuple[spaces.Box, spaces.Dict]:
        """Take the resolved settings, build the book of ``num`` portfolios and return one
        env's (action space, observation space)."""
        self.settings = settings
        self.book = make_book(self.settings, task, num)
        played = self.book.task
        return portfolio_spaces(played.n_assets, played.dim, played.task.source == "raw")

    @property
    def task(self) -> PortfolioTask:
        """The shared PortfolioTask (universe, calendar, feature table) played."""
        return self.book.task

    def _rewind(self, seed: int | None) -> None:
        """A seeded reset replays the episode list from its start."""
        if seed is not None:
            self.book.count[:] = 0
