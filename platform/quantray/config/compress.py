"""Model compression: the distillation loss weights."""

from __future__ import annotations

from dataclasses import dataclass

from quantray.config.base import Config, ConfigError


@dataclass(frozen=True)
class DistillConfig(Config):
    """Weights of the distillation loss (see the module docstring)."""

    label_weight: float = 1.0
    """Weight of the ordinary price loss on realised returns (relative to the zero forecast)."""
    price_weight: float = 1.0
    """Weight of matching the teacher's predicted returns (relative to mean squared return)."""
    feature_weight: float = 1.0
    """Weight of matching the teacher's feature vector through the learned projection."""

    def __post_init__(self) -> None:
        weights = (self.label_weight, self.price_weight, self.feature_weight)
        if min(weights) < 0 or sum(weights) <= 0:
            raise ConfigError(
                f"DistillConfig: weights must be >= 0 and not all 0, got label={weights[0]}, "
                f"price={weights[1]}, feature={weights[2]}"
            )
