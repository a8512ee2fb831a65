"""When a budget-trained run validates and stops: the ``TrainingBudget`` marks, counted once.

Every budget-trained learner (the portfolio strategy, PPO / SAC on either env) takes
training granules (an optimizer step, an RL iteration) and, after each, asks
``BudgetProgress.validation_due`` whether it reached the next of the budget's
``evaluations`` marks or used the whole budget.
"""

from __future__ import annotations

from dataclasses import dataclass

from quantray.config import TrainingBudget


@dataclass
class BudgetProgress:
    """How far a run is through its ``budget``: the marks passed and whether it is used up."""

    budget: TrainingBudget
    marks_passed: int = 0
    """Validation marks (``budget.mark(i)``) reached so far."""
    done: bool = False
    """The whole budget is used: validate one last time and stop."""

    def validation_due(self, samples: float, train_seconds: float) -> bool:
        """Record the budget used so far (env-days ``samples`` and ``train_seconds``, in the
        unit the budget counts). True when a validation is due now: the next mark is reached
        (one validation however many marks this granule crossed) or the budget is used up
        (``done``)."""
        budget = self.budget
        used = samples if budget.by == "samples" else train_seconds
        self.done = used >= budget.amount
        if used < budget.mark(self.marks_passed) and not self.done:
            return False
        while self.marks_passed < budget.evaluations and used >= budget.mark(self.marks_passed):
            self.marks_passed += 1
        return True
