"""StrategyGRU's fast forward equals its step-by-step reference (values and gradients)."""

from __future__ import annotations

import pytest
import torch

from quantray.accounting import limit_flags
from quantray.config import ConfigError, CostConfig, StrategyConfig
from quantray.models.strategy_gru import StrategyGRU, StrategyOutput

B, E, D = 16, 20, 12


def _inputs(seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    features = torch.randn(B, E, D, generator=gen, dtype=torch.float64)
    next_returns = (torch.randn(B, E, generator=gen, dtype=torch.float64) * 0.05).clamp(-0.1, 0.1)
    # [B, 1] ++ [B, E-1] -> [B, E]: the return into each day, known at its close.
    into_day = torch.cat([torch.zeros(B, 1, dtype=torch.float64), next_returns[:, :-1]], dim=1)
    up, down = limit_flags(into_day, 0.1)
    assert up.any() and down.any()  # the price-limit branch of the accounting is exercised
    return features, next_returns, ~up, ~down


@pytest.mark.parametrize(
    ("training", "hard", "detach_feedback", "limits"),
    [
        (True, False, False, True),
        (True, True, False, False),
        (True, False, True, True),
        (False, False, False, True),
    ],
)
def test_fast_path_equals_reference(
    training: bool, hard: bool, detach_feedback: bool, limits: bool
) -> None:
    torch.manual_seed(0)
    model = StrategyGRU(StrategyConfig(feature_dim=D, hidden_size=24, head_hidden=16, hard=hard))
    model = model.double()
    features, next_returns, can_buy, can_sell = _inputs(1)
    cost = CostConfig.preset("cn_a_share")
    prev = torch.linspace(0.0, 1.0, B, dtype=torch.float64)  # a [B] starting position
    results = []
    for run in (model._forward_reference, model._forward_fast):
        torch.manual_seed(7)  # the same Gumbel draws, in the same order
        out = run(
            features,
            next_returns,
            cost,
            training,
            0.6,
            prev,
            can_buy if limits else None,
            can_sell if limits else None,
            detach_feedback,
        )
        # A loss that reads every output, so every gradient path is compared.
        loss = out.net_returns.sum() + out.logits.square().mean() + out.costs.sum()
        grads = torch.autograd.grad(loss, list(model.parameters()))
        results.append((out, grads))
    (ref, ref_grads), (fast, fast_grads) = results
    for name in ("positions", "logits", "net_returns", "costs", "wanted"):
        torch.testing.assert_close(getattr(fast, name), getattr(ref, name), rtol=0, atol=1e-12)
    for (name, _), g_ref, g_fast in zip(
        model.named_parameters(), ref_grads, fast_grads, strict=True
    ):
        torch.testing.assert_close(g_fast, g_ref, rtol=1e-9, atol=1e-12, msg=name)


def test_forward_takes_the_fast_path_unless_a_hook_watches() -> None:
    torch.manual_seed(0)
    model = StrategyGRU(StrategyConfig(feature_dim=D, hidden_size=8, head_hidden=8))
    features, next_returns, _, _ = _inputs(2)
    features, next_returns = features.float(), next_returns.float()
    calls: list[str] = []
    for name in ("_forward_reference", "_forward_fast"):
        original = getattr(model, name)

        def spy(*args: object, _name: str = name, _original=original) -> object:
            calls.append(_name)
            return _original(*args)

        setattr(model, name, spy)
    model(features, next_returns, CostConfig.preset("none"))
    seen: list[int] = []
    handle = model.head.register_forward_hook(lambda *_: seen.append(1))
    model(features, next_returns, CostConfig.preset("none"))
    handle.remove()
    assert calls == ["_forward_fast", "_forward_reference"]
    assert len(seen) == E  # the hook saw every day


def _twin_runs(
    changes: dict, training: bool, taus: tuple[float, ...], seed: int
) -> list[list[tuple[StrategyOutput, tuple[torch.Tensor, ...]]]]:
    """Per temperature, (outputs, parameter gradients) of a float32 model and of its copy
    with ``changes`` to the config, on the same float32 inputs and the same Gumbel draws."""
    torch.manual_seed(0)
    cfg = StrategyConfig(feature_dim=D, hidden_size=24, head_hidden=16)
    base, changed = StrategyGRU(cfg), StrategyGRU(cfg.replace(**changes))
    changed.load_state_dict(base.state_dict())
    features, next_returns, can_buy, can_sell = _inputs(seed)
    features, next_returns = features.float(), next_returns.float()
    cost = CostConfig.preset("cn_a_share")
    runs = []
    for tau in taus:
        runs.append([])
        for model in (base, changed):
            torch.manual_seed(7)
            out = model(features, next_returns, cost, training, tau, 0.0, can_buy, can_sell)
            loss = out.net_returns.sum() + out.logits.square().mean()
            grads = torch.autograd.grad(loss, list(model.parameters())) if training else ()
            runs[-1].append((out, grads))
    return runs


@pytest.mark.parametrize("training", [True, False])
def test_bf16_training_stays_close_to_float32_and_evaluation_is_exact(training: bool) -> None:
    """bf16 autocast covers only the training matmuls: positions, costs and net returns are
    float32 and within bf16 rounding of the float32 run; evaluation ignores the flag."""
    (runs,) = _twin_runs({"bf16": True}, training, (0.6,), seed=2)
    outs = [out for out, _ in runs]
    for name in ("positions", "logits", "net_returns", "costs", "wanted"):
        a, b = getattr(outs[0], name), getattr(outs[1], name)
        assert b.dtype == torch.float32, name
        if training:
            torch.testing.assert_close(b, a, atol=0.03, rtol=0.03, msg=name)
            assert not torch.equal(a, b)  # bf16 did run
        else:
            assert torch.equal(a, b), name


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["default", "reduce-overhead"])
def test_compiled_training_forward_equals_eager_and_compiles_once(mode: str) -> None:
    """``config.compile``: the compiled fast path gives the eager values and gradients (with
    inductor drawing its Gumbel noise from the eager generator) for every temperature, from
    one graph: a new tau each step must not recompile. "reduce-overhead" (CUDA graphs on a
    GPU) must give the same numbers."""
    import torch._dynamo
    import torch._inductor.config

    torch._dynamo.reset()
    torch._dynamo.utils.counters.clear()  # reset() keeps the counters of earlier compiles
    with torch._inductor.config.patch(fallback_random=True):
        for (a, grads_a), (b, grads_b) in _twin_runs(
            {"compile": True, "compile_mode": mode}, True, (1.0, 0.7, 0.4), seed=3
        ):
            torch.testing.assert_close(b.positions, a.positions)
            torch.testing.assert_close(b.net_returns, a.net_returns)
            for ga, gb in zip(grads_a, grads_b, strict=True):
                torch.testing.assert_close(gb, ga, rtol=1e-4, atol=1e-6)
    assert torch._dynamo.utils.counters["stats"]["unique_graphs"] == 1


def test_an_unknown_compile_mode_is_refused_by_name() -> None:
    with pytest.raises(ConfigError, match="compile_mode must be one of default, reduce-overhead"):
        StrategyConfig(compile_mode="fast")
