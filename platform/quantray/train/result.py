"""What a stage-2 trainer returns: the selected model and how it got there."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class TrainResult:
    """A trained strategy (single-asset ``train_strategy`` or portfolio ``train_portfolio``)
    at its best validation point, and how it got there."""

    model: Any
    """The model with the selected (best validation) weights, in eval mode."""
    history: list[dict[str, float]]
    """One row per validation (epoch or budget mark): training losses, valid_* metrics."""
    best: dict[str, float]
    """The history row of the selected validation."""
    seconds: float
    """Wall-clock of the whole run (training and validations)."""
    samples: int
    """Training episodes consumed (x E = episode-days, the unit RL env steps compare to)."""
    train_seconds: float = 0.0
    """Wall-clock of the optimizer steps alone (validation excluded): the seconds budget."""
