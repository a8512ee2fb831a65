"""Smaller stage-1 models: knowledge distillation into a student and structured pruning
that removes attention heads, FFN channels or MoE experts. No Ray."""

from quantray.compress.distill import distill, distill_loss, student_config
from quantray.compress.finetune import finetune
from quantray.compress.prune import TARGETS, count_units, kept_units, prune
from quantray.compress.speed import windows_per_second

__all__ = [
    "TARGETS",
    "count_units",
    "distill",
    "distill_loss",
    "finetune",
    "kept_units",
    "prune",
    "student_config",
    "windows_per_second",
]
