"""Price loss: golden values for mse / mae / huber."""

from __future__ import annotations

import pytest
import torch

from quantray.config import PriceModelConfig
from quantray.losses.price import price_loss, price_loss_from_config, zero_forecast_loss

PRED = torch.tensor([[0.01, -0.02], [0.10, 0.00]])
TARGET = torch.tensor([[0.03, -0.02], [-0.05, 0.04]])
# errors e = pred - target = [[-0.02, 0.00], [0.15, -0.04]]


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("mse", (0.02**2 + 0 + 0.15**2 + 0.04**2) / 4),  # 0.006125
        ("mae", (0.02 + 0 + 0.15 + 0.04) / 4),  # 0.0525
        # delta 0.05: quadratic 0.5 e^2 for |e| <= 0.05, else 0.05 * (|e| - 0.025)
        ("huber", (0.5 * 0.02**2 + 0 + 0.05 * (0.15 - 0.025) + 0.5 * 0.04**2) / 4),
    ],
)
def test_golden_values(kind: str, expected: float) -> None:
    assert price_loss(PRED, TARGET, kind, huber_delta=0.05).item() == pytest.approx(
        expected, rel=1e-5
    )


def test_from_config_and_zero_forecast() -> None:
    cfg = PriceModelConfig.preset("tiny", loss="mae")
    assert price_loss_from_config(PRED, TARGET, cfg).item() == pytest.approx(0.0525, rel=1e-5)
    assert zero_forecast_loss(TARGET).item() == pytest.approx(
        (0.03**2 + 0.02**2 + 0.05**2 + 0.04**2) / 4, rel=1e-5
    )


def test_bf16_inputs_give_an_fp32_loss_with_gradient() -> None:
    pred = PRED.bfloat16().requires_grad_()
    loss = price_loss(pred, TARGET.bfloat16())
    assert loss.dtype == torch.float32
    loss.backward()
    assert pred.grad is not None


def test_errors_are_explained() -> None:
    with pytest.raises(ValueError, match=r"same \[batch, horizon\] shape"):
        price_loss(PRED, TARGET[:, :1])
    with pytest.raises(ValueError, match='kind must be one of mse, mae, huber, got "l2"'):
        price_loss(PRED, TARGET, "l2")
