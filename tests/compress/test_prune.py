"""Structured pruning removes the asked fraction of units, exactly (same function as zeroing
them), and the pruned model round-trips through the normal stage-1 checkpoint path."""

from __future__ import annotations

import pytest
import torch

from quantray.compress import count_units, kept_units, prune
from quantray.config import ConfigError, PriceModelConfig
from quantray.models import PriceTransformer


def _model(cfg: PriceModelConfig) -> PriceTransformer:
    torch.manual_seed(0)
    model = PriceTransformer(cfg).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return model


@pytest.fixture
def wide(micro_model):
    return micro_model.replace(n_heads=4, n_layers=2, ffn_hidden=40)


@pytest.mark.parametrize(
    ("target", "sparsity", "total", "kept"),
    [("heads", 0.5, 8, 4), ("heads", 0.25, 8, 6), ("ffn", 0.25, 80, 60), ("ffn", 0.9, 80, 8)],
)
def test_prune_removes_that_fraction(wide, target, sparsity, total, kept):
    model = _model(wide)
    assert count_units(model, target) == total
    pruned = prune(model, target, sparsity)
    assert count_units(pruned, target) == kept  # per layer n - round(s*n), hand-computed
    assert pruned.num_params() < model.num_params()
    assert count_units(model, target) == total  # the original is untouched


def test_prune_experts(micro_model):
    model = _model(micro_model.replace(ffn="moe", num_experts=4, top_k=2, n_layers=2))
    pruned = prune(model, "experts", 0.5)
    assert count_units(model, "experts") == 8 and count_units(pruned, "experts") == 4
    assert pruned.config.num_experts == 2 and pruned.config.top_k == 2
    assert pruned(torch.randn(2, 30, 11)).returns.shape == (2, 7)
    with pytest.raises(ConfigError, match="needs an MoE model"):
        prune(_model(micro_model), "experts", 0.5)


@pytest.mark.parametrize("q_lora_rank", [0, 12])
def test_removing_heads_equals_zeroing_them(wide, q_lora_rank):
    model = _model(wide.replace(q_lora_rank=q_lora_rank))
    pruned = prune(model, "heads", 0.5)
    # Zero the removed heads' output columns in the original: same function as the pruned one.
    masked = _model(wide.replace(q_lora_rank=q_lora_rank))
    dv = wide.v_head_dim
    with torch.no_grad():
        for block, small in zip(masked.blocks, pruned.blocks, strict=True):
            kept_cols = small.attn.wo.weight
            cols = block.attn.wo.weight.view(wide.d_model, 4, dv)
            keep = [h for h in range(4) if any(
                torch.equal(cols[:, h], kept_cols.view(wide.d_model, 2, dv)[:, j])
                for j in range(2))]  # fmt: skip
            assert len(keep) == 2
            for h in set(range(4)) - set(keep):
                cols[:, h] = 0.0
    x = torch.randn(3, 60, 11)
    torch.testing.assert_close(pruned(x).returns, masked(x).returns, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(pruned(x).features, masked(x).features, atol=1e-6, rtol=1e-5)


def test_removing_ffn_channels_equals_zeroing_them(wide):
    model = _model(wide)
    pruned = prune(model, "ffn", 0.5)
    masked = _model(wide)
    with torch.no_grad():
        for block, small in zip(masked.blocks, pruned.blocks, strict=True):
            w1 = block.ffn.w1.weight
            kept = {tuple(row.tolist()) for row in small.ffn.w1.weight}
            drop = [j for j in range(w1.shape[0]) if tuple(w1[j].tolist()) not in kept]
            assert len(drop) == 20
            block.ffn.w2.weight[:, drop] = 0.0
    x = torch.randn(2, 60, 11)
    torch.testing.assert_close(pruned(x).returns, masked(x).returns, atol=1e-6, rtol=1e-5)


def test_pruning_keeps_the_most_important_heads(wide):
    model = _model(wide)
    with torch.no_grad():  # head 3 of every layer: output weights 100x larger than the rest
        for block in model.blocks:
            block.attn.wo.weight.view(wide.d_model, 4, wide.v_head_dim)[:, 3] *= 100.0
    pruned = prune(model, "heads", 0.75)  # keeps one head per layer
    for block, small in zip(model.blocks, pruned.blocks, strict=True):
        big = block.attn.wo.weight.view(wide.d_model, 4, wide.v_head_dim)[:, 3]
        torch.testing.assert_close(small.attn.wo.weight, big)


def test_kept_units_validates():
    assert kept_units(6, 0.5) == 3 and kept_units(2, 0.9) == 1 and kept_units(5, 0.0) == 5
    with pytest.raises(ConfigError, match="sparsity"):
        kept_units(4, 1.0)
