"""The stage-1-only architecture search's settings (``experiments/tune_price.py``)."""

from __future__ import annotations

from dataclasses import dataclass

from quantray.config.base import Config, check, check_choice
from quantray.config.tune import BUDGETS, Budget, get_budget

SMOKE_TRIALS = 2
"""Trials of a smoke search when no trial count is given (each is a TorchTrainer run)."""


@dataclass(frozen=True)
class TunePriceSettings(Config):
    """How big the stage-1 architecture search is and how each trial trains."""

    budget: str = "small"
    """Search size: a named ``Budget`` ("smoke" | "small" | "full"): its architecture menu,
    stage-1 training length and default trial count."""
    num_samples: int | None = None
    """Trials sampled by the search; None = the budget's ``num_samples``."""
    num_workers: int = 1
    """DDP workers (one CPU each) of the TorchTrainer every trial drives."""
    seed: int = 0
    """Seed of the TPE sampler and of every trial's training."""

    def __post_init__(self) -> None:
        check_choice("TunePriceSettings", "budget", self.budget, tuple(BUDGETS))
        check(
            self.num_samples is None or self.num_samples >= 1,
            "TunePriceSettings",
            f"num_samples must be None or >= 1 (a trial count), got {self.num_samples!r}",
        )
        check(
            self.num_workers >= 1,
            "TunePriceSettings",
            f"num_workers must be >= 1 (DDP workers per trial), got {self.num_workers!r}",
        )

    def smoke(self) -> TunePriceSettings:
        """A seconds-to-minutes search: the "smoke" budget and, unless a trial count was
        given, ``SMOKE_TRIALS`` trials."""
        return self.replace(budget="smoke", num_samples=self.num_samples or SMOKE_TRIALS)

    @property
    def search_budget(self) -> Budget:
        """The named ``Budget``."""
        return get_budget(self.budget)

    @property
    def trials(self) -> int:
        """Trials the search samples: ``num_samples``, else the budget's."""
        return self.num_samples or self.search_budget.num_samples
