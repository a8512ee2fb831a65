"""A short fine-tune of a compressed stage-1 model with the normal training step."""

from __future__ import annotations

from dataclasses import replace

import torch

from quantray.models.price_transformer import PriceTransformer
from quantray.train.price import PriceRunSpec, make_optimizer, train_epoch
from quantray.train.price_data import PriceData


def finetune(
    model: PriceTransformer, spec: PriceRunSpec, data: PriceData, steps: int
) -> PriceTransformer:
    """Train ``model`` in place for ``steps`` batches of ``data.train`` with ``spec.train``'s
    optimiser and schedule (one epoch of the stage-1 loop, CPU); returns it in eval mode.
    ``spec.model`` is replaced by the model's own (smaller) config."""
    if steps < 1:
        return model.eval()
    spec = replace(spec, model=model.config)
    device = torch.device("cpu")
    optimizer, scheduler = make_optimizer(model, spec.train, steps, device)
    autocast = torch.autocast(device_type="cpu", enabled=False)
    train_epoch(model, optimizer, scheduler, data.train, spec, 0, steps, device, autocast)
    return model.eval()
