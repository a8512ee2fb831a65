"""RoPE: golden rotations and the relative-position property."""

from __future__ import annotations

import math

import pytest
import torch

from quantray.models.rope import apply_rotary_emb, precompute_freqs_cis


def test_golden_rotation_by_hand() -> None:
    # rope_dim 4, theta 100: pair 0 turns by m rad, pair 1 by m * 100**-0.5 = m / 10 rad.
    freqs = precompute_freqs_cis(4, 3, theta=100.0)
    x = torch.tensor([1.0, 0.0, 0.0, 2.0]).expand(1, 3, 1, 4)  # [B, L, heads, d]
    out = apply_rotary_emb(x, freqs)
    for m in range(3):
        a, b = m, m / 10
        expected = [math.cos(a), math.sin(a), -2 * math.sin(b), 2 * math.cos(b)]
        assert out[0, m, 0].tolist() == pytest.approx(expected, abs=1e-6)


def test_position_zero_is_identity_and_norm_is_kept() -> None:
    freqs = precompute_freqs_cis(16, 50)
    x = torch.randn(2, 50, 3, 16)
    out = apply_rotary_emb(x, freqs)
    assert torch.equal(out[:, 0], x[:, 0])
    torch.testing.assert_close(out.norm(dim=-1), x.norm(dim=-1))


def test_dot_product_depends_only_on_relative_offset() -> None:
    d, max_len = 16, 64
    freqs = precompute_freqs_cis(d, max_len)
    gen = torch.Generator().manual_seed(0)
    q, k = torch.randn(d, generator=gen), torch.randn(d, generator=gen)
    # Same q and k placed at every position: [1, L, 1, d]
    q_rot = apply_rotary_emb(q.expand(1, max_len, 1, d), freqs)[0, :, 0]  # [L, d]
    k_rot = apply_rotary_emb(k.expand(1, max_len, 1, d), freqs)[0, :, 0]
    scores = q_rot @ k_rot.T  # [L, L]: score[m, n] for q at m, k at n
    for offset in (-20, -3, 0, 5, 17):
        diag = torch.diagonal(scores, offset=offset)
        torch.testing.assert_close(diag, diag[:1].expand_as(diag), atol=1e-5, rtol=1e-5)
    # ...and the rotation does matter: different offsets give different scores.
    assert abs(scores[0, 0] - scores[0, 5]) > 1e-3


def test_works_on_strided_views_and_bf16() -> None:
    freqs = precompute_freqs_cis(4, 10)
    base = torch.randn(2, 10, 3, 7)
    view = base[..., 3:]  # odd storage offset: needs the aligned-copy path
    torch.testing.assert_close(apply_rotary_emb(view, freqs), apply_rotary_emb(view.clone(), freqs))
    out = apply_rotary_emb(view.bfloat16(), freqs)
    assert out.dtype == torch.bfloat16 and out.shape == view.shape


def test_gradient_flows() -> None:
    x = torch.randn(2, 5, 2, 8, requires_grad=True)
    apply_rotary_emb(x, precompute_freqs_cis(8, 5)).square().sum().backward()
    # A rotation preserves norms, so d/dx sum(rot(x)^2) = 2x.
    torch.testing.assert_close(x.grad, 2 * x.detach())


def test_odd_rope_dim_is_rejected() -> None:
    with pytest.raises(ValueError, match="rope_dim must be even"):
        precompute_freqs_cis(5, 10)


def test_compiled_rotation_is_one_graph_and_matches_the_golden_values() -> None:
    # Under torch.compile RoPE is spelled in real arithmetic; fullgraph=True fails on any
    # graph break (the complex path's stride check broke the graph at every call).
    rotate = torch.compile(apply_rotary_emb, backend="eager", fullgraph=True)
    freqs = precompute_freqs_cis(4, 3, theta=100.0)
    x = torch.tensor([1.0, 0.0, 0.0, 2.0]).expand(1, 3, 1, 4)
    out = rotate(x, freqs)
    for m in range(3):
        a, b = m, m / 10
        expected = [math.cos(a), math.sin(a), -2 * math.sin(b), 2 * math.cos(b)]
        assert out[0, m, 0].tolist() == pytest.approx(expected, abs=1e-6)
    y = torch.randn(2, 10, 3, 16, dtype=torch.bfloat16)
    freqs = precompute_freqs_cis(16, 10)
    assert rotate(y, freqs).dtype == torch.bfloat16
    torch.testing.assert_close(rotate(y, freqs), apply_rotary_emb(y, freqs))
