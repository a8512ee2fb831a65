"""Stage 2: the GRU strategy's settings and the validation scores it is selected by."""

from __future__ import annotations

from dataclasses import dataclass

from quantray.config.base import check, check_choice
from quantray.config.training import SHARED_LOSS_WEIGHTS, TrainingSettings

N_LEVELS: int = 11
"""A: the discrete position levels 0, 0.1, ..., 1.0 shared by the GRU head, the env's
actions and the baselines (``quantray.accounting.position_levels``)."""

REGIMES = ("bull", "bear", "sideways")
"""Market regimes of an episode (the hindsight label of ``quantray.losses.market``); a label
is its index here: bull 0, bear 1, sideways 2."""

BULL, BEAR, SIDEWAYS = range(len(REGIMES))
"""The regime labels (indices into ``REGIMES``)."""

LOSS_WEIGHTS = (*SHARED_LOSS_WEIGHTS, "information_ratio_weight")
"""The five stage-2 loss weights (``StrategyConfig`` field names, one per ``StrategyLoss``
term): each >= 0, and the ones the strategy search tunes."""

COMPILE_MODES = ("default", "reduce-overhead", "max-autotune")
"""``torch.compile`` modes accepted by ``StrategyConfig.compile_mode``."""

SELECTION_SCORES: dict[str, str] = {
    "ir": "pooled daily information ratio vs buy-and-hold",
    "sharpe": "pooled daily Sharpe",
}
"""Validation scores an epoch / trial can be selected by (``StrategyConfig.select_by``)."""


@dataclass(frozen=True)
class StrategyConfig(TrainingSettings):
    """Stage 2: the GRU position strategy, its Gumbel-softmax head, loss weights and training
    (with ``TrainingSettings``' optimiser, early-stopping and shared loss-weight fields; the
    benchmark of the relative return is chosen by market type, ``losses.strategy``)."""

    # -- network
    feature_dim: int = 64
    """D: width of the frozen stage-1 features (the price model's d_model)."""
    hidden_size: int = 64
    """GRUCell hidden state size."""
    head_hidden: int = 64
    """Hidden width of the position-head MLP (GRU state -> logits)."""
    n_actions: int = N_LEVELS
    """A: number of discrete positions, evenly spaced over [0, 1] (11 -> 0%, 10%, ..., 100%)."""
    tau_start: float = 1.0
    """Gumbel-softmax temperature at step 0 (higher = softer, lower-variance gradients)."""
    tau_min: float = 0.1
    """Temperature floor reached after ``tau_decay_steps`` (lower = closer to discrete)."""
    tau_decay_steps: int = 2000
    """Optimizer steps over which tau decays exponentially from tau_start to tau_min."""
    hard: bool = False
    """Straight-through Gumbel-softmax: one-hot positions forward, soft gradients backward."""

    # -- loss weights (StrategyLoss; the four both objectives have: ``TrainingSettings``)
    information_ratio_weight: float = 0.0
    """Weight of -mean(active)/std(active) of daily returns vs the benchmark (noisy at E=20)."""

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

    # -- training (optimiser and early stopping: ``TrainingSettings``)
    batch_size: int = 64
    """Episodes per optimizer step."""
    epochs: int = 20
    """Passes over the training episodes."""
    bf16: bool = False
    """Training steps run the GRU and head matmuls in bfloat16 autocast; positions, costs,
    returns and the loss stay float32, and evaluation is always float32. About 1.5x faster
    on CPUs with AVX512-BF16 / AMX and on GPUs (benchmarks/strategy_throughput.py);
    SLOWER on CPUs without bf16 instructions."""
    compile: bool = False
    """``torch.compile`` the training forward (the GRU recursion, Gumbel head and
    accounting) once per model. Pays a one-off compilation (tens of seconds on CPU) for a
    faster step: worth it for runs of thousands of steps, not for smoke runs."""
    compile_mode: str = "default"
    """``torch.compile`` mode when ``compile`` is on: "default", or "reduce-overhead" (CUDA
    graphs: replays each step's hundreds of small kernels in one launch; on an H200 at 4,096
    episodes per step it measured 2.83x the plain loop's speed vs 1.44x for "default";
    identical to "default" on CPU), or "max-autotune" (long compilation)."""
    select_by: str = "ir"
    """Validation score that picks the best epoch (and is the search objective): "ir", the
    annualised information ratio of the pooled daily active return vs buy-and-hold (always
    fully invested scores 0), or "sharpe", the pooled daily Sharpe (rewards holding a
    rising market)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        owner = "StrategyConfig"
        check(self.feature_dim >= 1, owner, f"feature_dim must be >= 1, got {self.feature_dim}")
        check(self.hidden_size >= 1, owner, f"hidden_size must be >= 1, got {self.hidden_size}")
        check(self.head_hidden >= 1, owner, f"head_hidden must be >= 1, got {self.head_hidden}")
        check(self.n_actions >= 2, owner, f"n_actions must be >= 2, got {self.n_actions}")
        check(
            0 < self.tau_min <= self.tau_start,
            owner,
            f"need 0 < tau_min <= tau_start, got tau_min={self.tau_min}, "
            f"tau_start={self.tau_start}",
        )
        check(
            self.tau_decay_steps >= 1,
            owner,
            f"tau_decay_steps must be >= 1, got {self.tau_decay_steps}",
        )
        check(
            self.information_ratio_weight >= 0,
            owner,
            f"information_ratio_weight must be >= 0, got {self.information_ratio_weight}",
        )
        check_choice(owner, "select_by", self.select_by, tuple(SELECTION_SCORES))
        check_choice(owner, "compile_mode", self.compile_mode, COMPILE_MODES)
        for name in (
            "market_simple_threshold",
            "market_technical_threshold",
            "market_adaptive_vol_scale",
        ):
            value = getattr(self, name)
            check(value >= 0, owner, f"{name} must be >= 0, got {value}")
        check(
            1 <= self.market_ma_short < self.market_ma_long,
            owner,
            f"need 1 <= market_ma_short < market_ma_long, got {self.market_ma_short}, "
            f"{self.market_ma_long}",
        )
        check(self.batch_size >= 1, owner, f"batch_size must be >= 1, got {self.batch_size}")
        check(self.epochs >= 1, owner, f"epochs must be >= 1, got {self.epochs}")
