"""Feed-forwards: SwiGLU / GeGLU formulas, MoE routing, aux loss and a naive reference."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from quantray.models import GeGLU, MoE, SwiGLU, load_balancing_loss


@pytest.mark.parametrize(("cls", "act"), [(SwiGLU, F.silu), (GeGLU, None)])
def test_glu_formula_shape_and_grads(cls: type, act: object) -> None:
    torch.manual_seed(0)
    ffn = cls(8, 12)
    x = torch.randn(2, 5, 8, requires_grad=True)
    y = ffn(x)
    assert y.shape == (2, 5, 8)
    a = x @ ffn.w1.weight.T
    gate = (
        F.silu(a)
        if cls is SwiGLU
        else 0.5 * a * (1 + torch.tanh(0.7978845608 * (a + 0.044715 * a**3)))
    )
    torch.testing.assert_close(y, (gate * (x @ ffn.w3.weight.T)) @ ffn.w2.weight.T)
    y.square().sum().backward()
    assert x.grad is not None
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in ffn.parameters())


def naive_moe(moe: MoE, x: torch.Tensor) -> torch.Tensor:
    """Per-token loop (test only): y_t = sum over the top-k experts of p_e * SwiGLU_e(x_t)."""
    flat = x.reshape(-1, moe.dim)
    out = torch.zeros_like(flat)
    for t in range(flat.shape[0]):
        probs = F.softmax(flat[t] @ moe.gate.weight.T, dim=-1)
        top_p, top_e = probs.topk(moe.top_k)
        for p, e in zip(top_p, top_e, strict=True):
            h = F.silu(flat[t] @ moe.w1[e]) * (flat[t] @ moe.w3[e])
            out[t] += p * (h @ moe.w2[e])
    return out.view_as(x)


@pytest.mark.parametrize(("num_experts", "top_k"), [(4, 1), (4, 2), (6, 3)])
def test_moe_equals_naive_per_token_loop(num_experts: int, top_k: int) -> None:
    torch.manual_seed(1)
    moe = MoE(8, 16, num_experts, top_k)
    torch.nn.init.normal_(moe.gate.weight, std=1.0)  # decisive, uneven routing
    x = torch.randn(3, 7, 8)
    y, aux = moe(x)
    torch.testing.assert_close(y, naive_moe(moe, x), atol=1e-5, rtol=1e-5)
    assert torch.isfinite(aux)


def test_moe_sends_each_token_to_exactly_top_k_distinct_experts() -> None:
    torch.manual_seed(2)
    moe = MoE(8, 16, num_experts=5, top_k=2)
    _, weights, experts = moe.route(torch.randn(40, 8))
    assert experts.shape == (40, 2)
    assert (experts[:, 0] != experts[:, 1]).all()
    assert ((experts >= 0) & (experts < 5)).all()
    assert (weights > 0).all() and (weights.sum(-1) <= 1 + 1e-6).all()


def test_each_token_output_uses_only_its_chosen_experts() -> None:
    torch.manual_seed(3)
    moe = MoE(8, 16, num_experts=4, top_k=1)
    x = torch.randn(30, 8)
    _, _, experts = moe.route(x)
    y, _ = moe(x)
    unused = int(torch.bincount(experts[:, 0], minlength=4).argmin())
    with torch.no_grad():
        moe.w2[unused].add_(100.0)  # perturb the least-used expert
    y2, _ = moe(x)
    picked = experts[:, 0] == unused
    assert picked.any()  # the perturbed expert does serve some tokens
    torch.testing.assert_close(y2[~picked], y[~picked])  # other tokens: untouched
    assert ((y2[picked] - y[picked]).abs().sum(-1) > 1e-3).all()  # its tokens: changed


def test_load_balancing_loss_golden_values() -> None:
    # Uniform router probabilities: loss = E * sum_e f_e / E = 1 whatever the assignment.
    probs = torch.full((6, 3), 1 / 3)
    experts = torch.tensor([[0], [0], [0], [1], [2], [2]])
    assert load_balancing_loss(probs, experts).item() == pytest.approx(1.0)
    # All tokens to expert 0 with probability 1: loss = E * 1 * 1 = 3 (the maximum).
    probs = torch.tensor([[1.0, 0.0, 0.0]]).expand(4, 3)
    assert load_balancing_loss(probs, torch.zeros(4, 1, dtype=torch.long)).item() == pytest.approx(
        3.0
    )
    # Hand-computed mixed case: f = (2/4, 1/4, 1/4), P = mean probs = (0.5, 0.3, 0.2)
    # loss = 3 * (0.5*0.5 + 0.25*0.3 + 0.25*0.2) = 1.125
    probs = torch.tensor([[0.6, 0.2, 0.2], [0.4, 0.4, 0.2]])
    experts = torch.tensor([[0, 1], [0, 2]])
    assert load_balancing_loss(probs, experts).item() == pytest.approx(1.125)


def test_moe_gradients_reach_router_and_experts() -> None:
    torch.manual_seed(4)
    moe = MoE(8, 16, num_experts=4, top_k=2)
    x = torch.randn(64, 8, requires_grad=True)
    y, aux = moe(x)
    (y.square().mean() + aux).backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert moe.gate.weight.grad is not None and moe.gate.weight.grad.abs().sum() > 0
    # With 64 tokens x 2 choices every expert is used, so every expert gets gradient.
    for w in (moe.w1, moe.w2, moe.w3):
        assert w.grad is not None and (w.grad.flatten(1).abs().sum(1) > 0).all()


def test_aux_loss_gradient_pushes_towards_balance() -> None:
    torch.manual_seed(5)
    moe = MoE(8, 16, num_experts=4, top_k=1)
    with torch.no_grad():
        moe.gate.weight.zero_()
        moe.gate.weight[0] = 1.0  # bias the router towards expert 0 for positive inputs
    x = torch.rand(200, 8)  # positive inputs -> almost everything goes to expert 0
    opt = torch.optim.SGD(moe.gate.parameters(), lr=0.5)
    before = moe(x)[1].item()
    for _ in range(50):
        opt.zero_grad()
        moe(x)[1].backward()
        opt.step()
    after = moe(x)[1].item()
    assert before > 2.0 and after < before - 0.5
