"""Stage-1 price loss: predicted vs realised next-H-day returns, both [B, H]."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from quantray.config import PriceModelConfig

PRICE_LOSSES = ("mse", "mae", "huber")


def price_loss(
    pred: torch.Tensor, target: torch.Tensor, kind: str = "mse", huber_delta: float = 0.05
) -> torch.Tensor:
    """Mean loss over batch and horizon of predicted returns ``pred`` [B, H] vs ``target`` [B, H].

    ``kind``: "mse" (mean squared error), "mae" (mean absolute error) or "huber" (quadratic
    within ``huber_delta`` of the target, linear beyond: ``0.5 e^2`` for ``|e| <= delta`` else
    ``delta * (|e| - 0.5 delta)``). Returns a scalar in fp32 even under bf16 autocast, so tiny
    return errors (~1e-4 squared) are not rounded away.
    """
    if pred.shape != target.shape:
        raise ValueError(
            f"price_loss: pred {tuple(pred.shape)} and target {tuple(target.shape)} must have the "
            f"same [batch, horizon] shape; build the model with the data's horizon "
            f"(PriceRunSpec.new_model)."
        )
    pred, target = pred.float(), target.float()
    if kind == "mse":
        return F.mse_loss(pred, target)
    if kind == "mae":
        return F.l1_loss(pred, target)
    if kind == "huber":
        return F.huber_loss(pred, target, delta=huber_delta)
    raise ValueError(f'price_loss: kind must be one of {", ".join(PRICE_LOSSES)}, got "{kind}"')


def price_loss_from_config(
    pred: torch.Tensor, target: torch.Tensor, config: PriceModelConfig
) -> torch.Tensor:
    """:func:`price_loss` with the kind and Huber delta taken from ``config``."""
    return price_loss(pred, target, config.loss, config.huber_delta)


def zero_forecast_loss(
    target: torch.Tensor, kind: str = "mse", huber_delta: float = 0.05
) -> torch.Tensor:
    """Loss of the naive "price stays at the last close" forecast (all returns 0): the baseline
    a useful price model must beat."""
    return price_loss(torch.zeros_like(target), target, kind, huber_delta)
