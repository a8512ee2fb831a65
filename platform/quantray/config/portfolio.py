"""The multi-asset portfolio strategy's settings."""

from __future__ import annotations

from dataclasses import dataclass

from quantray.config.base import check
from quantray.config.training import TrainingSettings


@dataclass(frozen=True)
class PortfolioConfig(TrainingSettings):
    """The multi-asset strategy (``models.portfolio_strategy``) and its training, with
    ``TrainingSettings``' optimiser, early-stopping and loss-weight fields (searchable by Tune
    like the single-asset ones). ``PortfolioLoss``'s benchmark is the equal-weight portfolio of
    the assets present, its market their equal-weight return."""

    # -- network
    hidden_size: int = 32
    """H: per-asset GRUCell state size (also the attention width)."""
    n_heads: int = 2
    """Attention heads across assets (must divide hidden_size)."""
    cap: float | None = None
    """Max weight per asset (excess stays in cash); None = no cap."""

    # -- training (optimiser, early stopping, loss weights: ``TrainingSettings``)
    batch_size: int = 32
    """Episodes per optimizer step."""
    epochs: int = 10
    """Passes (of ``steps_per_epoch`` steps) over random training episodes."""
    steps_per_epoch: int = 50
    """Optimizer steps per epoch."""

    def __post_init__(self) -> None:
        super().__post_init__()
        owner = "PortfolioConfig"
        for name in ("hidden_size", "n_heads", "batch_size", "epochs", "steps_per_epoch"):
            check(getattr(self, name) >= 1, owner, f"{name} must be >= 1")
        check(
            self.hidden_size % self.n_heads == 0,
            owner,
            f"n_heads={self.n_heads} must divide hidden_size={self.hidden_size}",
        )
        check(
            self.cap is None or 0.0 < self.cap <= 1.0,
            owner,
            f"cap must be in (0, 1] or None, got {self.cap!r}",
        )
