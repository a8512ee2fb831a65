"""The search space: conditional MoE parameters, plain values, budgets, shared stage-1 keys."""

from __future__ import annotations

import json

import optuna
import pytest

from quantray.config import BUDGETS, ConfigError, PriceModelConfig, TuneSettings, get_budget
from quantray.data.sample import SAMPLE_PATH
from quantray.features.store import spec_key
from quantray.tune.space import LOSS_WEIGHTS, SearchSpace, stage1_model
from quantray.tune.tuner import stage1_spec, strategy_config


def _sample(budget: str, n: int, stage1_only: bool = False) -> list[dict]:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    space = SearchSpace(get_budget(budget), {"budget": budget}, stage1_only=stage1_only)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    out = []
    for _ in range(n):
        trial = study.ask()
        constants = space(trial)
        study.tell(trial, 0.0)
        out.append({**trial.params, **constants})
    return out


def test_moe_parameters_exist_only_when_ffn_is_moe():
    configs = _sample("small", 60)
    assert {c["s1_ffn"] for c in configs} == {"swiglu", "geglu", "moe"}
    for c in configs:
        has_moe = "s1_num_experts" in c and "s1_top_k" in c
        assert has_moe == (c["s1_ffn"] == "moe")
        model = stage1_model(c)
        assert isinstance(model, PriceModelConfig) and model.d_model == c["s1_d_model"]
        if has_moe:
            assert (model.num_experts, model.top_k) == (c["s1_num_experts"], c["s1_top_k"])


def test_sampled_values_are_plain_and_in_range():
    for c in _sample("small", 30):
        json.dumps(c)  # serialisable: no numpy scalars or objects
        assert all(type(v) in (str, int, float) for v in c.values())
        for name in LOSS_WEIGHTS:
            assert 0.0 < c[name] <= 10.0
        assert 0.5 <= c["tau_start"] <= 2.0 and 3e-4 <= c["lr"] <= 3e-3


def test_stage1_only_space_samples_just_the_architecture():
    """tune_price.py's search: no strategy settings for TPE to model without effect."""
    full, stage1 = _sample("small", 20), _sample("small", 20, stage1_only=True)
    assert set(LOSS_WEIGHTS) <= set(full[0])
    for config in stage1:
        assert {k for k in config if k != "budget"} <= {
            "s1_d_model", "s1_n_layers", "s1_ffn", "s1_num_experts", "s1_top_k"
        }  # fmt: skip
        assert {"s1_d_model", "s1_n_layers", "s1_ffn"} <= set(config)


def test_unknown_budget_gets_a_hint():
    with pytest.raises(ConfigError, match='Did you mean "small"'):
        get_budget("smal")


def test_same_architecture_same_stage1_key_and_strategy_config_is_valid():
    # The key hashes the data content, so the data must exist: the bundled sample.
    settings = TuneSettings(get_budget("smoke"), str(SAMPLE_PATH), "/tmp/store", "t")
    a, b = _sample("smoke", 2)
    base = {**settings.constants()}
    arch = {k: v for k, v in a.items() if k.startswith("s1_")}
    # Same architecture, different stage-2 weights -> the same stage-1 model key.
    key_a = spec_key(stage1_spec({**base, **a}))
    key_b = spec_key(stage1_spec({**base, **b, **arch}))
    assert key_a == key_b
    other = {**a, "s1_d_model": 32}
    assert spec_key(stage1_spec({**base, **other})) != key_a
    sconf = strategy_config({**base, **a}, feature_dim=16)
    assert sconf.epochs == BUDGETS["smoke"].epochs and sconf.feature_dim == 16
    assert settings.constants()["cache_root"] == "/tmp/store/stage1_cache"
