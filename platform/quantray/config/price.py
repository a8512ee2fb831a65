"""Stage 1: the price Transformer's settings, its size presets and how it is trained."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from quantray.config.base import Config, ConfigError, check, check_choice, did_you_mean

_PRICE_FFNS = ("swiglu", "geglu", "moe")
_PRICE_LOSSES = ("mse", "mae", "huber")

# Dims chosen so v_head_dim == qk_nope_head_dim + qk_rope_head_dim: SDPA then runs its fused
# (flash) kernel instead of the math fallback. Sizes are checked by tests/models.
_PRESET_FIELDS = (
    "d_model", "n_layers", "n_heads", "kv_lora_rank", "q_lora_rank",
    "qk_nope_head_dim", "qk_rope_head_dim", "v_head_dim", "ffn_hidden",
)  # fmt: skip
_PRICE_PRESETS: dict[str, dict[str, Any]] = {
    name: dict(zip(_PRESET_FIELDS, sizes, strict=True))
    for name, sizes in {
        "tiny": (256, 4, 4, 128, 0, 48, 16, 64, 512),  # ~2.5M parameters
        "small": (384, 6, 6, 192, 0, 48, 16, 64, 1024),  # ~10M parameters
        "base": (640, 8, 10, 320, 0, 48, 16, 64, 1792),  # ~40M parameters
        "large": (1024, 12, 8, 512, 768, 96, 32, 128, 2816),  # ~160M parameters
    }.items()
}


SMALL_STAGE1 = dict(
    d_model=32,
    n_layers=2,
    n_heads=2,
    kv_lora_rank=16,
    qk_nope_head_dim=8,
    qk_rope_head_dim=8,
    v_head_dim=16,
    ffn_hidden=64,
)
"""A ~40k-parameter stage-1 model: enough to give stage 2 learned features in a minute on a
laptop CPU when the user gives no feature cache."""

SMOKE_STAGE1 = {
    name: size if name == "n_layers" else 2 * size for name, size in SMALL_STAGE1.items()
}
"""The stage-1 shape of ``train_price.py --smoke-test`` (seconds-long, learns something):
``SMALL_STAGE1`` at twice the width (d_model 64, 4 heads), same depth."""


@dataclass(frozen=True)
class PriceModelConfig(Config):
    """Stage-1 price Transformer: MLA attention (DeepSeek-V3 names), RoPE, SwiGLU/GeGLU/MoE.

    The defaults are the "small" preset. ``PriceModelConfig.preset(name)`` returns one of the
    four sizes (about 2.5M / 10M / 40M / 160M parameters); ``PriceModelConfig.PRESETS`` maps
    each name to its field overrides. The window the model reads and the horizon it predicts
    are the data's (``DataConfig.window`` / ``horizon``): ``PriceTransformer`` takes them
    beside this config, so they are set in one place.
    """

    n_features: int = 11
    """F: per-day input features (see ``quantray.data.features``)."""
    d_model: int = 384
    """D: width of the residual stream and of the strategy feature vector."""
    n_layers: int = 6
    """Number of pre-norm Transformer blocks."""
    n_heads: int = 6
    """Attention heads."""
    kv_lora_rank: int = 192
    """Rank of the compressed key/value latent (MLA ``wkv_a`` output, before ``wkv_b``)."""
    q_lora_rank: int = 0
    """Rank of the compressed query latent; 0 projects queries directly with ``wq``."""
    qk_nope_head_dim: int = 48
    """Per-head query/key dimension that carries no position information."""
    qk_rope_head_dim: int = 16
    """Per-head query/key dimension rotated by RoPE (even); the key part is shared by all heads."""
    v_head_dim: int = 64
    """Per-head value dimension. Keep it equal to qk_nope_head_dim + qk_rope_head_dim: otherwise
    the attention pads to the larger of the two so SDPA can still use its fused kernels."""
    ffn: str = "swiglu"
    """Feed-forward kind: "swiglu", "geglu" or "moe" (top-k routed SwiGLU experts)."""
    ffn_hidden: int = 1024
    """Hidden width of the feed-forward (of each expert when ffn="moe")."""
    num_experts: int = 8
    """Routed experts per MoE layer (ffn="moe" only)."""
    top_k: int = 2
    """Experts each token is sent to (ffn="moe" only)."""
    moe_aux_weight: float = 0.01
    """Weight of the load-balancing loss; the model's ``aux_loss`` output already includes it."""
    dropout: float = 0.0
    """Dropout on the residual branches (not on attention probabilities: SDPA's fused CPU
    kernel does not support attention dropout and would fall back to the slow math kernel)."""
    rope_theta: float = 1e4
    """RoPE base: frequencies are theta ** (-2i / qk_rope_head_dim)."""
    loss: str = "mse"
    """Price loss on predicted vs realised returns: "mse", "mae" or "huber"."""
    huber_delta: float = 0.05
    """Huber transition point in return units (0.05 = 5%), used when loss="huber"."""

    PRESETS = _PRICE_PRESETS
    """Size presets: name -> field overrides (see ``_PRICE_PRESETS``)."""
    MOVED: ClassVar[dict[str, str]] = {
        name: f"the data's DataConfig.{name} (a run's model is built on it: "
        f"PriceRunSpec.new_model, or PriceTransformer(config, {name}=...))"
        for name in ("window", "horizon")
    }

    @classmethod
    def preset(cls, name: str, **overrides: Any) -> PriceModelConfig:
        """The named size preset ("tiny" | "small" | "base" | "large"), with optional overrides.

        Example: ``PriceModelConfig.preset("tiny", ffn="moe", dropout=0.1)``.
        """
        if name not in cls.PRESETS:
            names = list(cls.PRESETS)
            raise ConfigError(
                f'PriceModelConfig: unknown preset "{name}".{did_you_mean(name, names)} '
                f"Known presets: {', '.join(names)}."
            )
        return cls().replace(**{**cls.PRESETS[name], **overrides})

    def __post_init__(self) -> None:
        owner = "PriceModelConfig"
        for name in (
            "n_features", "d_model", "n_layers", "n_heads",
            "kv_lora_rank", "qk_rope_head_dim", "v_head_dim", "ffn_hidden",
        ):  # fmt: skip
            value = getattr(self, name)
            check(
                isinstance(value, int) and value >= 1,
                owner,
                f"{name} must be a positive integer, got {value!r}",
            )
        check(
            self.q_lora_rank >= 0,
            owner,
            f"q_lora_rank must be >= 0 (0 disables query compression), got {self.q_lora_rank}",
        )
        check(
            self.qk_nope_head_dim >= 0 and self.qk_nope_head_dim % 2 == 0,
            owner,
            f"qk_nope_head_dim must be even and >= 0 (q is rotated as pairs, with the identity "
            f"on the no-RoPE part), got {self.qk_nope_head_dim}",
        )
        check(
            self.qk_rope_head_dim % 2 == 0,
            owner,
            f"qk_rope_head_dim must be even (RoPE rotates pairs), got {self.qk_rope_head_dim}",
        )
        check_choice(owner, "ffn", self.ffn, _PRICE_FFNS)
        check_choice(owner, "loss", self.loss, _PRICE_LOSSES)
        check(self.num_experts >= 1, owner, f"num_experts must be >= 1, got {self.num_experts}")
        check(
            1 <= self.top_k <= self.num_experts,
            owner,
            f"top_k must be in [1, num_experts={self.num_experts}], got {self.top_k}; "
            "lower top_k or raise num_experts",
        )
        check(
            self.moe_aux_weight >= 0,
            owner,
            f"moe_aux_weight must be >= 0, got {self.moe_aux_weight}",
        )
        check(0 <= self.dropout < 1, owner, f"dropout must be in [0, 1), got {self.dropout}")
        check(self.rope_theta > 0, owner, f"rope_theta must be > 0, got {self.rope_theta}")
        check(self.huber_delta > 0, owner, f"huber_delta must be > 0, got {self.huber_delta}")


LEGACY_LAUNCH_KEYS = ("use_gpu", "threads_per_worker")
"""Keys ``PriceTrainConfig`` had before the launch options moved to ``PriceLaunch``."""


@dataclass(frozen=True)
class PriceTrainConfig(Config):
    """How stage 1 is trained (optimiser, schedule, budget). Where it runs (devices,
    threads) is ``quantray.config.PriceLaunch``, kept out of the spec and the cache key."""

    epochs: int = 10
    """Passes over the training windows (each capped by max_steps_per_epoch)."""
    batch_size: int = 64
    """Windows per worker per step."""
    lr: float = 3e-4
    """Peak AdamW learning rate (after warm-up)."""
    weight_decay: float = 0.05
    """AdamW decoupled weight decay."""
    warmup_steps: int = 100
    """Optimizer updates of linear warm-up before the cosine decay."""
    grad_clip: float = 1.0
    """Global gradient-norm clip."""
    grad_accum: int = 1
    """Micro-batches accumulated per optimizer update."""
    max_steps_per_epoch: int | None = None
    """Cap on steps per epoch (None = a full pass); smoke runs use a small cap."""
    eval_samples: int | None = None
    """Validate on this many evenly spaced validation windows (None = all of them)."""
    seed: int = 0
    """Seed of initialisation and of the shared epoch shuffles."""
    compile: bool = False
    """Wrap the model in torch.compile (worth it on GPU for long runs)."""
    bf16: bool = True
    """bf16 autocast when on a GPU (ignored on CPU, which trains in fp32)."""
    log_grad_norms: bool = False
    """Debug aid: log gradient norms per parameter group each epoch."""
    init_checkpoint: str | None = None
    """Start from this stage-1 checkpoint's weights instead of a fresh initialisation (an
    incremental walk-forward update); part of the spec, so of the stage-1 cache key."""

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> PriceTrainConfig:
        """``Config.from_dict``; the launch options older checkpoints and stage-1 specs
        stored here (``LEGACY_LAUNCH_KEYS``, now ``quantray.config.PriceLaunch``) are dropped,
        so those checkpoints still load."""
        return super().from_dict({k: v for k, v in values.items() if k not in LEGACY_LAUNCH_KEYS})

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "grad_accum"):
            check(getattr(self, name) >= 1, "PriceTrainConfig", f"{name} must be >= 1")
        check(self.lr > 0, "PriceTrainConfig", f"lr must be > 0, got {self.lr}")
        check(self.warmup_steps >= 0, "PriceTrainConfig", "warmup_steps must be >= 0")
        check(self.grad_clip > 0, "PriceTrainConfig", "grad_clip must be > 0")
        check(
            self.max_steps_per_epoch is None or self.max_steps_per_epoch >= 1,
            "PriceTrainConfig",
            "max_steps_per_epoch must be None or >= 1",
        )
