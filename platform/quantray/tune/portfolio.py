"""The main job's portfolio search (``tune_strategy.py --task portfolio``).

One trial = one ``train_portfolio`` run on the universe with sampled ``PortfolioConfig`` loss
weights (the four stage-2 terms carried over to portfolios), per-asset GRU size and learning
rate, reporting validation metrics every epoch. It reuses the single-asset search's machinery
(``tune.tuner.make_tuner``: OptunaSearch TPE under a concurrency limit, ASHA on the same
``objective_sharpe``, per-trial resources, the same budgets). Portfolio trials read raw
normalised features (no shared stage-1 store yet). The test split is never touched by a
trial. Each trial reports ``valid_sharpe`` / ``valid_ir`` every epoch and saves its best
daily validation path (``tune.tuner.save_valid_path``), so the summary judges the selection
exactly as the single-asset search does (``evaluate.selection.SearchEvidence``: deflation
with N = every (trial, epoch) score, Hansen's SPA over every trial's path), against the
portfolio benchmark 1/N (``evaluate.portfolio.BENCHMARK``) instead of buy-and-hold.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from quantray.config import Budget, CostConfig, PortfolioConfig, get_budget
from quantray.data.universe import load_portfolio_task
from quantray.train.portfolio import SELECTION_METRIC, train_portfolio
from quantray.tune.space import _WEIGHT_RANGES
from quantray.tune.tuner import save_valid_path, search_metrics

PORTFOLIO_WEIGHTS = (
    "relative_return_weight",
    "risk_cost_weight",
    "opportunity_cost_weight",
    "transaction_cost_weight",
)
"""The ``PortfolioConfig`` loss weights searched (ranges shared with the single-asset search)."""


class PortfolioSpace:
    """Optuna define-by-run space of the portfolio search (picklable, like ``SearchSpace``)."""

    def __init__(self, budget: Budget, constants: dict[str, Any] | None = None) -> None:
        self.budget = budget
        self.constants = dict(constants or {})

    def __call__(self, trial: Any) -> dict[str, Any]:
        for name in PORTFOLIO_WEIGHTS:
            low, high = _WEIGHT_RANGES[name]
            trial.suggest_float(name, low, high, log=True)
        trial.suggest_categorical("hidden_size", list(self.budget.hidden_sizes))
        trial.suggest_float("lr", 3e-4, 3e-3, log=True)
        return dict(self.constants)


def portfolio_config_of(config: dict[str, Any]) -> PortfolioConfig:
    """The ``PortfolioConfig`` of a trial config: sampled values + the budget's length."""
    budget = get_budget(config["budget"])
    return PortfolioConfig(
        hidden_size=int(config["hidden_size"]),
        lr=float(config["lr"]),
        epochs=budget.epochs,
        steps_per_epoch=budget.steps_per_epoch or PortfolioConfig().steps_per_epoch,
        patience=budget.patience,
        **{k: float(config[k]) for k in PORTFOLIO_WEIGHTS},
    )


def run_portfolio_trial(
    config: dict[str, Any], report: Any = None, trial_id: str = "local"
) -> dict[str, float]:
    """One trial without Ray; ``report`` gets every epoch's metrics plus the search metrics;
    the best daily validation path goes to ``config["valid_paths_dir"]`` as ``trial_id``.
    Returns the selected epoch's metrics plus the search metrics (``final`` = 1)."""
    torch.set_num_threads(int(config.get("torch_threads", 1)))
    task = load_portfolio_task(config["data_path"], universe=config.get("universe"))
    drawdown_at_best = [float("nan")]
    best = [float("-inf")]

    def on_epoch(metrics: dict[str, float]) -> None:
        if metrics[SELECTION_METRIC] > best[0]:
            best[0] = metrics[SELECTION_METRIC]
            drawdown_at_best[0] = metrics["valid_max_drawdown"]
        metrics = {**metrics, "best_valid_score": best[0]}
        if report is not None:
            report(search_metrics(metrics, drawdown_at_best[0]))

    result = train_portfolio(
        task,
        portfolio_config_of(config),
        CostConfig.preset(config["cost"]),
        seed=int(config["seed"]),
        report=on_epoch,
        log=None,
        on_best=lambda daily: save_valid_path(config.get("valid_paths_dir", ""), trial_id, daily),
    )
    # final = 1: the selection report repeats an epoch; N counts the epoch reports only.
    final = {**result.best, "best_valid_score": result.best[SELECTION_METRIC], "final": 1.0}
    return search_metrics(final, drawdown_at_best[0])


def portfolio_trial(config: dict[str, Any]) -> None:
    """The Tune function trainable: per-epoch reports, then the selected epoch's metrics."""
    from ray import tune

    trial_id = tune.get_context().get_trial_id() or "local"
    tune.report(run_portfolio_trial(config, report=tune.report, trial_id=trial_id))


def finalize_portfolio(
    results: Any, config_constants: dict[str, Any], out: Path, *, wall_seconds: float
) -> Path:
    """After the search: ``trials.csv``, ``best_config.json``; the selected config retrained
    (same seed: the selected trial's model) and judged on VALIDATION against 1/N with the
    single-asset search's evidence (``SearchEvidence``: deflated Sharpe and information ratio
    with N = every (trial, epoch) score and T = distinct validation days; Hansen's SPA over
    every trial's saved daily validation path), then tested ONCE on the test split against the
    portfolio baselines (``report.md`` as ``train_portfolio.py``'s). Returns the report path."""
    from quantray.evaluate.portfolio import BENCHMARK, baseline_weights, evaluate_all, scored
    from quantray.evaluate.portfolio_report import report_with_baselines
    from quantray.train.portfolio import policy_weights
    from quantray.tune.report import search_evidence
    from quantray.tune.tuner import OBJECTIVE

    out.mkdir(parents=True, exist_ok=True)
    trials = results.get_dataframe()
    trials.to_csv(out / "trials.csv", index=False)
    best = results.get_best_result(metric=OBJECTIVE, mode="max")
    params = {k: v for k, v in best.config.items() if k not in config_constants}
    (out / "best_config.json").write_text(json.dumps(params, indent=2, default=str))

    task = load_portfolio_task(config_constants["data_path"], universe=config_constants["universe"])
    cost = CostConfig.preset(config_constants["cost"])
    seed = int(best.config["seed"])
    config = portfolio_config_of(best.config)
    result = train_portfolio(task, config, cost, seed=seed, log=None)

    valid = task.episodes("valid", stride=task.episode_len)
    valid_weights = {
        "strategy": policy_weights(result.model, valid, task.task.table, cost),
        BENCHMARK: baseline_weights(task, valid, cost)[BENCHMARK],
    }
    _, valid_paths = evaluate_all(valid_weights, valid, cost)
    evidence = search_evidence(
        results,
        trials,
        scored(valid_paths, task.episode_dates(valid)),
        config_constants.get("valid_paths_dir", ""),
        seed=seed,
        selected_name="strategy",
        benchmark_label=f"1/N ({BENCHMARK})",
    )

    # The single touch of the test split, after selection.
    test = task.episodes("test", stride=task.episode_len)
    weights = {"strategy": policy_weights(result.model, test, task.task.table, cost)}
    header = [
        f"- {task.describe()}",
        f"- portfolio search: {len(trials)} trials in {wall_seconds:.0f}s; selected by "
        f"validation information ratio vs 1/N {best.metrics[OBJECTIVE]:.3f}",
        f"- selected parameters: {json.dumps(params, default=str)}",
        f"- the selected config retrained with seed {seed} and tested once (tables below: "
        "TEST split)",
    ]
    extra = [
        "## Is the selection better than luck? (validation, after the search)",
        "",
        *evidence.markdown(),
    ]
    return report_with_baselines(
        task, test, weights, cost, out, header=header, seed=seed, extra=extra
    )
