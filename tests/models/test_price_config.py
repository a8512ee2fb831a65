"""PriceModelConfig: presets, their sizes, validation messages."""

from __future__ import annotations

import pytest
import torch

from quantray.config import ConfigError, PriceModelConfig
from quantray.models import PriceTransformer

TARGETS = {"tiny": 2.5e6, "small": 10e6, "base": 40e6, "large": 160e6}


@pytest.mark.parametrize("name", list(TARGETS))
def test_preset_sizes_within_15_percent(name: str) -> None:
    cfg = PriceModelConfig.preset(name)
    with torch.device("meta"):  # count parameters without allocating 160M floats
        n = PriceTransformer(cfg).num_params()
    assert abs(n / TARGETS[name] - 1) <= 0.15, (
        f"{name}: {n:,} params vs target {TARGETS[name]:,.0f}"
    )


@pytest.mark.parametrize("name", list(TARGETS))
def test_presets_use_equal_sdpa_head_dims(name: str) -> None:
    cfg = PriceModelConfig.preset(name)
    assert cfg.v_head_dim == cfg.qk_nope_head_dim + cfg.qk_rope_head_dim


def test_defaults_are_the_small_preset() -> None:
    assert PriceModelConfig() == PriceModelConfig.preset("small")


def test_preset_overrides_and_round_trip() -> None:
    cfg = PriceModelConfig.preset("tiny", ffn="moe", top_k=1)
    assert (cfg.d_model, cfg.ffn, cfg.top_k) == (256, "moe", 1)
    assert PriceModelConfig.from_dict(cfg.to_dict()) == cfg


def test_unknown_preset_suggests_the_closest() -> None:
    with pytest.raises(ConfigError, match=r'unknown preset "smal".*Did you mean "small"'):
        PriceModelConfig.preset("smal")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"ffn": "swigl"}, r'ffn must be one of.*Did you mean "swiglu"'),
        ({"loss": "hubber"}, r'Did you mean "huber"'),
        ({"qk_rope_head_dim": 7}, "qk_rope_head_dim must be even"),
        ({"qk_nope_head_dim": 3}, "qk_nope_head_dim must be even"),
        ({"top_k": 9, "num_experts": 8}, r"top_k must be in \[1, num_experts=8\]"),
        ({"dropout": 1.0}, r"dropout must be in \[0, 1\)"),
        ({"d_model": 0}, "d_model must be a positive integer"),
        ({"q_lora_rank": -1}, "q_lora_rank must be >= 0"),
    ],
)
def test_validation_messages(changes: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        PriceModelConfig(**changes)


def test_from_dict_rejects_typos() -> None:
    with pytest.raises(ConfigError, match='Did you mean "kv_lora_rank"'):
        PriceModelConfig.from_dict({"kv_lora_rnk": 64})


@pytest.mark.parametrize("name", ["window", "horizon"])
def test_the_data_geometry_is_refused_here_naming_where_it_is_set(name: str) -> None:
    """The window and horizon are the data's (DataConfig): an old script setting them on the
    model config is told where they went, by preset, replace and from_dict alike."""
    where = rf'"{name}" is not set here any more: it is the data\'s DataConfig\.{name}'
    with pytest.raises(ConfigError, match=where):
        PriceModelConfig.preset("tiny", **{name: 60})
    with pytest.raises(ConfigError, match=where):
        PriceModelConfig().replace(**{name: 60})
    with pytest.raises(ConfigError, match=where + ".*Known settings: n_features"):
        PriceModelConfig.from_dict({name: 60})
