"""Neural models: the stage-1 price Transformer and its building blocks (pure PyTorch, no Ray)."""

from quantray.models.attention import MLA
from quantray.models.ffn import GeGLU, MoE, SwiGLU, load_balancing_loss
from quantray.models.norm import RMSNorm
from quantray.models.price_transformer import (
    Block,
    PriceOutput,
    PriceTransformer,
    grad_norms,
    returns_to_prices,
)
from quantray.models.rope import apply_rotary_emb, precompute_freqs_cis

__all__ = [
    "MLA",
    "Block",
    "GeGLU",
    "MoE",
    "PriceOutput",
    "PriceTransformer",
    "RMSNorm",
    "SwiGLU",
    "apply_rotary_emb",
    "grad_norms",
    "load_balancing_loss",
    "precompute_freqs_cis",
    "returns_to_prices",
]
