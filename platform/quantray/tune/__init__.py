"""Ray Tune + Optuna search over stage-1 architecture and stage-2 strategy-loss weights.

``space`` (the define-by-run search space and budgets) and ``report`` (selection, test,
deflated Sharpe, outputs) import Ray lazily; ``tuner`` builds and restores the Tuner;
``methods`` trains GRU / PPO / SAC to one budget and tunes each with the same trial count
(experiments/compare.py).
"""

from .space import BUDGETS, LOSS_WEIGHTS, Budget, SearchSpace, get_budget, stage1_model
from .tuner import (
    DRAWDOWN,
    OBJECTIVE,
    TuneSettings,
    can_resume,
    make_tuner,
    read_events,
    restore_tuner,
    run_trial,
    strategy_trial,
)

__all__ = [
    "BUDGETS",
    "DRAWDOWN",
    "LOSS_WEIGHTS",
    "OBJECTIVE",
    "Budget",
    "SearchSpace",
    "TuneSettings",
    "can_resume",
    "get_budget",
    "make_tuner",
    "read_events",
    "restore_tuner",
    "run_trial",
    "stage1_model",
    "strategy_trial",
]
