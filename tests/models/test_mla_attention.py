"""MLA: equals an explicit einsum reference, is bidirectional, and keeps SDPA's fused kernel."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

from quantray.config import PriceModelConfig
from quantray.models import MLA
from quantray.models.rope import precompute_freqs_cis

SMALL = dict(
    d_model=32, n_heads=3, kv_lora_rank=12, q_lora_rank=0,
    qk_nope_head_dim=6, qk_rope_head_dim=4, v_head_dim=10,
)  # fmt: skip
L = 20


def reference_mla(attn: MLA, x: torch.Tensor, theta: float) -> torch.Tensor:
    """Textbook MLA with the same weights: explicit RoPE with cos/sin, einsum scores, softmax."""
    batch, seq_len, _ = x.shape
    n_h, d_n, d_r, d_v = attn.n_heads, attn.qk_nope_head_dim, attn.qk_rope_head_dim, attn.v_head_dim

    def rms(t: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return t / torch.sqrt(t.pow(2).mean(-1, keepdim=True) + 1e-6) * w

    def rope(t: torch.Tensor) -> torch.Tensor:  # t [..., L, d_r] with L at dim 1
        inv = theta ** (-torch.arange(0, d_r, 2, dtype=t.dtype) / d_r)
        ang = torch.arange(seq_len, dtype=t.dtype)[:, None] * inv  # [L, d_r/2]
        shape = (1, seq_len) + (1,) * (t.ndim - 3) + (d_r // 2,)
        cos, sin = ang.cos().view(shape), ang.sin().view(shape)
        even, odd = t[..., 0::2], t[..., 1::2]
        out = torch.empty_like(t)
        out[..., 0::2] = even * cos - odd * sin
        out[..., 1::2] = even * sin + odd * cos
        return out

    if attn.q_lora_rank == 0:
        q = x @ attn.wq.weight.T
    else:
        q = rms(x @ attn.wq_a.weight.T, attn.q_norm.weight) @ attn.wq_b.weight.T
    q = q.view(batch, seq_len, n_h, d_n + d_r)
    q_nope, q_pe = q[..., :d_n], rope(q[..., d_n:])
    kv_a = x @ attn.wkv_a.weight.T
    latent, k_pe = kv_a[..., : attn.kv_lora_rank], rope(kv_a[..., attn.kv_lora_rank :])
    kv = (rms(latent, attn.kv_norm.weight) @ attn.wkv_b.weight.T).view(batch, seq_len, n_h, -1)
    k_nope, v = kv[..., :d_n], kv[..., d_n:]
    scores = torch.einsum("blhd,bmhd->bhlm", q_nope, k_nope)
    scores = scores + torch.einsum("blhd,bmd->bhlm", q_pe, k_pe)  # one rope key for all heads
    probs = (scores * (d_n + d_r) ** -0.5).softmax(dim=-1)  # no mask: bidirectional
    out = torch.einsum("bhlm,bmhd->blhd", probs, v).reshape(batch, seq_len, n_h * d_v)
    return out @ attn.wo.weight.T


def _mla(**changes: object) -> tuple[MLA, PriceModelConfig]:
    torch.manual_seed(0)
    cfg = PriceModelConfig(**{**SMALL, **changes})
    attn = MLA(cfg)
    for p in attn.parameters():  # non-trivial norm weights too
        torch.nn.init.normal_(p, std=0.3)
    return attn, cfg


@pytest.mark.parametrize(
    "changes",
    [
        {},  # equal dims (6 + 4 = 10 = v)
        {"q_lora_rank": 8},
        {"v_head_dim": 16},  # v wider than q/k: q and k get padded for SDPA
        {"v_head_dim": 4},  # v narrower: v gets padded
    ],
)
def test_matches_reference(changes: dict) -> None:
    attn, cfg = _mla(**changes)
    if changes.get("v_head_dim", 10) != 10:  # the padding branch really runs
        assert attn.sdpa_head_dim > min(attn.qk_head_dim, attn.v_head_dim)
    x = torch.randn(2, 17, cfg.d_model)
    freqs = precompute_freqs_cis(cfg.qk_rope_head_dim, L, cfg.rope_theta)
    torch.testing.assert_close(
        attn(x, freqs), reference_mla(attn, x, cfg.rope_theta), atol=1e-5, rtol=1e-5
    )
    attn64, x64 = attn.double(), x.double()
    pair = torch.arange(0, cfg.qk_rope_head_dim, 2, dtype=torch.float64)
    inv_freq = cfg.rope_theta ** (-pair / cfg.qk_rope_head_dim)
    angles = torch.outer(torch.arange(L, dtype=torch.float64), inv_freq)
    freqs128 = torch.polar(torch.ones_like(angles), angles)
    torch.testing.assert_close(
        attn64(x64, freqs128), reference_mla(attn64, x64, cfg.rope_theta), atol=1e-10, rtol=1e-10
    )


def test_shapes_and_gradients_reach_every_weight() -> None:
    for q_lora in (0, 8):
        attn, cfg = _mla(q_lora_rank=q_lora)
        x = torch.randn(3, 20, cfg.d_model, requires_grad=True)
        out = attn(x, precompute_freqs_cis(cfg.qk_rope_head_dim, 20))
        assert out.shape == (3, 20, cfg.d_model)
        out.square().sum().backward()
        assert x.grad is not None and x.grad.abs().sum() > 0
        for name, p in attn.named_parameters():
            assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_attention_is_bidirectional() -> None:
    attn, cfg = _mla()
    freqs = precompute_freqs_cis(cfg.qk_rope_head_dim, 20)
    x = torch.randn(1, 20, cfg.d_model)
    y = x.clone()
    y[:, -1] += 1.0  # change only the last day
    # Every day, including the first, reads the whole window (it holds only days <= t).
    assert (attn(x, freqs)[:, 0] - attn(y, freqs)[:, 0]).abs().max() > 1e-4


@pytest.mark.parametrize("changes", [{}, {"v_head_dim": 96}, {"v_head_dim": 10}])
def test_runs_on_fused_sdpa_kernels_only(changes: dict) -> None:
    """With only FLASH / EFFICIENT allowed, SDPA raises instead of falling back to MATH;
    also when q/k (v 96 > 64) or v (10 < 64) are zero-padded to a common head dim."""
    cfg = PriceModelConfig.preset("tiny", **changes)
    attn = MLA(cfg)
    assert (attn.sdpa_head_dim > attn.qk_head_dim) == (cfg.v_head_dim > 64)
    x = torch.randn(2, 32, cfg.d_model, requires_grad=True)
    freqs = precompute_freqs_cis(cfg.qk_rope_head_dim, 32)
    with sdpa_kernel([SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION]):
        attn(x, freqs).sum().backward()
    assert x.grad is not None


@pytest.mark.filterwarnings("ignore:Flash attention")
def test_fused_only_check_can_fail() -> None:
    """The check above is meaningful: unequal head dims do raise under the same restriction."""
    q = torch.randn(1, 2, 8, 64)
    v = torch.randn(1, 2, 8, 48)
    with (
        sdpa_kernel([SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION]),
        pytest.raises(RuntimeError),
    ):
        F.scaled_dot_product_attention(q, q, v)


@pytest.mark.parametrize("changes", [{}, {"q_lora_rank": 8}])
def test_last_query_only_equals_last_row(changes: dict) -> None:
    attn, cfg = _mla(**changes)
    x = torch.randn(2, 15, cfg.d_model)
    freqs = precompute_freqs_cis(cfg.qk_rope_head_dim, L, cfg.rope_theta)
    last = attn(x, freqs, last_query_only=True)
    assert last.shape == (2, 1, cfg.d_model)
    torch.testing.assert_close(last, attn(x, freqs)[:, -1:], atol=1e-5, rtol=1e-5)
