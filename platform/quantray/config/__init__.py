"""Typed, frozen settings shared by the CLI, Ray Tune and checkpoints: one module per area.

Every settings object is a frozen dataclass with a docstring under each field, validated in
``__post_init__``; ``from_dict`` rejects unknown keys with a "did you mean" hint, so a typo in
a JSON config or a Tune search space fails loudly. ``quantray.config.flags.add_flags`` turns
the fields into command-line flags, so every field is settable from the CLI.

| module            | settings                                                       |
|-------------------|----------------------------------------------------------------|
| ``base``          | ``Config`` machinery, ``ConfigError``, the checks               |
| ``data``          | ``DataConfig`` (geometry), ``SplitConfig``, ``CostConfig``      |
| ``price``         | ``PriceModelConfig`` + ALL stage-1 size presets, ``PriceTrainConfig`` |
| ``strategy``      | ``StrategyConfig`` (stage-2 GRU), ``SELECTION_SCORES``          |
| ``env``           | ``EnvSettings``, ``PortfolioEnvSettings`` (envs + RLlib ``env_config``) |
| ``rl``            | ``PPOSettings``, ``SACSettings`` (shared fields: ``RLSettings``) |
| ``budget``        | ``TrainingBudget`` (equal budgets across methods)               |
| ``tune``          | ``Budget`` + the named budgets, ``TuneSettings``                |
| ``tune_price``    | ``TunePriceSettings`` (the stage-1 search script)               |
| ``portfolio``     | ``PortfolioConfig``                                             |
| ``training``      | ``TrainingSettings`` (optimiser + shared loss weights), ``RISK_MEASURES`` |
| ``compress``      | ``DistillConfig`` (distillation loss weights), ``CompressSettings`` (``distill.py``) |
| ``explain``       | ``ExplainSettings`` (``explain.py``: the decision, the workload) |
| ``launch``        | ``PriceLaunch``, ``RayExportSettings`` (never in cache keys)    |
| ``walk_forward``  | ``WalkForwardConfig``                                           |
"""

from quantray.config.base import Config, ConfigError, check, check_choice, did_you_mean
from quantray.config.budget import BUDGET_UNITS, TrainingBudget
from quantray.config.compress import PRUNE_TARGETS, CompressSettings, DistillConfig
from quantray.config.data import SPLIT_NAMES, CostConfig, DataConfig, SplitConfig
from quantray.config.env import (
    ACTION_TYPES,
    ENV_MODES,
    REWARD_KINDS,
    EnvSettings,
    MarketSettings,
    PortfolioEnvSettings,
)
from quantray.config.explain import ExplainSettings
from quantray.config.launch import EXPORT_BACKENDS, PriceLaunch, RayExportSettings
from quantray.config.portfolio import PortfolioConfig
from quantray.config.price import SMALL_STAGE1, SMOKE_STAGE1, PriceModelConfig, PriceTrainConfig
from quantray.config.rl import SETTINGS, PPOSettings, RLSettings, SACSettings
from quantray.config.strategy import (
    BEAR,
    BULL,
    LOSS_WEIGHTS,
    N_LEVELS,
    REGIMES,
    SELECTION_SCORES,
    SIDEWAYS,
    StrategyConfig,
)
from quantray.config.training import RISK_MEASURES, TrainingSettings
from quantray.config.tune import BUDGETS, EVENTS_FILE, Budget, TuneSettings, get_budget
from quantray.config.tune_price import TunePriceSettings
from quantray.config.walk_forward import WINDOWS, WalkForwardConfig

__all__ = [
    "ACTION_TYPES",
    "BEAR",
    "BUDGETS",
    "BUDGET_UNITS",
    "BULL",
    "ENV_MODES",
    "EVENTS_FILE",
    "EXPORT_BACKENDS",
    "LOSS_WEIGHTS",
    "N_LEVELS",
    "PRUNE_TARGETS",
    "REGIMES",
    "REWARD_KINDS",
    "RISK_MEASURES",
    "SELECTION_SCORES",
    "SETTINGS",
    "SIDEWAYS",
    "SMALL_STAGE1",
    "SMOKE_STAGE1",
    "SPLIT_NAMES",
    "WINDOWS",
    "Budget",
    "CompressSettings",
    "Config",
    "ConfigError",
    "CostConfig",
    "DataConfig",
    "DistillConfig",
    "EnvSettings",
    "ExplainSettings",
    "MarketSettings",
    "PPOSettings",
    "PortfolioConfig",
    "PortfolioEnvSettings",
    "PriceLaunch",
    "PriceModelConfig",
    "PriceTrainConfig",
    "RLSettings",
    "RayExportSettings",
    "SACSettings",
    "SplitConfig",
    "StrategyConfig",
    "TrainingBudget",
    "TrainingSettings",
    "TunePriceSettings",
    "TuneSettings",
    "WalkForwardConfig",
    "check",
    "check_choice",
    "did_you_mean",
    "get_budget",
]
