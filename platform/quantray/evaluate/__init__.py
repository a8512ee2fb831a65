"""Evaluation: per-episode backtest metrics, baselines, confidence intervals, deflated Sharpe.

Pure numpy / scipy / pandas / arch. Every strategy (GRU, PPO, SAC, baselines) is scored
through the one accounting rule on the same episodes (``backtest.backtest_episodes``, with the episodes' own trade permissions), and every
report prints the one table (``table.Scored``): pooled daily Sharpe, information ratio vs
buy-and-hold, date-block bootstrap intervals (``blocks``). After a search, ``selection``
gives the deflated Sharpe ratios and Hansen's SPA test.
"""

from . import backtest, baselines, metrics, stats
from .backtest import *  # noqa: F403
from .baselines import *  # noqa: F403
from .metrics import *  # noqa: F403
from .stats import *  # noqa: F403

# The package's names are its four core modules' public names, each listed once, in the module
# that defines it (its ``__all__``).
__all__: list[str] = []
__all__ += backtest.__all__
__all__ += baselines.__all__
__all__ += metrics.__all__
__all__ += stats.__all__
