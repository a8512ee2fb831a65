"""RMSNorm: golden values and the hand-written CPU backward."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from quantray.models import RMSNorm
from quantray.models.norm import _RMSNormFunction


def test_golden_value() -> None:
    norm = RMSNorm(2, eps=0.0)
    with torch.no_grad():
        norm.weight.copy_(torch.tensor([1.0, 2.0]))
    # rms([3, 4]) = sqrt(12.5); out = [3, 4] / sqrt(12.5) * [1, 2]
    out = norm(torch.tensor([[3.0, 4.0]]))
    assert out[0].tolist() == pytest.approx([3 / 12.5**0.5, 8 / 12.5**0.5], rel=1e-6)


def test_handwritten_backward_passes_gradcheck() -> None:
    x = torch.randn(3, 4, 6, dtype=torch.float64, requires_grad=True)
    w = torch.rand(6, dtype=torch.float64, requires_grad=True) + 0.5
    assert torch.autograd.gradcheck(lambda a, b: _RMSNormFunction.apply(a, b, 1e-6), (x, w))


def test_matches_pytorch_rms_norm_values_and_grads() -> None:
    norm = RMSNorm(16)
    with torch.no_grad():
        norm.weight.uniform_(0.5, 1.5)
    x = torch.randn(4, 7, 16, requires_grad=True)
    g = torch.randn(4, 7, 16)
    ours = norm(x)
    (gx,) = torch.autograd.grad(ours, x, g)
    ref = F.rms_norm(x, (16,), norm.weight, 1e-6)
    (gx_ref,) = torch.autograd.grad(ref, x, g)
    torch.testing.assert_close(ours, ref)
    torch.testing.assert_close(gx, gx_ref)
