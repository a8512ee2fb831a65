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

from typing import Any

from quantray.config import LOSS_WEIGHTS, SMALL_STAGE1, Budget, PriceModelConfig

# Log-uniform ranges: each weight scales a term of a different size, so orders of magnitude
# matter more than absolute steps. The lower bounds stand in for "off" (log scales exclude 0).
_WEIGHT_RANGES: dict[str, tuple[float, float]] = {
    "relative_return_weight": (0.1, 10.0),
    "risk_cost_weight": (0.01, 5.0),
    "opportunity_cost_weight": (0.01, 5.0),
    "transaction_cost_weight": (0.01, 10.0),
    "information_ratio_weight": (0.001, 1.0),
}


def stage1_model(params: dict[str, Any]) -> PriceModelConfig:
    """The stage-1 ``PriceModelConfig`` of a trial's ``s1_*`` parameters.

    Starts from the ~40k-parameter ``SMALL_STAGE1`` shape and scales the width-tied sizes
    with d_model (kv_lora_rank = D/2, ffn_hidden = 2D), keeping 2 heads of 8 + 8 query/key
    dims and v_head_dim 16 (= nope + rope, so SDPA keeps its fused kernel). A budget with
    presets (``--budget full``) samples ``s1_preset`` instead: the named size preset as is."""
    if "s1_preset" in params:
        return PriceModelConfig.preset(str(params["s1_preset"]))
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
        if b.presets:
            trial.suggest_categorical("s1_preset", list(b.presets))
            if self.stage1_only:
                return dict(self.constants)
            suggest_strategy(trial, b.hidden_sizes)
            return dict(self.constants)
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
