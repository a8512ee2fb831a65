"""The training budget shared by every learned method of a comparison."""

from __future__ import annotations

from dataclasses import dataclass

from quantray.config.base import Config, check, check_choice

BUDGET_UNITS = ("samples", "seconds")
"""What a ``TrainingBudget`` counts: env-days seen (RL env steps = GRU episode-days) or
training wall-clock seconds."""


@dataclass(frozen=True)
class TrainingBudget(Config):
    """One training budget, the same for every learned method of a comparison.

    Training stops at the first granule (GRU optimizer step, RL iteration) that reaches
    ``amount``; validation runs each time another ``1 / evaluations`` of it is used, and the
    best validation checkpoint is the one kept (every method the same way)."""

    by: str = "samples"
    """"samples": env-days seen in training (an RL env step = one GRU episode-day);
    "seconds": wall-clock of the training steps (validation time not counted)."""
    amount: float = 200_000
    """Budget per training run, in ``by``'s unit."""
    evaluations: int = 10
    """Validation scorings spread evenly over the budget (learning-curve points)."""

    def __post_init__(self) -> None:
        check_choice("TrainingBudget", "by", self.by, BUDGET_UNITS)
        check(
            self.amount > 0,
            "TrainingBudget",
            f"amount must be > 0 {self.by}, got {self.amount!r}",
        )
        check(
            self.evaluations >= 1,
            "TrainingBudget",
            f"evaluations must be >= 1, got {self.evaluations!r}",
        )

    def mark(self, i: int) -> float:
        """Where validation number ``i`` (0-based) falls, in ``by``'s unit."""
        return self.amount * (i + 1) / self.evaluations

    def describe(self) -> str:
        unit = "env-days" if self.by == "samples" else "s of training"
        return f"{self.amount:,.0f} {unit} per run, validated {self.evaluations}x"
