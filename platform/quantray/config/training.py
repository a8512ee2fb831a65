"""What both gradient-trained strategies share: the optimiser, early stopping and the loss
terms both objectives have."""

from __future__ import annotations

from dataclasses import dataclass

from quantray.config.base import Config, check, check_choice

RISK_MEASURES = ("downside", "drawdown", "both")
"""Risk cost of both strategy losses: the downside deviation of the daily net returns, the
maximum drawdown of their equity path, or the sum of the two."""

SHARED_LOSS_WEIGHTS = (
    "relative_return_weight",
    "risk_cost_weight",
    "opportunity_cost_weight",
    "transaction_cost_weight",
)
"""The loss weights both objectives have (``TrainingSettings`` fields); each >= 0."""


@dataclass(frozen=True)
class TrainingSettings(Config):
    """AdamW, gradient clipping, early stopping and the shared loss terms of a strategy
    trained by gradient descent on episodes (``StrategyConfig``, ``PortfolioConfig`` extend
    it)."""

    lr: float = 1e-3
    """AdamW learning rate."""
    weight_decay: float = 1e-4
    """AdamW weight decay."""
    grad_clip: float = 1.0
    """Max global gradient norm (0 disables clipping)."""
    patience: int = 5
    """Early stopping: epochs without validation improvement before stopping."""

    # -- the loss terms both objectives have (StrategyLoss, PortfolioLoss)
    relative_return_weight: float = 1.0
    """Weight of -(strategy - benchmark) episode net return. The benchmark: for the GRU the
    episode's market type sets it (bull 100%, sideways 50%, bear cash); for a portfolio, equal
    weights over the assets present."""
    risk_cost_weight: float = 0.5
    """Weight of the risk cost (``risk_measure``) of the daily net returns."""
    opportunity_cost_weight: float = 0.5
    """Weight of the upside missed while under-invested in bull episodes (the asset's rise
    for the GRU, the equal-weight market's for a portfolio)."""
    transaction_cost_weight: float = 0.0
    """Extra weight on episode transaction costs. Costs are already inside net returns, so 0
    counts them once; > 0 penalises turnover on top."""
    risk_measure: str = "both"
    """Risk cost: "downside" (downside deviation), "drawdown" (max drawdown) or "both" (sum)."""

    def __post_init__(self) -> None:
        owner = type(self).__name__
        check(self.lr > 0, owner, f"lr must be > 0, got {self.lr}")
        check(self.weight_decay >= 0, owner, f"weight_decay must be >= 0, got {self.weight_decay}")
        check(self.grad_clip >= 0, owner, f"grad_clip must be >= 0, got {self.grad_clip}")
        check(self.patience >= 1, owner, f"patience must be >= 1, got {self.patience}")
        for name in SHARED_LOSS_WEIGHTS:
            value = getattr(self, name)
            check(value >= 0, owner, f"{name} must be >= 0, got {value}")
        check_choice(owner, "risk_measure", self.risk_measure, RISK_MEASURES)
