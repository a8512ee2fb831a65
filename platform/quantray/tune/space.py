"""The search space of the main job: stage-1 architecture x stage-2 strategy-loss weights.

Optuna define-by-run: ``SearchSpace(budget)(trial)`` asks the trial for every parameter,
with the MoE expert count and top-k asked only when the sampled FFN is "moe", and returns
the constants of the run (budget settings, seed, data) that every trial needs as well.
Every sampled value is a plain str / int / float, so configs serialise to JSON and Tune's
result tables unchanged.

Parameter names: ``s1_*`` are stage-1 architecture choices (turned into a
``PriceModelConfig`` by ``stage1_model``); the others are ``StrategyConfig`` fields of the
same name (five loss weights, Gumbel temperature ``tau_start``, GRU ``hidden_size``, ``lr``).
A budget limits the architecture choices: each distinct architecture costs one stage-1
training plus one feature export (shared by every trial that samples it), so the small
budget keeps to a dozen cheap variants.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from quantray.config import ConfigError, PriceModelConfig, did_you_mean
from quantray.train.features import SMALL_STAGE1

LOSS_WEIGHTS = (
    "relative_return_weight",
    "risk_cost_weight",
    "opportunity_cost_weight",
    "transaction_cost_weight",
    "information_ratio_weight",
)
"""The five stage-2 loss weights searched (``StrategyConfig`` field names)."""

# Log-uniform ranges: each weight scales a term of a different size, so orders of magnitude
# matter more than absolute steps. The lower bounds stand in for "off" (log scales exclude 0).
_WEIGHT_RANGES: dict[str, tuple[float, float]] = {
    "relative_return_weight": (0.1, 10.0),
    "risk_cost_weight": (0.01, 5.0),
    "opportunity_cost_weight": (0.01, 5.0),
    "transaction_cost_weight": (0.01, 10.0),
    "information_ratio_weight": (0.001, 1.0),
}


@dataclass(frozen=True)
class Budget:
    """How big a search is: trial count, per-trial training length and the architecture menu."""

    name: str
    """"smoke" | "small" | "full"."""
    num_samples: int
    """Trials sampled by the search."""
    max_concurrent: int
    """Upper bound on trials running at once (also bounded by the cluster's resources)."""
    stage1_steps: int
    """Stage-1 optimizer steps (one epoch capped at this many steps)."""
    stage1_eval_samples: int
    """Validation windows scored after stage-1 training (logged with the checkpoint)."""
    smoke_stage1: bool
    """Use ``small_stage1_spec(smoke=True)`` training settings."""
    epochs: int
    """Stage-2 epochs per trial (ASHA's max_t, plus one final report)."""
    steps_per_epoch: int | None
    """Stage-2 batches per epoch (None = the trainer's default)."""
    patience: int
    """Stage-2 early stopping patience (epochs)."""
    grace_period: int
    """ASHA: epochs every trial runs before it can be stopped."""
    d_models: tuple[int, ...]
    """Stage-1 width choices (D, also the frozen-feature width)."""
    n_layers: tuple[int, ...]
    """Stage-1 depth choices."""
    ffns: tuple[str, ...]
    """Stage-1 feed-forward kinds."""
    num_experts: tuple[int, ...]
    """MoE expert counts (asked only when ffn="moe")."""
    top_ks: tuple[int, ...]
    """MoE top-k choices (asked only when ffn="moe"; each <= every expert count)."""
    hidden_sizes: tuple[int, ...]
    """GRU hidden-size choices."""
    startup_trials: int
    """TPE: random trials before the model-based sampling starts."""

    def __post_init__(self) -> None:
        if max(self.top_ks) > min(self.num_experts):
            raise ConfigError(
                f"Budget {self.name}: top_ks {self.top_ks} must not exceed the smallest expert "
                f"count in {self.num_experts}; lower top_ks or raise num_experts"
            )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


BUDGETS: dict[str, Budget] = {
    # CI: three trials, a few seconds of training each; two cheap architectures.
    "smoke": Budget(
        name="smoke", num_samples=3, max_concurrent=2, stage1_steps=10,
        stage1_eval_samples=128, smoke_stage1=True, epochs=2, steps_per_epoch=10, patience=2,
        grace_period=1, d_models=(16,), n_layers=(1,), ffns=("swiglu", "moe"),
        num_experts=(2,), top_ks=(1,), hidden_sizes=(16, 32), startup_trials=2,
    ),
    # The default: a complete search in well under 15 minutes on a 2-core laptop.
    "small": Budget(
        name="small", num_samples=32, max_concurrent=2, stage1_steps=300,
        stage1_eval_samples=512, smoke_stage1=False, epochs=12, steps_per_epoch=80,
        patience=4, grace_period=3, d_models=(16, 32, 48), n_layers=(1, 2),
        ffns=("swiglu", "geglu", "moe"), num_experts=(2, 4), top_ks=(1, 2),
        hidden_sizes=(32, 64), startup_trials=6,
    ),
    # A workstation / cluster search.
    "full": Budget(
        name="full", num_samples=64, max_concurrent=8, stage1_steps=400,
        stage1_eval_samples=2048, smoke_stage1=False, epochs=30, steps_per_epoch=None,
        patience=6, grace_period=5, d_models=(32, 64, 128), n_layers=(1, 2, 4),
        ffns=("swiglu", "geglu", "moe"), num_experts=(4, 8), top_ks=(1, 2),
        hidden_sizes=(32, 64, 128), startup_trials=12,
    ),
}  # fmt: skip


def get_budget(name: str) -> Budget:
    """The named budget; a ConfigError with a did-you-mean hint for an unknown name."""
    if name not in BUDGETS:
        names = list(BUDGETS)
        raise ConfigError(
            f'unknown budget "{name}".{did_you_mean(name, names)} Known: {", ".join(names)}.'
        )
    return BUDGETS[name]


def stage1_model(params: dict[str, Any]) -> PriceModelConfig:
    """The stage-1 ``PriceModelConfig`` of a trial's ``s1_*`` parameters.

    Starts from the ~40k-parameter ``SMALL_STAGE1`` shape and scales the width-tied sizes
    with d_model (kv_lora_rank = D/2, ffn_hidden = 2D), keeping 2 heads of 8 + 8 query/key
    dims and v_head_dim 16 (= nope + rope, so SDPA keeps its fused kernel)."""
    d_model = int(params["s1_d_model"])
    overrides: dict[str, Any] = {
        **SMALL_STAGE1,
        "d_model": d_model,
        "n_layers": int(params["s1_n_layers"]),
        "kv_lora_rank": max(8, d_model // 2),
        "ffn_hidden": 2 * d_model,
        "ffn": str(params["s1_ffn"]),
    }
    if params["s1_ffn"] == "moe":
        overrides["num_experts"] = int(params["s1_num_experts"])
        overrides["top_k"] = int(params["s1_top_k"])
    return PriceModelConfig.preset("tiny").replace(**overrides)


STRATEGY_PARAMS = (*LOSS_WEIGHTS, "tau_start", "hidden_size", "lr")
"""The stage-2 parameters ``suggest_strategy`` samples (``StrategyConfig`` field names)."""


def suggest_strategy(trial: Any, hidden_sizes: tuple[int, ...]) -> None:
    """Sample the stage-2 strategy settings into an Optuna ``trial``: the five loss weights
    (log-uniform), Gumbel temperature ``tau_start``, GRU ``hidden_size`` from
    ``hidden_sizes`` and ``lr`` (the main job's and compare.py's GRU space)."""
    for name in LOSS_WEIGHTS:
        low, high = _WEIGHT_RANGES[name]
        trial.suggest_float(name, low, high, log=True)
    trial.suggest_float("tau_start", 0.5, 2.0)
    trial.suggest_categorical("hidden_size", list(hidden_sizes))
    trial.suggest_float("lr", 3e-4, 3e-3, log=True)


class SearchSpace:
    """Optuna define-by-run space (a picklable callable: Tune checkpoints its searcher).

    ``space(trial)`` samples one configuration into ``trial`` and returns ``constants``
    (merged into every trial's config by ``OptunaSearch``). ``stage1_only=True`` samples the
    ``s1_*`` architecture alone (the stage-1 search: the strategy settings would be
    dimensions TPE models without any effect on the objective)."""

    def __init__(
        self, budget: Budget, constants: dict[str, Any] | None = None, stage1_only: bool = False
    ) -> None:
        self.budget = budget
        self.constants = dict(constants or {})
        self.stage1_only = stage1_only

    def __call__(self, trial: Any) -> dict[str, Any]:
        b = self.budget
        trial.suggest_categorical("s1_d_model", list(b.d_models))
        trial.suggest_categorical("s1_n_layers", list(b.n_layers))
        ffn = trial.suggest_categorical("s1_ffn", list(b.ffns))
        if ffn == "moe":
            # Conditional: expert count and routing only exist for MoE layers.
            # Fixed choice lists: Optuna's categorical distributions must not change between
            # trials, so every budget keeps max(top_ks) <= min(num_experts).
            trial.suggest_categorical("s1_num_experts", list(b.num_experts))
            trial.suggest_categorical("s1_top_k", list(b.top_ks))
        if self.stage1_only:
            return dict(self.constants)
        suggest_strategy(trial, b.hidden_sizes)
        return dict(self.constants)

    def params_of(self, config: dict[str, Any]) -> dict[str, Any]:
        """The sampled parameters in a trial config (constants removed)."""
        return {k: v for k, v in config.items() if k not in self.constants}
