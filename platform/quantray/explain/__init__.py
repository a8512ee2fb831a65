"""Explainability for the two-stage model: stage-1 attention maps and stage-2 decision
attributions (integrated gradients through the frozen encoder and the GRU). Pure PyTorch
and captum; no Ray."""

from quantray.explain.attention import (
    AttentionMaps,
    apply_weights,
    attention_maps,
    mean_attention_by_lag,
    mla_weights,
)
from quantray.explain.attribution import (
    STATE_NAMES,
    Attribution,
    DecisionModel,
    Episode,
    attribute,
    describe_decision,
    play_episode,
)

__all__ = [
    "STATE_NAMES",
    "AttentionMaps",
    "Attribution",
    "DecisionModel",
    "Episode",
    "apply_weights",
    "attention_maps",
    "attribute",
    "describe_decision",
    "mean_attention_by_lag",
    "mla_weights",
    "play_episode",
]
