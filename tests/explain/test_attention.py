"""Recomputed attention weights are the ones the model used: applied to the layer's values
they reproduce its SDPA output, for every layer, with and without query compression."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from quantray.config import PriceModelConfig
from quantray.explain import apply_weights, attention_maps, mean_attention_by_lag, mla_weights
from quantray.models import PriceTransformer


def _model(micro_model: PriceModelConfig, **changes) -> PriceTransformer:
    torch.manual_seed(0)
    model = PriceTransformer(micro_model.replace(n_layers=2, **changes), window=60).eval()
    with torch.no_grad():  # break the zero price head / tiny init so attention is non-uniform
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.2)
    return model


@pytest.mark.parametrize("changes", [{}, {"q_lora_rank": 12, "v_head_dim": 8}])
def test_weights_reproduce_layer_output(micro_model, changes):
    model = _model(micro_model, **changes)
    x = torch.randn(3, 40, 11)
    maps = attention_maps(model, x)
    assert maps.weights.shape == (2, 3, model.config.n_heads, 40, 40)
    torch.testing.assert_close(maps.weights.sum(-1), torch.ones(2, 3, 2, 40))
    h = model.input_proj(x)
    for layer, block in enumerate(model.blocks):
        normed = block.attn_norm(h)
        _, v = mla_weights(block.attn, normed, model.freqs_cis)
        implied = apply_weights(block.attn, maps.weights[layer], v)
        sdpa = block.attn(normed, model.freqs_cis)
        torch.testing.assert_close(implied, sdpa, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(maps.outputs[layer], sdpa, atol=1e-6, rtol=1e-6)
        h, _ = block(h, model.freqs_cis)
    # The weights are not trivially uniform (the test would pass for any weights otherwise).
    assert maps.weights.std() > 1e-3


def test_lag_profile_matches_last_row_and_is_a_distribution(micro_model):
    model = _model(micro_model)
    windows = np.random.default_rng(0).standard_normal((5, 60, 11)).astype(np.float32)
    lag = mean_attention_by_lag(model, windows, batch_size=2)
    assert lag.shape == (2, 2, 60)
    np.testing.assert_allclose(lag.sum(-1), 1.0, atol=1e-6)
    last = attention_maps(model, torch.from_numpy(windows)).weights[..., -1, :]  # [l, B, nH, L]
    # Lag 0 is day t itself (the last key), lag L-1 the window's first day.
    np.testing.assert_allclose(lag[..., 0], last[..., -1].mean(1).numpy(), atol=1e-6)
    np.testing.assert_allclose(lag[..., -1], last[..., 0].mean(1).numpy(), atol=1e-6)
