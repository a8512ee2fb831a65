"""What every stage-2 loss holds: its settings and the cost model its accounting charges."""

from __future__ import annotations

from typing import Generic, TypeVar

from torch import nn

from quantray.config import CostConfig

ConfigT = TypeVar("ConfigT")


class Objective(nn.Module, Generic[ConfigT]):
    """Base of the stage-2 losses (``StrategyLoss``, ``PortfolioLoss``): an ``nn.Module``
    keeping ``config`` (the loss weights and settings) and ``cost`` (the cost model of the
    accounting it runs the benchmark and, where needed, the positions through)."""

    def __init__(self, config: ConfigT, cost: CostConfig) -> None:
        super().__init__()
        self.config = config
        self.cost = cost
