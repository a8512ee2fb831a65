"""The envs' settings: one object per env family, shared by its single and vector env and RLlib.

``EnvSettings`` holds every argument of the single-asset env except a prebuilt ``Task`` (a
runtime object, not a setting), ``PortfolioEnvSettings`` those of the portfolio env; both
extend ``MarketSettings`` (data, features, split, episodes, costs). The envs take the fields
as keyword arguments (or a whole ``settings=``), and RLlib's ``env_config`` is
``settings.to_dict()``: the arguments are written once, here, with their checks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import numpy as np

from quantray.config.base import Config, ConfigError, check, check_choice
from quantray.config.data import SPLIT_NAMES, CostConfig, DataConfig, SplitConfig

M = TypeVar("M", bound="MarketSettings")

ENV_MODES = ("train", "eval")
"""train: episodes drawn uniformly (with replacement) from every start day of the split;
eval: the fixed non-overlapping stride-E list of the split, replayed in order."""

ACTION_TYPES = ("discrete", "continuous")
"""Discrete(11) position levels, or a Box(0, 1) position."""

REWARD_KINDS = ("return", "shaped")
"""The accounting's daily net return, or it minus the shaping penalties."""


def _as_config(value: Any, cls: type[Config], name: str) -> Any:
    """JSON / RLlib ``env_config`` hand nested settings back as dicts: rebuild them."""
    if value is None or isinstance(value, cls):
        return value
    if isinstance(value, dict):
        return cls.from_dict(value)
    raise ConfigError(
        f"EnvSettings: {name} must be a {cls.__name__} (or its dict), got {type(value).__name__}"
    )


@dataclass(frozen=True)
class MarketSettings(Config):
    """What every market env is played on: data, features, split, episodes, costs."""

    OWNER: ClassVar[str] = "env"
    """The env's name in error messages (users meet these errors through the env)."""

    data: str | None = None
    """Bars file or directory (``quantray.data.load_bars``); None = the bundled sample."""
    features: str | None = None
    """Frozen-feature cache directory; None = the 11 normalised raw features."""
    split: str = "train"
    """Period played: "train" | "valid" | "test"."""
    mode: str = "train"
    """"train" (random starts, every start day) | "eval" (the split's fixed stride-E list,
    the one ``quantray.evaluate`` scores, in order)."""
    episode_indices: tuple[int, ...] | None = None
    """A fixed list of indices into the mode's episode list, replayed in order (cycling)."""
    cost: str | CostConfig = "none"
    """Cost preset name ("none" | "us_equity" | "cn_a_share") or a ``CostConfig``."""
    data_config: DataConfig | None = None
    """Window and episode geometry for ``load_task`` (None = the defaults)."""
    split_config: SplitConfig | None = None
    """Split fractions or dates for ``load_task`` (None = the defaults)."""

    def __post_init__(self) -> None:
        owner = self.OWNER
        for name in ("data", "features"):
            value = getattr(self, name)
            if isinstance(value, Path):
                object.__setattr__(self, name, str(value))
        if self.episode_indices is not None and not isinstance(self.episode_indices, tuple):
            indices = tuple(int(i) for i in np.asarray(self.episode_indices).reshape(-1))
            object.__setattr__(self, "episode_indices", indices)
        if isinstance(self.cost, dict):
            object.__setattr__(self, "cost", CostConfig.from_dict(self.cost))
        if not isinstance(self.cost, str | CostConfig):
            CostConfig.resolve(self.cost)  # raises the TypeError that says what to pass
        object.__setattr__(
            self, "data_config", _as_config(self.data_config, DataConfig, "data_config")
        )
        object.__setattr__(
            self, "split_config", _as_config(self.split_config, SplitConfig, "split_config")
        )
        check(
            self.split in SPLIT_NAMES,
            owner,
            f'split="{self.split}" is not a split; expected one of {", ".join(SPLIT_NAMES)}',
        )
        check(
            self.mode in ENV_MODES,
            owner,
            f'mode="{self.mode}" is not supported; expected "train" (random starts) or "eval" '
            "(the fixed non-overlapping list, in order)",
        )

    TASK_FIELDS: ClassVar[tuple[str, ...]] = ("data", "features", "data_config", "split_config")
    """The fields that choose the task an env loads; a prebuilt ``task=`` already fixes them."""

    def check_prebuilt_task(self) -> None:
        """Raise (naming the fields) when any of ``TASK_FIELDS`` is set: called by an env given
        a prebuilt ``task=``, which would silently ignore them."""
        given = [name for name in self.TASK_FIELDS if getattr(self, name) is not None]
        if given:
            raise ValueError(
                f"{self.OWNER}: got task= and also {', '.join(given)}; a prebuilt task already "
                "fixes its data, features and splits. Pass either task= or the paths."
            )

    def cost_config(self) -> CostConfig:
        """The cost model: the preset named by ``cost``, or ``cost`` itself."""
        return CostConfig.resolve(self.cost)

    @classmethod
    def of(
        cls: type[M], settings: M | None = None, data: str | Path | None = None, **fields: Any
    ) -> M:
        """``settings`` (default: all defaults) with ``fields`` changed, and ``data`` when it
        is not None (the envs' positional argument); unknown names are an error with a "did
        you mean" hint."""
        if data is not None:
            fields["data"] = data
        base = settings if settings is not None else cls()
        return base.replace(**fields) if fields else base


@dataclass(frozen=True)
class EnvSettings(MarketSettings):
    """Everything that defines a trading env besides a prebuilt Task (see ``TradingEnv``)."""

    OWNER: ClassVar[str] = "TradingEnv"

    action_type: str = "discrete"
    """"discrete" (Discrete(11) position levels) | "continuous" (Box(0, 1) position)."""
    reward: str = "return"
    """"return" (the accounting's daily net return) | "shaped" (minus the penalties below)."""
    include_episode_return: bool = False
    """Add the episode's net return so far as an observation column (D + 2)."""
    risk_weight: float = 0.5
    """"shaped" only: weight of max(-net_t, 0), the per-day downside penalty."""
    opportunity_weight: float = 0.0
    """"shaped" only: weight of (1 - p_t) * max(r_{t+1}, 0), the upside missed."""

    def __post_init__(self) -> None:
        super().__post_init__()
        owner = self.OWNER
        check_choice(owner, "action_type", self.action_type, ACTION_TYPES)
        check_choice(owner, "reward", self.reward, REWARD_KINDS)
        for name in ("risk_weight", "opportunity_weight"):
            value = getattr(self, name)
            check(
                isinstance(value, int | float) and math.isfinite(value) and value >= 0,
                owner,
                f"{name} must be a finite number >= 0, got {value!r}",
            )


@dataclass(frozen=True)
class PortfolioEnvSettings(MarketSettings):
    """Everything that defines a portfolio env besides a prebuilt PortfolioTask (see
    ``PortfolioEnv``)."""

    OWNER: ClassVar[str] = "PortfolioEnv"
    TASK_FIELDS: ClassVar[tuple[str, ...]] = (*MarketSettings.TASK_FIELDS, "universe")

    universe: tuple[str, ...] | None = None
    """Symbols of the universe (None = every symbol of the data)."""
    cap: float | None = None
    """Max weight per asset (the excess stays in cash); None = no cap."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.universe is not None and not isinstance(self.universe, tuple):
            object.__setattr__(self, "universe", tuple(str(s) for s in self.universe))
        check(
            self.cap is None or 0.0 < self.cap <= 1.0,
            self.OWNER,
            f"cap must be in (0, 1] or None, got {self.cap!r}",
        )
