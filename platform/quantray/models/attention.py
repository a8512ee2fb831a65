"""Multi-head latent attention (MLA, DeepSeek-V2/V3), bidirectional over the window.

Names follow DeepSeek-V3 ``inference/model.py``:

- keys and values are compressed: ``wkv_a`` maps x [D] to a latent [kv_lora_rank] plus one
  RoPE key [qk_rope_head_dim] shared by all heads; the latent goes through ``kv_norm`` and
  ``wkv_b`` up-projects it to per-head K-nope [qk_nope_head_dim] and V [v_head_dim];
- queries are split into a no-RoPE part and a RoPE part per head, projected either directly
  (``wq``, q_lora_rank == 0) or through a compressed latent (``wq_a`` -> ``q_norm`` -> ``wq_b``);
- the score of head h is ``q_nope.k_nope + rope(q_pe).rope(k_pe)`` scaled by
  ``(qk_nope_head_dim + qk_rope_head_dim) ** -0.5``; ``wo`` maps heads back to D.

There is no causal mask: a window holds only days <= t, so every day may look at every other.

Speed: attention runs through ``F.scaled_dot_product_attention``. Its fused kernels (flash on
CPU; flash / memory-efficient on GPU) require q, k and v to share one head dim and no attention
dropout; with ``v_head_dim != qk_nope_head_dim + qk_rope_head_dim`` PyTorch silently falls back
to the slow math kernel. The presets use equal dims; otherwise the narrower side is zero-padded
(zeros add nothing to q.k and the padded output columns are dropped), so any config keeps the
fused kernel. When ``q_lora_rank == 0`` the two projections that read x (``wq`` and ``wkv_a``)
run as one matmul over their concatenated weights, reading the activations once.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from quantray.config import PriceModelConfig
from quantray.models.norm import RMSNorm
from quantray.models.rope import apply_rotary_emb


class MLA(nn.Module):
    """Multi-head latent attention: x [B, L, D] -> [B, L, D]."""

    def __init__(self, config: PriceModelConfig) -> None:
        super().__init__()
        self.dim = config.d_model
        self.n_heads = config.n_heads
        self.q_lora_rank = config.q_lora_rank
        self.kv_lora_rank = config.kv_lora_rank
        self.qk_nope_head_dim = config.qk_nope_head_dim
        self.qk_rope_head_dim = config.qk_rope_head_dim
        self.qk_head_dim = config.qk_nope_head_dim + config.qk_rope_head_dim
        self.v_head_dim = config.v_head_dim
        # SDPA's fused kernels need one head dim for q, k and v: pad the narrower side to this.
        self.sdpa_head_dim = max(self.qk_head_dim, self.v_head_dim)
        self.softmax_scale = self.qk_head_dim**-0.5

        if self.q_lora_rank == 0:
            self.wq = nn.Linear(self.dim, self.n_heads * self.qk_head_dim, bias=False)
        else:
            self.wq_a = nn.Linear(self.dim, self.q_lora_rank, bias=False)
            self.q_norm = RMSNorm(self.q_lora_rank)
            self.wq_b = nn.Linear(self.q_lora_rank, self.n_heads * self.qk_head_dim, bias=False)
        self.wkv_a = nn.Linear(self.dim, self.kv_lora_rank + self.qk_rope_head_dim, bias=False)
        self.kv_norm = RMSNorm(self.kv_lora_rank)
        self.wkv_b = nn.Linear(
            self.kv_lora_rank, self.n_heads * (self.qk_nope_head_dim + self.v_head_dim), bias=False
        )
        self.wo = nn.Linear(self.n_heads * self.v_head_dim, self.dim, bias=False)

    def _project(self, x: torch.Tensor, last_query_only: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """x [B, L, D] -> q [B, Lq, nH*qk_head_dim], kv_a [B, L, kv_lora_rank + rope_dim].

        Lq is L, or 1 (the last day) when ``last_query_only``.
        """
        if last_query_only:
            x_q = x[:, -1:]  # [B, L, D] -> [B, 1, D]
            q = self.wq(x_q) if self.q_lora_rank == 0 else self.wq_b(self.q_norm(self.wq_a(x_q)))
            return q, self.wkv_a(x)
        if self.q_lora_rank == 0:
            # One GEMM for both projections that read x: fewer kernel launches on GPU, neutral
            # on CPU (measured); the weight concat copies D * (out_q + out_kv) values.
            weight = torch.cat((self.wq.weight, self.wkv_a.weight), dim=0)
            q, kv_a = F.linear(x, weight).split(
                (self.wq.out_features, self.wkv_a.out_features), dim=-1
            )
            return q, kv_a
        return self.wq_b(self.q_norm(self.wq_a(x))), self.wkv_a(x)

    def qkv(
        self, x: torch.Tensor, freqs_cis: torch.Tensor, last_query_only: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Per-head queries, keys and values of x [B, L, D], RoPE applied, before SDPA.

        Returns q [B, Lq, nH, dqk], k [B, L, nH, dqk], v [B, L, nH, dv]. ``forward`` feeds
        exactly these to SDPA; ``quantray.explain.attention`` reads them to recompute the
        attention weights ``softmax(q.k * softmax_scale)`` that SDPA does not return.
        """
        batch, seq_len, _ = x.shape
        freqs_cis = freqs_cis[:seq_len]
        q, kv_a = self._project(x, last_query_only)
        q_len = q.shape[1]
        q = q.view(batch, q_len, self.n_heads, self.qk_head_dim)  # [B, Lq, nH, dqk]
        # Rotate [q_nope | q_pe] in one multiply, with the identity rotation on the no-RoPE
        # part: cheaper than split + rotate + cat, and q comes out ready for SDPA.
        freqs_q = torch.cat(
            (freqs_cis.new_ones(seq_len, self.qk_nope_head_dim // 2), freqs_cis), dim=-1
        )  # [L, dqk/2]
        q = apply_rotary_emb(q, freqs_q[seq_len - q_len :])  # queries sit at the last Lq days

        kv, k_pe = kv_a.split((self.kv_lora_rank, self.qk_rope_head_dim), dim=-1)
        # One RoPE key per position, shared by every head: [B, L, dr] -> [B, L, 1, dr]
        k_pe = apply_rotary_emb(k_pe.unsqueeze(2), freqs_cis)
        kv = self.wkv_b(self.kv_norm(kv))
        kv = kv.view(batch, seq_len, self.n_heads, self.qk_nope_head_dim + self.v_head_dim)
        k_nope, v = kv.split((self.qk_nope_head_dim, self.v_head_dim), dim=-1)  # [B, L, nH, *]
        k = torch.cat((k_nope, k_pe.expand(-1, -1, self.n_heads, -1)), dim=-1)  # [B, L, nH, dqk]
        return q, k, v

    def forward(
        self, x: torch.Tensor, freqs_cis: torch.Tensor, last_query_only: bool = False
    ) -> torch.Tensor:
        """x [B, L, D], RoPE rotations freqs_cis [>=L, qk_rope_head_dim/2] -> [B, Lq, D].

        Every day attends to every day of the window. With ``last_query_only`` only the last
        day's output is computed (Lq = 1): keys and values still cover the whole window, so the
        result equals row L-1 of the full output at about 1/L of the query-side cost.
        """
        return self.attend(*self.qkv(x, freqs_cis, last_query_only))

    def attend(
        self,
        q: torch.Tensor,
        k: torch.Tensor,
        v: torch.Tensor,
        mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Attention of per-head queries q [B, Lq, nH, dqk] over keys k [B, L, nH, dqk] and
        values v [B, L, nH, dv] (``qkv``'s outputs, RoPE applied), then ``wo`` -> [B, Lq, D].
        ``mask`` [Lq, L] bool (True = may attend) limits which keys each query reads."""
        batch, q_len = q.shape[:2]
        q_pad = self.sdpa_head_dim - self.qk_head_dim
        v_pad = self.sdpa_head_dim - self.v_head_dim
        if q_pad:  # zero tail on both q and k adds 0 to every q.k
            q = F.pad(q, (0, q_pad))
            k = F.pad(k, (0, q_pad))
        if v_pad:
            v = F.pad(v, (0, v_pad))
        # SDPA wants heads before time: [B, L, nH, d] -> [B, nH, L, d] (strided views, no copy;
        # the CPU flash kernel reads strides directly). No mask: the window is all past.
        out = F.scaled_dot_product_attention(
            q.transpose(1, 2),
            k.transpose(1, 2),
            v.transpose(1, 2),
            attn_mask=mask,
            scale=self.softmax_scale,
        )  # [B, nH, Lq, sdpa_head_dim]
        if v_pad:
            out = out[..., : self.v_head_dim]
        out = out.transpose(1, 2).reshape(batch, q_len, self.n_heads * self.v_head_dim)
        return self.wo(out)  # [B, Lq, nH*dv] -> [B, Lq, D]
