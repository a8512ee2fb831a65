"""Ray Tune + Optuna search over stage-1 architecture and stage-2 strategy-loss weights.

``space`` (the define-by-run search space; the budgets and ``TuneSettings`` live in
``quantray.config.tune``) and ``report`` (selection, test,
deflated Sharpe, outputs) import Ray lazily; ``tuner`` builds and restores the Tuner;
``methods`` trains GRU / PPO / SAC to one budget and tunes each with the same trial count
(experiments/compare.py).
"""

from .space import LOSS_WEIGHTS, SearchSpace, stage1_model
from .tuner import (
    DRAWDOWN,
    OBJECTIVE,
    can_resume,
    make_tuner,
    read_events,
    restore_tuner,
    run_trial,
    strategy_trial,
)

__all__ = [
    "DRAWDOWN",
    "LOSS_WEIGHTS",
    "OBJECTIVE",
    "SearchSpace",
    "can_resume",
    "make_tuner",
    "read_events",
    "restore_tuner",
    "run_trial",
    "stage1_model",
    "strategy_trial",
]
