"""RMSNorm (Zhang & Sennrich, 2019): scale by the root-mean-square, no mean subtraction."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class _RMSNormFunction(torch.autograd.Function):
    """RMSNorm with a hand-written backward for CPU.

    PyTorch has no fused CPU RMSNorm kernel: ``F.rms_norm``'s autograd runs the decomposed
    graph (pow, mean, rsqrt, several muls, and their backwards). Saving ``rstd`` and writing
    the backward in closed form, ``gx = rstd * (g*w - xhat * mean(g*w*xhat))``, halves the
    elementwise passes (measured ~1.5x faster fwd+bwd at [8, 180, 256]).
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:  # type: ignore[override]
        rstd = torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps)  # [..., 1]
        xhat = x * rstd
        ctx.save_for_backward(xhat, weight, rstd)  # xhat, not x: saves a recompute
        return xhat * weight

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, None]:  # type: ignore[override]
        xhat, weight, rstd = ctx.saved_tensors
        grad_weight = (grad * xhat).reshape(-1, xhat.shape[-1]).sum(0)  # [..., D] -> [N, D] -> [D]
        gxhat = grad * weight
        dot = (gxhat * xhat).mean(-1, keepdim=True)  # [..., 1]
        # rstd * (gxhat - xhat * dot), in two passes
        grad_x = torch.addcmul(gxhat, xhat, dot, value=-1).mul_(rstd)
        return grad_x, grad_weight, None


class RMSNorm(nn.Module):
    """``x / sqrt(mean(x**2) + eps) * weight`` over the last axis: x [..., dim] -> [..., dim].

    On CPU in full precision it uses a hand-written autograd function (see
    ``_RMSNormFunction``); elsewhere (GPU, autocast, ``torch.compile`` tracing) it uses
    ``F.rms_norm``, which those backends fuse.
    """

    def __init__(self, dim: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.dim = dim
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if (
            x.device.type == "cpu"
            and x.dtype == self.weight.dtype
            and not torch.is_autocast_enabled("cpu")
            and not torch.compiler.is_compiling()
        ):
            return _RMSNormFunction.apply(x, self.weight, self.eps)
        # Weight in x's dtype: a bf16 input with an fp32 weight (autocast) misses the fused
        # kernel; the fused kernels accumulate in fp32 regardless.
        return F.rms_norm(x, (self.dim,), self.weight.to(x.dtype), self.eps)

    def extra_repr(self) -> str:
        return f"{self.dim}, eps={self.eps}"
