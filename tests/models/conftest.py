"""The model tests' shared mini price model."""

from __future__ import annotations

import torch

from quantray.config import PriceModelConfig
from quantray.models import PriceTransformer

MINI_WINDOW = 24
"""L of the mini model: days per window."""

MINI = dict(
    d_model=32, n_layers=2, n_heads=2, kv_lora_rank=16,
    qk_nope_head_dim=8, qk_rope_head_dim=8, v_head_dim=16, ffn_hidden=48,
)  # fmt: skip
"""A ~20k-parameter shape: real MLA blocks, fast on CPU."""


def mini_model(**changes: object) -> PriceTransformer:
    """A freshly seeded mini ``PriceTransformer`` (``MINI`` with ``changes``) over
    ``MINI_WINDOW``-day windows."""
    torch.manual_seed(0)
    return PriceTransformer(PriceModelConfig(**{**MINI, **changes}), window=MINI_WINDOW)
