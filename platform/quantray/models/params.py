"""Counting a model's parameters: the size figure every model reports (``num_params``)."""

from __future__ import annotations

from torch import nn


def count_params(module: nn.Module, trainable_only: bool = True) -> int:
    """Number of parameters of ``module``: only those with ``requires_grad`` (the default),
    or all of them."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)
