"""The optimiser and early-stopping settings both gradient-trained strategies share."""

from __future__ import annotations

from dataclasses import dataclass

from quantray.config.base import Config, check


@dataclass(frozen=True)
class TrainingSettings(Config):
    """AdamW, gradient clipping and early stopping of a strategy trained by gradient descent
    on episodes (``StrategyConfig``, ``PortfolioConfig`` extend it)."""

    lr: float = 1e-3
    """AdamW learning rate."""
    weight_decay: float = 1e-4
    """AdamW weight decay."""
    grad_clip: float = 1.0
    """Max global gradient norm (0 disables clipping)."""
    patience: int = 5
    """Early stopping: epochs without validation improvement before stopping."""

    def __post_init__(self) -> None:
        owner = type(self).__name__
        check(self.lr > 0, owner, f"lr must be > 0, got {self.lr}")
        check(self.weight_decay >= 0, owner, f"weight_decay must be >= 0, got {self.weight_decay}")
        check(self.grad_clip >= 0, owner, f"grad_clip must be >= 0, got {self.grad_clip}")
        check(self.patience >= 1, owner, f"patience must be >= 1, got {self.patience}")
