"""The multi-asset portfolio strategy's settings."""

from __future__ import annotations

from dataclasses import dataclass

from quantray.config.base import check, check_choice
from quantray.config.training import TrainingSettings

_PORTFOLIO_RISK = ("downside", "drawdown", "both")


@dataclass(frozen=True)
class PortfolioConfig(TrainingSettings):
    """The multi-asset strategy (``models.portfolio_strategy``), its loss weights (searchable
    by Tune like the single-asset ones) and its training (with ``TrainingSettings``'
    optimiser and early-stopping fields)."""

    # -- network
    hidden_size: int = 32
    """H: per-asset GRUCell state size (also the attention width)."""
    n_heads: int = 2
    """Attention heads across assets (must divide hidden_size)."""
    cap: float | None = None
    """Max weight per asset (excess stays in cash); None = no cap."""

    # -- loss weights (PortfolioLoss)
    relative_return_weight: float = 1.0
    """Weight of -(strategy - equal-weight benchmark) episode net return."""
    risk_cost_weight: float = 0.5
    """Weight of downside deviation and/or max drawdown of the portfolio's daily net returns."""
    opportunity_cost_weight: float = 0.5
    """Weight of the cash weight times the equal-weight market's rise, in bull episodes."""
    transaction_cost_weight: float = 0.0
    """Extra weight on episode trading costs (already inside net returns: >0 penalises
    turnover on top)."""
    risk_measure: str = "both"
    """Risk cost: "downside", "drawdown" or "both" (sum)."""

    # -- training (lr, weight_decay, grad_clip, patience: ``TrainingSettings``)
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
        for name in (
            "relative_return_weight",
            "risk_cost_weight",
            "opportunity_cost_weight",
            "transaction_cost_weight",
        ):
            check(getattr(self, name) >= 0, owner, f"{name} must be >= 0")
        check_choice(owner, "risk_measure", self.risk_measure, _PORTFOLIO_RISK)
