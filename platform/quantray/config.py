"""Typed, frozen settings shared by the CLI, Ray Tune and checkpoints.

Every settings object is a frozen dataclass with a docstring under each field, validated in
``__post_init__``. ``from_dict`` rejects unknown keys with a "did you mean" hint, so a typo in
a JSON config or a Tune search space fails loudly instead of being silently ignored.
"""

from __future__ import annotations

import dataclasses
import difflib
from dataclasses import dataclass
from typing import Any, TypeVar

C = TypeVar("C", bound="Config")


class ConfigError(ValueError):
    """A settings value or key is wrong; the message says what was found and how to fix it."""


def did_you_mean(name: str, choices: list[str] | tuple[str, ...]) -> str:
    """Return ' Did you mean "x"?' for the closest choice, or '' when nothing is close."""
    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.6)
    return f' Did you mean "{close[0]}"?' if close else ""


@dataclass(frozen=True)
class Config:
    """Base class: dict round-trip with unknown-key rejection."""

    @classmethod
    def from_dict(cls: type[C], values: dict[str, Any]) -> C:
        """Build from a plain dict (JSON, Tune config, checkpoint); unknown keys are an error."""
        names = [f.name for f in dataclasses.fields(cls)]
        for key in values:
            if key not in names:
                raise ConfigError(
                    f'{cls.__name__}: unknown setting "{key}".{did_you_mean(key, names)} '
                    f"Known settings: {', '.join(names)}."
                )
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form, safe for JSON and ``torch.save(..., weights_only=True)``."""
        return dataclasses.asdict(self)

    def replace(self: C, **changes: Any) -> C:
        """A copy with some fields changed (validated again)."""
        names = [f.name for f in dataclasses.fields(self)]
        for key in changes:
            if key not in names:
                raise ConfigError(
                    f'{type(self).__name__}: unknown setting "{key}".{did_you_mean(key, names)}'
                )
        return dataclasses.replace(self, **changes)


def _check(condition: bool, owner: str, message: str) -> None:
    if not condition:
        raise ConfigError(f"{owner}: {message}")


SELECTION_SCORES: dict[str, str] = {
    "ir": "pooled daily information ratio vs buy-and-hold",
    "sharpe": "pooled daily Sharpe",
}
"""Validation scores an epoch / trial can be selected by (``StrategyConfig.select_by``)."""


def check_choice(owner: str, name: str, value: Any, choices: tuple[str, ...]) -> Any:
    """``value`` if it is one of ``choices``; else a ConfigError naming the valid ones and
    the closest match (``owner`` prefixes the message: the class or function checked)."""
    _check(
        value in choices,
        owner,
        f'{name} must be one of {", ".join(choices)}, got "{value}".'
        f"{did_you_mean(str(value), choices)}",
    )
    return value


@dataclass(frozen=True)
class DataConfig(Config):
    """Window and episode geometry shared by stage 1, stage 2 and the env."""

    window: int = 180
    """L: days of history the price model reads for one prediction."""
    horizon: int = 7
    """H: days ahead the price head predicts (returns relative to the last close)."""
    episode_len: int = 20
    """E: trading days in one stage-2 / RL episode."""

    def __post_init__(self) -> None:
        _check(self.window >= 2, "DataConfig", f"window must be >= 2, got {self.window}")
        _check(self.horizon >= 1, "DataConfig", f"horizon must be >= 1, got {self.horizon}")
        _check(
            self.episode_len >= 2, "DataConfig", f"episode_len must be >= 2, got {self.episode_len}"
        )


@dataclass(frozen=True)
class SplitConfig(Config):
    """Walk-forward split by date: train | embargo | validation | embargo | test.

    Either give the three fractions (of each symbol's usable days) or the two boundary dates
    ``valid_start`` and ``test_start`` (ISO strings); dates win when given.
    """

    train_frac: float = 0.7
    """Fraction of days in the training period (before the first embargo)."""
    valid_frac: float = 0.15
    """Fraction of days in the validation period; the test period gets the rest."""
    embargo: int = 27
    """Days dropped between periods; must be >= horizon + episode_len so no label or episode
    straddles a boundary."""
    valid_start: str | None = None
    """First validation day (ISO date). Overrides the fractions when set with test_start."""
    test_start: str | None = None
    """First test day (ISO date). The test period is never seen by training or Tune."""
    train_start: str | None = None
    """First training day (ISO date); earlier days are unused (a rolling walk-forward window).
    None = the first day of the data. Only with valid_start/test_start."""
    test_end: str | None = None
    """Last test day (ISO date); later days are unused (one walk-forward fold's out-of-sample
    block). None = the last day of the data. Only with valid_start/test_start."""

    def __post_init__(self) -> None:
        _check(
            0 < self.train_frac < 1,
            "SplitConfig",
            f"train_frac must be in (0, 1), got {self.train_frac}",
        )
        _check(
            0 < self.valid_frac < 1,
            "SplitConfig",
            f"valid_frac must be in (0, 1), got {self.valid_frac}",
        )
        _check(
            self.train_frac + self.valid_frac < 1,
            "SplitConfig",
            f"train_frac + valid_frac must be < 1 so a test period remains, got "
            f"{self.train_frac} + {self.valid_frac}",
        )
        _check(self.embargo >= 0, "SplitConfig", f"embargo must be >= 0, got {self.embargo}")
        _check(
            (self.valid_start is None) == (self.test_start is None),
            "SplitConfig",
            "give both valid_start and test_start, or neither (then the fractions are used)",
        )
        if self.valid_start is not None and self.test_start is not None:
            _check(
                self.valid_start < self.test_start,
                "SplitConfig",
                f"valid_start ({self.valid_start}) must come before test_start ({self.test_start})",
            )
        for name, before, after in (
            ("train_start", self.train_start, self.valid_start),
            ("test_end", self.test_start, self.test_end),
        ):
            if getattr(self, name) is None:
                continue
            _check(
                self.valid_start is not None,
                "SplitConfig",
                f"{name} needs valid_start and test_start (dates), not fractions",
            )
            _check(
                before < after,  # type: ignore[operator]
                "SplitConfig",
                f"{name}: expected {before} < {after} (train_start < valid_start <= test_start "
                f"<= test_end), got {name}={getattr(self, name)}",
            )


# --- stage 2: trading costs and the GRU strategy ------------------------------------------------


_COST_PRESETS: dict[str, dict[str, Any]] = {
    # Frictionless: useful for ablations and for checking that a strategy's edge is not a cost
    # artefact.
    "none": {},
    # US equities: commission-free brokers still pay spread/fees; 5 bp a side is a sober
    # all-in estimate. No stamp duty, no daily price limit.
    "us_equity": {"commission": 0.0005},
    # China A-shares: ~2.5 bp commission each side, 5 bp stamp duty on sells only (rate since
    # 2023-08-28), daily price limits enforced (10% main board; other boards by stock code).
    "cn_a_share": {
        "commission": 0.00025,
        "stamp_duty": 0.0005,
        "price_limit": 0.10,
        "enforce_price_limit": True,
    },
}


@dataclass(frozen=True)
class CostConfig(Config):
    """Trading frictions used by ``quantray.accounting`` (GRU loss, env reward, backtests).

    A change of position by Δ (fraction of equity) costs ``(commission + slippage) * Δ`` when
    buying and ``(commission + stamp_duty + slippage) * |Δ|`` when selling. Presets:
    ``CostConfig.preset("none" | "us_equity" | "cn_a_share")``.
    """

    commission: float = 0.0
    """Fraction of traded notional paid on buys and on sells (0.00025 = 2.5 bp)."""
    stamp_duty: float = 0.0
    """Fraction of traded notional paid on sells only (China A-shares: 0.0005)."""
    slippage: float = 0.0
    """Fraction of traded notional lost to spread / market impact, both sides."""
    price_limit: float | None = None
    """Daily price limit as a fraction (0.10 = +-10%), or None for markets without one. China
    A-share stock codes (600000, 300750.SZ, sh688981, ...) use their board's own limit instead
    (main 10%, ChiNext/STAR 20%, Beijing 30%, ST 5%) and index codes none: see
    ``quantray.data.limits``. Every other symbol uses this value."""
    enforce_price_limit: bool = False
    """When True, no buying on a limit-up close and no selling on a limit-down close (the
    order would not fill). Needs ``price_limit``. Zero-volume (suspended) days never fill,
    whatever this says."""
    st_codes: tuple[str, ...] = ()
    """Main-board China A-share codes under special treatment (ST / *ST): their limit is 5%.
    Six-digit codes, optionally with an exchange prefix or suffix (``"600123"``, ``"sz000004"``)."""
    charge_exit: bool = True
    """Charge the sale of the final position at the end of every episode (on its last day's
    cost, at the sell rate), so a strategy cannot look cheap by ending invested. Applied alike
    by the numpy and torch accounting, the env's last step and every evaluation."""

    def __post_init__(self) -> None:
        for name in ("commission", "stamp_duty", "slippage"):
            value = getattr(self, name)
            _check(
                0.0 <= value < 0.1,
                "CostConfig",
                f"{name} must be a fraction in [0, 0.1), got {value!r}; "
                f"write 5 bp as 0.0005, not 5 or 0.05",
            )
        if self.price_limit is not None:
            _check(
                0.0 < self.price_limit < 1.0,
                "CostConfig",
                f"price_limit must be a fraction in (0, 1) such as 0.10, or None, "
                f"got {self.price_limit!r}",
            )
        _check(
            not (self.enforce_price_limit and self.price_limit is None),
            "CostConfig",
            "enforce_price_limit=True needs price_limit (e.g. 0.10); set price_limit or "
            "enforce_price_limit=False",
        )
        if not isinstance(self.st_codes, tuple):
            # JSON / Tune / checkpoints hand lists back; the frozen setting is a tuple.
            codes = [self.st_codes] if isinstance(self.st_codes, str) else self.st_codes
            object.__setattr__(self, "st_codes", tuple(str(c) for c in codes))
        for code in self.st_codes:
            digits = "".join(ch for ch in code if ch.isdigit())
            _check(
                len(digits) == 6,
                "CostConfig",
                f"st_codes must hold six-digit China A-share codes such as 600123 or sz000004, "
                f"got {code!r}; list the ST stocks' codes, not their names",
            )
        if self.stamp_duty > 0 and self.price_limit is not None and not self.enforce_price_limit:
            # Looks like a China A-share cost model with the limit rule switched off: backtests
            # would buy into limit-up closes that cannot fill in reality and look too good.
            import warnings

            warnings.warn(
                f"CostConfig: stamp_duty={self.stamp_duty} and price_limit={self.price_limit} "
                "describe a price-limited market, but enforce_price_limit=False, so trades on "
                "limit-up/limit-down closes are assumed to fill and results will be optimistic. "
                "Set enforce_price_limit=True unless this is a deliberate ablation.",
                UserWarning,
                stacklevel=3,
            )

    @property
    def buy_rate(self) -> float:
        """Cost per unit of position bought: commission + slippage."""
        return self.commission + self.slippage

    @property
    def sell_rate(self) -> float:
        """Cost per unit of position sold: commission + stamp_duty + slippage."""
        return self.commission + self.stamp_duty + self.slippage

    @classmethod
    def preset(cls, name: str) -> CostConfig:
        """A named cost model: "none", "us_equity" or "cn_a_share"."""
        if name not in _COST_PRESETS:
            names = list(_COST_PRESETS)
            raise ConfigError(
                f'CostConfig: unknown preset "{name}".{did_you_mean(name, names)} '
                f"Known presets: {', '.join(names)}."
            )
        return cls(**_COST_PRESETS[name])


@dataclass(frozen=True)
class StrategyConfig(Config):
    """Stage 2: the GRU position strategy, its Gumbel-softmax head, loss weights and training."""

    # -- network
    feature_dim: int = 64
    """D: width of the frozen stage-1 features (the price model's d_model)."""
    hidden_size: int = 64
    """GRUCell hidden state size."""
    head_hidden: int = 64
    """Hidden width of the position-head MLP (GRU state -> logits)."""
    n_actions: int = 11
    """A: number of discrete positions, evenly spaced over [0, 1] (11 -> 0%, 10%, ..., 100%)."""
    tau_start: float = 1.0
    """Gumbel-softmax temperature at step 0 (higher = softer, lower-variance gradients)."""
    tau_min: float = 0.1
    """Temperature floor reached after ``tau_decay_steps`` (lower = closer to discrete)."""
    tau_decay_steps: int = 2000
    """Optimizer steps over which tau decays exponentially from tau_start to tau_min."""
    hard: bool = False
    """Straight-through Gumbel-softmax: one-hot positions forward, soft gradients backward."""

    # -- loss weights (StrategyLoss)
    relative_return_weight: float = 1.0
    """Weight of -(strategy - benchmark) episode return; benchmark chosen by market type."""
    risk_cost_weight: float = 0.5
    """Weight of the risk cost (downside deviation and/or max drawdown of the equity path)."""
    opportunity_cost_weight: float = 0.5
    """Weight of the upside missed while under-invested in bull episodes."""
    transaction_cost_weight: float = 0.0
    """Extra weight on episode transaction costs. Costs are already inside net returns, so 0
    counts them once; > 0 penalises turnover on top."""
    information_ratio_weight: float = 0.0
    """Weight of -mean(active)/std(active) of daily returns vs the benchmark (noisy at E=20)."""
    risk_measure: str = "both"
    """Risk cost: "downside" (downside deviation), "drawdown" (max drawdown) or "both" (sum)."""

    # -- market classifier (hindsight labels for the loss; never a policy input)
    market_simple_threshold: float = 0.001
    """Simple voter: bull if mean daily return > this, bear if < -this."""
    market_technical_threshold: float = 0.005
    """Technical voter: bull if short/long moving average of the price path - 1 > this."""
    market_adaptive_vol_scale: float = 0.1
    """Adaptive voter: bull if mean daily return > this * daily volatility (bear if < -)."""
    market_ma_short: int = 5
    """Technical voter: short moving-average window (days)."""
    market_ma_long: int = 20
    """Technical voter: long moving-average window (days; clamped to the episode length)."""

    # -- training
    lr: float = 1e-3
    """AdamW learning rate."""
    weight_decay: float = 1e-4
    """AdamW weight decay."""
    batch_size: int = 64
    """Episodes per optimizer step."""
    epochs: int = 20
    """Passes over the training episodes."""
    grad_clip: float = 1.0
    """Max global gradient norm (0 disables clipping)."""
    patience: int = 5
    """Early stopping: epochs without validation improvement before stopping."""
    select_by: str = "ir"
    """Validation score that picks the best epoch (and is the search objective): "ir", the
    annualised information ratio of the pooled daily active return vs buy-and-hold (always
    fully invested scores 0), or "sharpe", the pooled daily Sharpe (rewards holding a
    rising market)."""

    def __post_init__(self) -> None:
        owner = "StrategyConfig"
        _check(self.feature_dim >= 1, owner, f"feature_dim must be >= 1, got {self.feature_dim}")
        _check(self.hidden_size >= 1, owner, f"hidden_size must be >= 1, got {self.hidden_size}")
        _check(self.head_hidden >= 1, owner, f"head_hidden must be >= 1, got {self.head_hidden}")
        _check(self.n_actions >= 2, owner, f"n_actions must be >= 2, got {self.n_actions}")
        _check(
            0 < self.tau_min <= self.tau_start,
            owner,
            f"need 0 < tau_min <= tau_start, got tau_min={self.tau_min}, "
            f"tau_start={self.tau_start}",
        )
        _check(
            self.tau_decay_steps >= 1,
            owner,
            f"tau_decay_steps must be >= 1, got {self.tau_decay_steps}",
        )
        for name in (
            "relative_return_weight",
            "risk_cost_weight",
            "opportunity_cost_weight",
            "transaction_cost_weight",
            "information_ratio_weight",
        ):
            value = getattr(self, name)
            _check(value >= 0, owner, f"{name} must be >= 0, got {value}")
        check_choice(owner, "risk_measure", self.risk_measure, ("downside", "drawdown", "both"))
        check_choice(owner, "select_by", self.select_by, tuple(SELECTION_SCORES))
        for name in (
            "market_simple_threshold",
            "market_technical_threshold",
            "market_adaptive_vol_scale",
        ):
            value = getattr(self, name)
            _check(value >= 0, owner, f"{name} must be >= 0, got {value}")
        _check(
            1 <= self.market_ma_short < self.market_ma_long,
            owner,
            f"need 1 <= market_ma_short < market_ma_long, got {self.market_ma_short}, "
            f"{self.market_ma_long}",
        )
        _check(self.lr > 0, owner, f"lr must be > 0, got {self.lr}")
        _check(self.weight_decay >= 0, owner, f"weight_decay must be >= 0, got {self.weight_decay}")
        _check(self.batch_size >= 1, owner, f"batch_size must be >= 1, got {self.batch_size}")
        _check(self.epochs >= 1, owner, f"epochs must be >= 1, got {self.epochs}")
        _check(self.grad_clip >= 0, owner, f"grad_clip must be >= 0, got {self.grad_clip}")
        _check(self.patience >= 1, owner, f"patience must be >= 1, got {self.patience}")


_PRICE_FFNS = ("swiglu", "geglu", "moe")
_PRICE_LOSSES = ("mse", "mae", "huber")

# Dims chosen so v_head_dim == qk_nope_head_dim + qk_rope_head_dim: SDPA then runs its fused
# (flash) kernel instead of the math fallback. Sizes are checked by tests/models.
_PRICE_PRESETS: dict[str, dict[str, Any]] = {
    # ~2.5M parameters
    "tiny": dict(
        d_model=256, n_layers=4, n_heads=4, kv_lora_rank=128, q_lora_rank=0,
        qk_nope_head_dim=48, qk_rope_head_dim=16, v_head_dim=64, ffn_hidden=512,
    ),
    # ~10M parameters
    "small": dict(
        d_model=384, n_layers=6, n_heads=6, kv_lora_rank=192, q_lora_rank=0,
        qk_nope_head_dim=48, qk_rope_head_dim=16, v_head_dim=64, ffn_hidden=1024,
    ),
    # ~40M parameters
    "base": dict(
        d_model=640, n_layers=8, n_heads=10, kv_lora_rank=320, q_lora_rank=0,
        qk_nope_head_dim=48, qk_rope_head_dim=16, v_head_dim=64, ffn_hidden=1792,
    ),
    # ~160M parameters
    "large": dict(
        d_model=1024, n_layers=12, n_heads=8, kv_lora_rank=512, q_lora_rank=768,
        qk_nope_head_dim=96, qk_rope_head_dim=32, v_head_dim=128, ffn_hidden=2816,
    ),
}  # fmt: skip


@dataclass(frozen=True)
class PriceModelConfig(Config):
    """Stage-1 price Transformer: MLA attention (DeepSeek-V3 names), RoPE, SwiGLU/GeGLU/MoE.

    The defaults are the "small" preset. ``PriceModelConfig.preset(name)`` returns one of the
    four sizes (about 2.5M / 10M / 40M / 160M parameters); ``PriceModelConfig.PRESETS`` maps
    each name to its field overrides.
    """

    n_features: int = 11
    """F: per-day input features (see ``quantray.data.features``)."""
    window: int = 180
    """L: maximum window length in days; RoPE tables are precomputed for this many positions."""
    horizon: int = 7
    """H: days ahead predicted, as returns relative to the last close of the window."""
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
            "n_features", "window", "horizon", "d_model", "n_layers", "n_heads",
            "kv_lora_rank", "qk_rope_head_dim", "v_head_dim", "ffn_hidden",
        ):  # fmt: skip
            value = getattr(self, name)
            _check(
                isinstance(value, int) and value >= 1,
                owner,
                f"{name} must be a positive integer, got {value!r}",
            )
        _check(
            self.q_lora_rank >= 0,
            owner,
            f"q_lora_rank must be >= 0 (0 disables query compression), got {self.q_lora_rank}",
        )
        _check(
            self.qk_nope_head_dim >= 0 and self.qk_nope_head_dim % 2 == 0,
            owner,
            f"qk_nope_head_dim must be even and >= 0 (q is rotated as pairs, with the identity "
            f"on the no-RoPE part), got {self.qk_nope_head_dim}",
        )
        _check(
            self.qk_rope_head_dim % 2 == 0,
            owner,
            f"qk_rope_head_dim must be even (RoPE rotates pairs), got {self.qk_rope_head_dim}",
        )
        check_choice(owner, "ffn", self.ffn, _PRICE_FFNS)
        check_choice(owner, "loss", self.loss, _PRICE_LOSSES)
        _check(self.num_experts >= 1, owner, f"num_experts must be >= 1, got {self.num_experts}")
        _check(
            1 <= self.top_k <= self.num_experts,
            owner,
            f"top_k must be in [1, num_experts={self.num_experts}], got {self.top_k}; "
            "lower top_k or raise num_experts",
        )
        _check(
            self.moe_aux_weight >= 0,
            owner,
            f"moe_aux_weight must be >= 0, got {self.moe_aux_weight}",
        )
        _check(0 <= self.dropout < 1, owner, f"dropout must be in [0, 1), got {self.dropout}")
        _check(self.rope_theta > 0, owner, f"rope_theta must be > 0, got {self.rope_theta}")
        _check(self.huber_delta > 0, owner, f"huber_delta must be > 0, got {self.huber_delta}")


@dataclass(frozen=True)
class PriceTrainConfig(Config):
    """How stage 1 is trained (optimiser, schedule, budget, hardware)."""

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
    use_gpu: bool = False
    """Train on GPUs (set by --use-gpu)."""
    threads_per_worker: int = 1
    """torch intra-op threads per worker (set from the CPU count / workers)."""
    init_checkpoint: str | None = None
    """Start from this stage-1 checkpoint's weights instead of a fresh initialisation (an
    incremental walk-forward update); part of the spec, so of the stage-1 cache key."""

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "grad_accum", "threads_per_worker"):
            _check(getattr(self, name) >= 1, "PriceTrainConfig", f"{name} must be >= 1")
        _check(self.lr > 0, "PriceTrainConfig", f"lr must be > 0, got {self.lr}")
        _check(self.warmup_steps >= 0, "PriceTrainConfig", "warmup_steps must be >= 0")
        _check(self.grad_clip > 0, "PriceTrainConfig", "grad_clip must be > 0")
        _check(
            self.max_steps_per_epoch is None or self.max_steps_per_epoch >= 1,
            "PriceTrainConfig",
            "max_steps_per_epoch must be None or >= 1",
        )


BUDGET_UNITS = ("samples", "seconds")
"""What a ``TrainingBudget`` counts: env-days seen (RL env steps = GRU episode-days) or
training wall-clock seconds."""


@dataclass(frozen=True)
class TrainingBudget(Config):
    """One training budget, the same for every learned method of a comparison.

    Training stops at the first granule (GRU optimizer step, RL iteration) that reaches
    ``amount``; validation runs each time another ``1 / evaluations`` of it is used, and the
    best validation checkpoint is the one kept (every method the same way)."""

    by: str = "samples"
    """"samples": env-days seen in training (an RL env step = one GRU episode-day);
    "seconds": wall-clock of the training steps (validation time not counted)."""
    amount: float = 200_000
    """Budget per training run, in ``by``'s unit."""
    evaluations: int = 10
    """Validation scorings spread evenly over the budget (learning-curve points)."""

    def __post_init__(self) -> None:
        check_choice("TrainingBudget", "by", self.by, BUDGET_UNITS)
        _check(
            self.amount > 0,
            "TrainingBudget",
            f"amount must be > 0 {self.by}, got {self.amount!r}",
        )
        _check(
            self.evaluations >= 1,
            "TrainingBudget",
            f"evaluations must be >= 1, got {self.evaluations!r}",
        )

    def mark(self, i: int) -> float:
        """Where validation number ``i`` (0-based) falls, in ``by``'s unit."""
        return self.amount * (i + 1) / self.evaluations

    def describe(self) -> str:
        unit = "env-days" if self.by == "samples" else "s of training"
        return f"{self.amount:,.0f} {unit} per run, validated {self.evaluations}x"


_PORTFOLIO_RISK = ("downside", "drawdown", "both")


@dataclass(frozen=True)
class PortfolioConfig(Config):
    """The multi-asset strategy (``models.portfolio_strategy``), its loss weights (searchable
    by Tune like the single-asset ones) and its training."""

    # -- network
    hidden_size: int = 32
    """H: per-asset GRUCell state size (also the attention width)."""
    n_heads: int = 2
    """Attention heads across assets (must divide hidden_size)."""
    cap: float | None = None
    """Max weight per asset (excess stays in cash); None = no cap."""

    # -- loss weights (PortfolioLoss)
    relative_return_weight: float = 1.0
    """Weight of -(strategy - equal-weight benchmark) episode net return."""
    risk_cost_weight: float = 0.5
    """Weight of downside deviation and/or max drawdown of the portfolio's daily net returns."""
    opportunity_cost_weight: float = 0.5
    """Weight of the cash weight times the equal-weight market's rise, in bull episodes."""
    transaction_cost_weight: float = 0.0
    """Extra weight on episode trading costs (already inside net returns: >0 penalises
    turnover on top)."""
    risk_measure: str = "both"
    """Risk cost: "downside", "drawdown" or "both" (sum)."""

    # -- training
    lr: float = 1e-3
    """AdamW learning rate."""
    weight_decay: float = 1e-4
    """AdamW weight decay."""
    batch_size: int = 32
    """Episodes per optimizer step."""
    epochs: int = 10
    """Passes (of ``steps_per_epoch`` steps) over random training episodes."""
    steps_per_epoch: int = 50
    """Optimizer steps per epoch."""
    grad_clip: float = 1.0
    """Max global gradient norm (0 disables clipping)."""
    patience: int = 5
    """Early stopping: epochs without validation improvement before stopping."""

    def __post_init__(self) -> None:
        owner = "PortfolioConfig"
        for name in ("hidden_size", "n_heads", "batch_size", "epochs", "steps_per_epoch"):
            _check(getattr(self, name) >= 1, owner, f"{name} must be >= 1")
        _check(
            self.hidden_size % self.n_heads == 0,
            owner,
            f"n_heads={self.n_heads} must divide hidden_size={self.hidden_size}",
        )
        _check(
            self.cap is None or 0.0 < self.cap <= 1.0,
            owner,
            f"cap must be in (0, 1] or None, got {self.cap!r}",
        )
        for name in (
            "relative_return_weight",
            "risk_cost_weight",
            "opportunity_cost_weight",
            "transaction_cost_weight",
            "weight_decay",
            "grad_clip",
        ):
            _check(getattr(self, name) >= 0, owner, f"{name} must be >= 0")
        check_choice(owner, "risk_measure", self.risk_measure, _PORTFOLIO_RISK)
        _check(self.lr > 0, owner, f"lr must be > 0, got {self.lr}")
        _check(self.patience >= 1, owner, f"patience must be >= 1, got {self.patience}")
