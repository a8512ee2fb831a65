"""Stage-1 attention maps, recomputed on request for chosen windows only.

The model's MLA layers call ``F.scaled_dot_product_attention``, which never materialises the
attention weights; the training and feature-export paths stay that way. Here, for the few
windows a user asks about, every layer is re-run over all L days (``all_days``) and its
weights are rebuilt from the layer's own queries and keys (``MLA.qkv``, the exact tensors
SDPA receives): ``softmax(q . k * softmax_scale)`` per head, [B, nH, L, L]. Row i of a map
is day i of the window looking at every day of the window (the attention is bidirectional:
the window holds only days <= t). The last row (day t) is the one that feeds the price and
feature heads, so :func:`mean_attention_by_lag` averages that row by lag (0 = day t itself).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch

from quantray.models.attention import MLA
from quantray.models.price_transformer import PriceTransformer


class AttentionMaps(NamedTuple):
    """Attention weights of every layer of a stage-1 model for a batch of windows."""

    weights: torch.Tensor
    """[n_layers, B, nH, L, L]: layer l, window b, head h, query day i, key day j (rows sum
    to 1)."""
    outputs: torch.Tensor
    """[n_layers, B, L, D]: each layer's attention output (after ``wo``), from SDPA, kept so
    callers can check the weights against it."""


def mla_weights(
    attn: MLA, x: torch.Tensor, freqs_cis: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Attention weights and values of one MLA layer for its (normed) input x [B, L, D].

    Returns (weights [B, nH, L, L], v [B, L, nH, dv]); ``weights`` applied to ``v`` and
    projected by ``attn.wo`` gives ``attn(x, freqs_cis)`` (see :func:`apply_weights`).
    """
    q, k, v = attn.qkv(x, freqs_cis)  # [B, L, nH, dqk], [B, L, nH, dqk], [B, L, nH, dv]
    scores = torch.einsum("bihd,bjhd->bhij", q, k) * attn.softmax_scale  # [B, nH, L, L]
    return scores.softmax(dim=-1), v


def apply_weights(attn: MLA, weights: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """The layer output implied by attention weights [B, nH, Lq, L] and values [B, L, nH, dv]:
    ``wo(sum_j w_ij v_j)`` -> [B, Lq, D]."""
    out = torch.einsum("bhij,bjhd->bihd", weights, v)  # [B, Lq, nH, dv]
    batch, q_len = out.shape[:2]
    return attn.wo(out.reshape(batch, q_len, -1))  # [B, Lq, nH, dv] -> [B, Lq, nH*dv] -> D


@torch.no_grad()
def attention_maps(model: PriceTransformer, x: torch.Tensor) -> AttentionMaps:
    """Every layer's attention weights for windows x [B, L, F] (normalised features).

    Runs the blocks over all days (like ``PriceTransformer.hidden_states``) and, before each
    block, recomputes its weights from the same normed input the block's MLA reads.
    """
    model._check_input(x)
    h = model.input_proj(x)  # [B, L, F] -> [B, L, D]
    weights, outputs = [], []
    for block in model.blocks:
        normed = block.attn_norm(h)
        w, _ = mla_weights(block.attn, normed, model.freqs_cis)
        weights.append(w)
        outputs.append(block.attn(normed, model.freqs_cis))
        h, _ = block(h, model.freqs_cis)
    return AttentionMaps(torch.stack(weights), torch.stack(outputs))


@torch.no_grad()
def mean_attention_by_lag(
    model: PriceTransformer, windows: np.ndarray, batch_size: int = 64
) -> np.ndarray:
    """Average attention of day t (the window's last day) by lag, over many windows.

    ``windows`` [n, L, F] float32. Returns [n_layers, nH, L] where entry [l, h, k] is the mean
    weight head h of layer l puts on day t-k; each [l, h] row sums to 1.
    """
    model = model.eval()
    total = None
    for start in range(0, len(windows), batch_size):
        x = torch.from_numpy(np.ascontiguousarray(windows[start : start + batch_size]))
        last_row = attention_maps(model, x).weights[..., -1, :]  # [layers, B, nH, L]
        part = last_row.double().sum(dim=1).flip(-1)  # key day j -> lag L-1-j: [layers, nH, L]
        total = part if total is None else total + part
    assert total is not None, "mean_attention_by_lag needs at least one window"
    return (total / len(windows)).numpy()
