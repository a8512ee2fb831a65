"""PriceTransformer: output contract, gradients, input errors, helpers."""

from __future__ import annotations

import pytest
import torch

from quantray.models import PriceOutput, PriceTransformer, grad_norms, returns_to_prices

from .conftest import mini_model as _model


@pytest.mark.parametrize("ffn", ["swiglu", "geglu", "moe"])
def test_output_shapes_and_every_parameter_gets_gradient(ffn: str) -> None:
    model = _model(ffn=ffn, num_experts=3, top_k=2, q_lora_rank=12)
    x = torch.randn(4, 24, 11)
    out = model(x)
    assert isinstance(out, PriceOutput)
    assert out.returns.shape == (4, 7) and out.features.shape == (4, 32)
    assert out.aux_loss.shape == ()
    # The price head starts at zero: the untrained model is the zero-return forecast.
    assert torch.equal(out.returns, torch.zeros(4, 7))
    assert (out.features.abs() < 1).all()  # tanh-bounded strategy features
    # Move the price head off zero so gradient reaches everything below it.
    torch.nn.init.normal_(model.price_head.weight, std=0.1)
    out = model(x)
    (out.returns.square().mean() + out.aux_loss).backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_aux_loss_is_zero_for_dense_and_weighted_for_moe() -> None:
    x = torch.randn(4, 24, 11)
    assert _model().forward(x).aux_loss.item() == 0.0
    moe = _model(ffn="moe", num_experts=4, top_k=2, moe_aux_weight=0.5)
    layer_aux: list[float] = []
    for block in moe.blocks:  # each MoE FFN returns (y, its unweighted balance loss)
        block.ffn.register_forward_hook(lambda _m, _i, out: layer_aux.append(out[1].item()))
    aux = moe(x).aux_loss
    assert len(layer_aux) == len(moe.blocks)
    assert all(1.0 - 1e-6 <= a <= 4.0 for a in layer_aux)  # balance loss in [1, num_experts]
    # The output is moe_aux_weight x the MEAN over layers (not the sum, not unweighted).
    assert aux.item() == pytest.approx(0.5 * sum(layer_aux) / len(layer_aux), rel=1e-6)
    assert aux.requires_grad


def test_shorter_windows_work_and_longer_ones_fail_clearly() -> None:
    model = _model()
    assert model(torch.randn(2, 10, 11)).returns.shape == (2, 7)
    with pytest.raises(ValueError, match=r"window length 25 is outside \[1, 24\]"):
        model(torch.randn(2, 25, 11))
    with pytest.raises(
        ValueError, match=r"expects x of shape \[batch, window, 11\], got \(2, 24, 9\)"
    ):
        model(torch.randn(2, 24, 9))


def test_samples_do_not_interact_across_the_batch() -> None:
    """Sample i's prediction must not depend on which other windows share its batch (also for
    the MoE, whose dispatch buffer is shared by the batch)."""
    for ffn in ("swiglu", "moe"):
        model = _model(ffn=ffn, num_experts=4, top_k=2).eval()
        torch.nn.init.normal_(model.price_head.weight, std=0.1)
        x = torch.randn(5, 24, 11)
        full = model(x)
        alone = model(x[2:3])
        torch.testing.assert_close(alone.returns, full.returns[2:3], atol=1e-5, rtol=1e-4)
        torch.testing.assert_close(alone.features, full.features[2:3], atol=1e-5, rtol=1e-4)


def test_encode_equals_forward_features_without_grad() -> None:
    model = _model().eval()
    x = torch.randn(3, 24, 11)
    feats = model.encode(x)
    assert not feats.requires_grad
    torch.testing.assert_close(feats, model(x).features)


def test_num_params_counts_all_parameters() -> None:
    model = _model()
    assert model.num_params() == sum(p.numel() for p in model.parameters())
    model.input_proj.requires_grad_(False)
    assert model.num_params(trainable_only=True) == model.num_params() - (11 * 32 + 32)


def test_returns_to_prices_golden() -> None:
    returns = torch.tensor([[0.1, -0.05], [0.0, 0.2]])
    prices = returns_to_prices(returns, torch.tensor([10.0, 2.0]))
    torch.testing.assert_close(prices, torch.tensor([[11.0, 9.5], [2.0, 2.4]]))
    with pytest.raises(ValueError, match="last_close must have shape"):
        returns_to_prices(returns, torch.tensor([10.0]))


def test_grad_norms_groups_and_total() -> None:
    model = _model()
    torch.nn.init.normal_(model.price_head.weight, std=0.1)
    model(torch.randn(2, 24, 11)).returns.sum().backward()
    norms = grad_norms(model)
    expected = {"input_proj", "blocks.0.attn", "blocks.0.ffn", "blocks.1.attn", "blocks.1.ffn"}
    assert set(norms) == expected | {"heads", "total"}
    assert all(v > 0 for v in norms.values())
    # total is the L2 norm of every gradient (so no parameter escapes the groups) and equals
    # the norm over the groups; a group is the L2 norm of its parameters.
    every = [p.grad for p in model.parameters() if p.grad is not None]
    assert norms["total"] == pytest.approx(torch.nn.utils.get_total_norm(every).item(), rel=1e-5)
    assert norms["total"] == pytest.approx(
        sum(v * v for k, v in norms.items() if k != "total") ** 0.5
    )
    ffn0 = [
        p.grad
        for n, p in model.named_parameters()
        if n.startswith(("blocks.0.ffn", "blocks.0.ffn_norm"))
    ]
    assert norms["blocks.0.ffn"] == pytest.approx(
        torch.cat([g.flatten() for g in ffn0]).norm().item(), rel=1e-5
    )


def test_dropout_is_active_only_in_training() -> None:
    model = _model(dropout=0.5)
    torch.nn.init.normal_(model.price_head.weight, std=0.1)
    x = torch.randn(2, 24, 11)
    model.train()
    assert not torch.equal(model(x).returns, model(x).returns)
    model.eval()
    torch.testing.assert_close(model(x).returns, model(x).returns)


def test_state_dict_round_trip_reproduces_outputs() -> None:
    model = _model().eval()
    torch.nn.init.normal_(model.price_head.weight, std=0.1)
    clone = PriceTransformer(model.config, window=model.window, horizon=model.horizon).eval()
    clone.load_state_dict(model.state_dict())
    assert "freqs_cis" not in model.state_dict()  # rebuilt from the window
    x = torch.randn(2, 24, 11)
    torch.testing.assert_close(clone(x).returns, model(x).returns)


@pytest.mark.parametrize("ffn", ["swiglu", "moe"])
def test_bf16_autocast_forward_backward(ffn: str) -> None:
    """The GPU training path (bf16 autocast) exercised on CPU: runs, stays close to fp32."""
    model = _model(ffn=ffn, num_experts=4, top_k=2)
    torch.nn.init.normal_(model.price_head.weight, std=0.1)
    x = torch.randn(4, 24, 11)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(x)
    assert out.returns.dtype == torch.bfloat16 and out.aux_loss.dtype == torch.float32
    (out.returns.float().square().mean() + out.aux_loss).backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
    reference = model(x).returns
    # bf16 keeps ~3 significant digits: measured errors are 5e-4 to 1.2e-3 on outputs ~0.15.
    torch.testing.assert_close(out.returns.float(), reference, atol=3e-3, rtol=2e-2)


@pytest.mark.parametrize("ffn", ["swiglu", "moe"])
def test_last_row_shortcut_equals_the_full_computation(ffn: str) -> None:
    """forward computes only day t's row in the last block; it must equal running every row."""
    model = _model(ffn=ffn, num_experts=4, top_k=2, q_lora_rank=12 if ffn == "moe" else 0)
    x = torch.randn(3, 20, 11)
    full_rows = model.hidden_states(x)  # [B, L, D], every block over every day
    assert full_rows.shape == (3, 20, 32)
    expected = torch.tanh(model.feature_head(full_rows[:, -1]))
    torch.testing.assert_close(model(x).features, expected, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("ffn", ["swiglu", "geglu", "moe"])
def test_compiles_as_one_graph(ffn: str) -> None:
    """``torch.compile`` traces the whole model without a graph break (each break splits the
    compiled model into separately launched pieces: 15 of them left it at 0.35x of stock
    ``nn.TransformerEncoder`` on an H200) and gives the eager numbers."""
    model = _model(ffn=ffn, num_experts=4, top_k=2, q_lora_rank=12 if ffn == "moe" else 0)
    compiled = torch.compile(model, backend="eager", fullgraph=True)
    x = torch.randn(3, 20, 11)
    out = compiled(x)
    torch.testing.assert_close(out.returns, model(x).returns)
    torch.testing.assert_close(out.features, model(x).features)
