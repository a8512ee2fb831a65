"""Measured inference speed of a stage-1 model: windows encoded per second."""

from __future__ import annotations

import statistics

import torch

from quantray.models.price_transformer import PriceTransformer
from quantray.timing import timed_calls


@torch.inference_mode()
def windows_per_second(
    model: PriceTransformer, batch_size: int = 256, repeats: int = 5, seed: int = 0
) -> float:
    """Median over ``repeats`` timed calls of ``model.encode`` on one random batch
    [batch_size, L, F] (after one warm-up call), in windows per second, on the model's
    device and with the current thread settings."""
    cfg = model.config
    device = next(model.parameters()).device
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(batch_size, model.window, cfg.n_features, generator=generator).to(device)
    model = model.eval()
    return batch_size / statistics.median(timed_calls(lambda: model.encode(x), device, repeats))
