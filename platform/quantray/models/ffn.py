"""Feed-forward layers: SwiGLU, GeGLU (Shazeer 2020) and a top-k routed MoE of SwiGLU experts.

Names follow DeepSeek-V3: ``w2(act(w1 x) * w3 x)``; the MoE router is ``gate``.

MoE dispatch (no Python loop over tokens or experts): every (token, choice) assignment is
sorted by expert id, scattered into a zero-padded buffer [num_experts, capacity, D] with
capacity = the largest number of assignments any expert received in this batch, pushed
through all experts at once with batched matmuls against stacked expert weights
[num_experts, D, hidden], then gathered back and summed per token with the router weights.
Chosen over a dense einsum (every expert on every token, then masked) because its compute is
top_k / num_experts of the dense one, and over a fixed capacity factor because no token is
ever dropped, so the layer is an exact top-k mixture. The price is one device sync to read
the capacity (``counts.max()``), and padding waste that stays small while the
load-balancing loss keeps experts even.

Shape letters beyond the project legend: N tokens (B*L), K top_k, X experts, C capacity.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn


class GatedFFN(nn.Module):
    """``w2(act(w1 x) * w3 x)``: x [..., D] -> [..., D], the GLU feed-forward family
    (Shazeer, 2020); ``act`` is the gate's activation."""

    def __init__(self, dim: int, hidden: int, act: Callable[[torch.Tensor], torch.Tensor]) -> None:
        super().__init__()
        self.w1 = nn.Linear(dim, hidden, bias=False)
        self.w2 = nn.Linear(hidden, dim, bias=False)
        self.w3 = nn.Linear(dim, hidden, bias=False)
        self.act = act

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.w2(self.act(self.w1(x)) * self.w3(x))


class SwiGLU(GatedFFN):
    """``w2(silu(w1 x) * w3 x)``: x [..., D] -> [..., D]."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__(dim, hidden, F.silu)


class GeGLU(GatedFFN):
    """``w2(gelu(w1 x) * w3 x)`` with the tanh-approximate GELU: x [..., D] -> [..., D]."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__(dim, hidden, functools.partial(F.gelu, approximate="tanh"))


def load_balancing_loss(probs: torch.Tensor, experts: torch.Tensor) -> torch.Tensor:
    """Switch / DeepSeek expert-balance loss ``num_experts * sum_e f_e * P_e``.

    probs [N, num_experts] are the router's softmax probabilities; experts [N, K] the chosen
    expert ids. ``f_e`` is the fraction of the N*top_k assignments that went to expert e (no
    gradient), ``P_e`` the mean router probability of e (carries the gradient). The value is 1
    for perfectly even routing and up to num_experts when everything goes to one expert.
    """
    num_experts = probs.shape[-1]
    counts = torch.bincount(experts.reshape(-1), minlength=num_experts)  # [num_experts]
    frac = counts.to(probs.dtype) / experts.numel()
    return num_experts * torch.dot(frac, probs.mean(dim=0))


class MoE(nn.Module):
    """Top-k routed mixture of SwiGLU experts with a softmax router.

    ``forward(x [..., D]) -> (y [..., D], aux)`` where ``y = sum_{e in topk(x)} p_e(x) E_e(x)``
    with the router's softmax probabilities ``p`` (not renormalised over the chosen k, so the
    router also gets gradient from the task loss when top_k == 1) and ``aux`` the unweighted
    load-balancing loss (see :func:`load_balancing_loss`).
    """

    def __init__(self, dim: int, hidden: int, num_experts: int, top_k: int) -> None:
        super().__init__()
        if not 1 <= top_k <= num_experts:
            raise ValueError(f"top_k must be in [1, num_experts={num_experts}], got {top_k}")
        self.dim = dim
        self.hidden = hidden
        self.num_experts = num_experts
        self.top_k = top_k
        self.gate = nn.Linear(dim, num_experts, bias=False)
        # Stacked expert weights so all experts run in one batched matmul.
        self.w1 = nn.Parameter(torch.empty(num_experts, dim, hidden))
        self.w2 = nn.Parameter(torch.empty(num_experts, hidden, dim))
        self.w3 = nn.Parameter(torch.empty(num_experts, dim, hidden))
        for weight, fan_in in ((self.w1, dim), (self.w2, hidden), (self.w3, dim)):
            nn.init.normal_(weight, std=fan_in**-0.5)

    def route(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """x [N, D] -> (probs [N, num_experts] fp32, weights [N, K], experts [N, K])."""
        # Router in fp32: bf16 logits make near-ties flip between runs.
        probs = F.linear(x.float(), self.gate.weight.float()).softmax(dim=-1)
        weights, experts = probs.topk(self.top_k, dim=-1)
        return probs, weights, experts

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        shape = x.shape
        x = x.reshape(-1, self.dim)  # [..., D] -> [N, D], N tokens
        n_tokens = x.shape[0]
        probs, weights, experts = self.route(x)

        flat_experts = experts.reshape(-1)  # [N, K] -> [N*K] assignments, token-major
        order = flat_experts.argsort(stable=True)  # assignments grouped by expert
        sorted_experts = flat_experts[order]  # [N*K]
        token_of = order // self.top_k  # [N*K] source token of each sorted assignment
        counts = torch.bincount(flat_experts, minlength=self.num_experts)  # [num_experts]
        starts = counts.cumsum(0) - counts  # first sorted index of each expert's group
        slot = torch.arange(order.numel(), device=x.device) - starts[sorted_experts]  # [N*K]
        capacity = int(counts.max())  # the one host sync; no token is dropped
        dest = sorted_experts * capacity + slot  # [N*K] row in the flat padded buffer

        buffer = x.new_zeros(self.num_experts * capacity, self.dim)
        buffer = buffer.index_copy(0, dest, x[token_of])
        buffer = buffer.view(self.num_experts, capacity, self.dim)  # [X, C, D]
        # Padding rows are zero and the experts have no bias, so they stay zero (and unused).
        hidden = F.silu(torch.bmm(buffer, self.w1)) * torch.bmm(buffer, self.w3)  # [X, C, hidden]
        out = torch.bmm(hidden, self.w2)  # [X, C, D]
        out = out.view(-1, self.dim)[dest]  # [X*C, D] -> [N*K, D] in sorted order

        gate_w = weights.reshape(-1)[order].to(out.dtype)  # [N*K] router weight per assignment
        y = out.new_zeros(n_tokens, self.dim).index_add(0, token_of, out * gate_w[:, None])
        aux = load_balancing_loss(probs, experts)
        return y.view(shape), aux  # [N, D] -> [..., D]

    def extra_repr(self) -> str:
        return (
            f"dim={self.dim}, hidden={self.hidden}, num_experts={self.num_experts}, "
            f"top_k={self.top_k}"
        )
