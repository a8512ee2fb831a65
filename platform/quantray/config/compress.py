"""Model compression: the distillation loss weights and the distil-and-prune script's
settings (``experiments/distill.py``)."""

from __future__ import annotations

from dataclasses import dataclass

from quantray.config.base import Config, ConfigError, check, check_choice

PRUNE_TARGETS = ("heads", "ffn", "experts")
"""What ``quantray.compress.prune`` can remove: attention heads, FFN channels, MoE experts."""


@dataclass(frozen=True)
class DistillConfig(Config):
    """Weights of the distillation loss (see the module docstring)."""

    label_weight: float = 1.0
    """Weight of the ordinary price loss on realised returns (relative to the zero forecast)."""
    price_weight: float = 1.0
    """Weight of matching the teacher's predicted returns (relative to mean squared return)."""
    feature_weight: float = 1.0
    """Weight of matching the teacher's feature vector through the learned projection."""

    def __post_init__(self) -> None:
        weights = (self.label_weight, self.price_weight, self.feature_weight)
        if min(weights) < 0 or sum(weights) <= 0:
            raise ConfigError(
                f"DistillConfig: weights must be >= 0 and not all 0, got label={weights[0]}, "
                f"price={weights[1]}, feature={weights[2]}"
            )


@dataclass(frozen=True)
class CompressSettings(Config):
    """What ``experiments/distill.py`` builds and measures: the student's shape and training
    budget, the pruning grid, and how much validation data and stage-2 training each model's
    row gets. The loss weights are ``DistillConfig``."""

    width: float = 0.5
    """Student width factor in (0, 1]: every width of the teacher (d_model, ranks, head dims,
    FFN hidden) is scaled by it."""
    student_layers: int | None = None
    """Student layers (>= 1); None = as many as the teacher."""
    steps: int = 300
    """Training batches of the student (distilled and from scratch: the same budget)."""
    sparsities: tuple[float, ...] = (0.25, 0.5, 0.75)
    """Pruning sparsities, each in [0, 1) (the share of units removed); sparsity 0 (the
    teacher fine-tuned the same way) is always measured too. Give them space-separated:
    --sparsities 0.25 0.5."""
    prune_targets: tuple[str, ...] = ("heads", "ffn")
    """What to prune, one row set each: heads | ffn | experts (experts needs an MoE
    teacher). Space-separated: --prune-targets heads ffn."""
    finetune_steps: int = 50
    """Fine-tuning batches after each pruning (0 = none)."""
    eval_samples: int = 2048
    """Validation windows the validation price loss is measured on."""
    strategy_epochs: int = 5
    """Epochs of the stage-2 GRU strategy trained on each model's frozen features (0 skips
    stage 2; its Sharpe column is then NaN)."""

    def __post_init__(self) -> None:
        owner = "CompressSettings"
        for name in ("sparsities", "prune_targets"):
            value = getattr(self, name)
            if not isinstance(value, tuple):
                # JSON / dicts hand lists back; the frozen setting is a tuple.
                object.__setattr__(self, name, tuple([value] if isinstance(value, str) else value))
        check(
            0.0 < self.width <= 1.0,
            owner,
            f"width must be in (0, 1] (a share of the teacher's widths), got {self.width!r}",
        )
        check(
            self.student_layers is None or self.student_layers >= 1,
            owner,
            f"student_layers must be None (the teacher's) or >= 1, got {self.student_layers!r}",
        )
        for name in ("steps", "eval_samples"):
            value = getattr(self, name)
            check(value >= 1, owner, f"{name} must be >= 1, got {value!r}")
        for name in ("finetune_steps", "strategy_epochs"):
            value = getattr(self, name)
            check(value >= 0, owner, f"{name} must be >= 0 (0 = none), got {value!r}")
        for s in self.sparsities:
            check(
                0.0 <= s < 1.0,
                owner,
                f"sparsities: each sparsity must be in [0, 1) (the share of units removed), "
                f"got {s!r} in {self.sparsities}",
            )
        check(
            len(self.prune_targets) > 0,
            owner,
            f"prune_targets must name at least one of {', '.join(PRUNE_TARGETS)}, got none",
        )
        for target in self.prune_targets:
            check_choice(owner, "prune_targets", target, PRUNE_TARGETS)
        for name in ("sparsities", "prune_targets"):
            value = getattr(self, name)
            check(
                len(set(value)) == len(value),
                owner,
                f"{name} has a repeated value: {value}; give each once",
            )

    def smoke(self) -> CompressSettings:
        """A seconds-to-minutes run: 6 student batches, 2 fine-tuning batches, 64
        validation windows, 1 stage-2 epoch, sparsity 0.5 only (width, layers and targets
        kept)."""
        return self.replace(
            steps=6, finetune_steps=2, eval_samples=64, strategy_epochs=1, sparsities=(0.5,)
        )
