"""The checkpoint a training run keeps: its best validation point so far.

Every learner of the platform selects the same way (the GRU strategy, the portfolio strategy,
PPO / SAC on either env): after each validation the metrics are offered; the first
finite score is kept, later ones only when strictly higher, and a NaN / inf score never is.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch


@dataclass
class BestCheckpoint:
    """The best validation metrics by ``score`` so far and the weights that scored them."""

    score: str
    """The validation metric that selects (higher is better), e.g. ``valid_ir``."""
    best: dict[str, float] = field(default_factory=dict)
    """The selected validation's metrics ({} until a finite score is offered)."""
    state: Any = None
    """The selected weights: the caller stores a copy here whenever ``offer`` keeps."""

    def offer(self, metrics: dict[str, float]) -> bool:
        """Keep ``metrics`` if their score beats the best so far; True when kept (the caller
        then stores the weights that scored them in ``state``)."""
        value = metrics[self.score]
        if not math.isfinite(value) or (self.best and value <= self.best[self.score]):
            return False
        self.best = dict(metrics)
        return True

    @property
    def value(self) -> float:
        """The selected score (NaN before any is kept)."""
        return self.best.get(self.score, float("nan"))


def clone_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """A detached copy of ``model``'s state dict (later steps do not change it)."""
    return {k: v.detach().clone() for k, v in model.state_dict().items()}
