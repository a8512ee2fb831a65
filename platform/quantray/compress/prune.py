"""Structured pruning of the stage-1 model by removing units, so the smaller model is smaller.

Three kinds of unit (``target``):

- ``"heads"``: MLA attention heads. A head owns its query rows (``wq`` or ``wq_b``), its
  key-nope and value rows of ``wkv_b`` and its columns of ``wo``; the shared RoPE key and
  the KV latent stay. Importance: ||wo columns of the head|| * ||value rows of the head||.
- ``"ffn"``: feed-forward hidden channels (rows of ``w1``/``w3``, columns of ``w2``; for an
  MoE the same channel of every expert). Importance: ||w1_j|| * ||w3_j|| * ||w2_j||.
- ``"experts"``: MoE experts (router row and the expert's weights); ``top_k`` is lowered to
  the number kept if needed. Importance: the product of the expert's three weight norms.

Importance is weight magnitude (no data needed), ranked per layer. Every layer keeps the
same number of units, ``n - round(sparsity * n)`` (at least 1), because the config has one
``n_heads`` / ``ffn_hidden`` / ``num_experts`` for all layers: the pruned model is an
ordinary :class:`PriceTransformer` of a smaller :class:`PriceModelConfig`, so it saves,
loads and exports features through the normal checkpoint path. Removing a head or a dense
FFN channel is exact: the pruned model equals the original with those units' output
weights set to zero. Removing experts changes the router's softmax, so fine-tune after.
"""

from __future__ import annotations

from torch import Tensor

from quantray.config import PRUNE_TARGETS as TARGETS
from quantray.config import ConfigError, PriceModelConfig, check_choice
from quantray.models.price_transformer import PriceTransformer


def kept_units(n: int, sparsity: float) -> int:
    """Units left after removing ``round(sparsity * n)`` of ``n`` (at least one)."""
    if not 0.0 <= sparsity < 1.0:
        raise ConfigError(f"prune: sparsity must be in [0, 1), got {sparsity}")
    return max(1, n - round(sparsity * n))


def _rows_norm(weight: Tensor, groups: int) -> Tensor:
    """Frobenius norm of each of ``groups`` equal row blocks of ``weight`` -> [groups]."""
    return weight.reshape(groups, -1).norm(dim=1)  # [groups*k, in] -> [groups, k*in]


def _top(scores: Tensor, keep: int) -> Tensor:
    """Indices of the ``keep`` largest scores, in their original order."""
    return scores.topk(keep).indices.sort().values


def _prune_heads(state: dict[str, Tensor], prefix: str, cfg: PriceModelConfig, keep: int) -> None:
    n_heads, dv = cfg.n_heads, cfg.v_head_dim
    dqk, dkv = cfg.qk_nope_head_dim + cfg.qk_rope_head_dim, cfg.qk_nope_head_dim + dv
    wo = state[f"{prefix}wo.weight"]  # [D, nH*dv]
    wkv_b = state[f"{prefix}wkv_b.weight"].view(n_heads, dkv, -1)  # [nH, dnope+dv, kv_lora]
    scores = wo.view(wo.shape[0], n_heads, dv).norm(dim=(0, 2)) * _rows_norm(
        wkv_b[:, cfg.qk_nope_head_dim :], n_heads
    )  # [nH]
    idx = _top(scores, keep)
    state[f"{prefix}wo.weight"] = wo.view(wo.shape[0], n_heads, dv)[:, idx].reshape(
        wo.shape[0], keep * dv
    )  # [D, nH, dv] -> [D, keep*dv]
    state[f"{prefix}wkv_b.weight"] = wkv_b[idx].reshape(keep * dkv, -1)  # -> [keep*dkv, r]
    q_name = f"{prefix}wq.weight" if cfg.q_lora_rank == 0 else f"{prefix}wq_b.weight"
    wq = state[q_name].view(n_heads, dqk, -1)  # [nH, dqk, in]
    state[q_name] = wq[idx].reshape(keep * dqk, -1)  # -> [keep*dqk, in]


def _prune_ffn(state: dict[str, Tensor], prefix: str, cfg: PriceModelConfig, keep: int) -> None:
    if cfg.ffn == "moe":  # stacked [X, D, hidden] / [X, hidden, D]: the same channel per expert
        w1, w2, w3 = (state[f"{prefix}{n}"] for n in ("w1", "w2", "w3"))
        scores = w1.norm(dim=(0, 1)) * w3.norm(dim=(0, 1)) * w2.norm(dim=(0, 2))  # [hidden]
        idx = _top(scores, keep)
        state[f"{prefix}w1"], state[f"{prefix}w3"] = w1[:, :, idx], w3[:, :, idx]
        state[f"{prefix}w2"] = w2[:, idx]
        return
    w1, w2, w3 = (state[f"{prefix}{n}.weight"] for n in ("w1", "w2", "w3"))  # [h,D] [D,h] [h,D]
    idx = _top(w1.norm(dim=1) * w3.norm(dim=1) * w2.norm(dim=0), keep)
    state[f"{prefix}w1.weight"], state[f"{prefix}w3.weight"] = w1[idx], w3[idx]
    state[f"{prefix}w2.weight"] = w2[:, idx]


def _prune_experts(state: dict[str, Tensor], prefix: str, keep: int) -> None:
    w1, w2, w3 = (state[f"{prefix}{n}"] for n in ("w1", "w2", "w3"))  # [X, ...] each
    idx = _top(w1.norm(dim=(1, 2)) * w2.norm(dim=(1, 2)) * w3.norm(dim=(1, 2)), keep)
    for name in ("w1", "w2", "w3"):
        state[f"{prefix}{name}"] = state[f"{prefix}{name}"][idx]
    state[f"{prefix}gate.weight"] = state[f"{prefix}gate.weight"][idx]  # [X, D] -> [keep, D]


def prune(model: PriceTransformer, target: str, sparsity: float) -> PriceTransformer:
    """A new, smaller model with ``round(sparsity * n)`` of the ``n`` units of kind ``target``
    removed from every layer (the least important by weight magnitude); eval mode. The
    original model is not modified."""
    check_choice("prune", "target", target, TARGETS)
    cfg = model.config
    if target == "experts" and cfg.ffn != "moe":
        raise ConfigError(
            f'prune: target "experts" needs an MoE model (ffn="moe"), this one has '
            f'ffn="{cfg.ffn}"; prune "heads" or "ffn" instead'
        )
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    if target == "heads":
        keep = kept_units(cfg.n_heads, sparsity)
        new_cfg = cfg.replace(n_heads=keep)
    elif target == "ffn":
        keep = kept_units(cfg.ffn_hidden, sparsity)
        new_cfg = cfg.replace(ffn_hidden=keep)
    else:
        keep = kept_units(cfg.num_experts, sparsity)
        new_cfg = cfg.replace(num_experts=keep, top_k=min(cfg.top_k, keep))
    for i in range(cfg.n_layers):
        if target == "heads":
            _prune_heads(state, f"blocks.{i}.attn.", cfg, keep)
        elif target == "ffn":
            _prune_ffn(state, f"blocks.{i}.ffn.", cfg, keep)
        else:
            _prune_experts(state, f"blocks.{i}.ffn.", keep)
    pruned = PriceTransformer(new_cfg, window=model.window, horizon=model.horizon)
    pruned.load_state_dict(state)
    return pruned.eval()


def count_units(model: PriceTransformer, target: str) -> int:
    """Units of kind ``target`` in the whole model, counted from the weights' shapes."""
    cfg, total = model.config, 0
    for block in model.blocks:
        if target == "heads":
            total += block.attn.wo.weight.shape[1] // cfg.v_head_dim
        elif target == "ffn":
            w2 = block.ffn.w2
            total += w2.shape[1] if cfg.ffn == "moe" else w2.weight.shape[1]
        else:
            total += block.ffn.gate.weight.shape[0]
    return total
