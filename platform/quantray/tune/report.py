"""After the search: select on validation, test ONCE, deflate the Sharpe, write the report.

``finalize`` turns Tune's results into ``OUT/trials.csv`` (one row per trial),
``OUT/best_config.json`` (the selected trial's sampled parameters and full configs: enough to
rebuild it with ``reproduce``), ``OUT/summary.md`` and PNGs beside it (optimisation history,
Optuna's fANOVA parameter importances, validation Sharpe against the five loss weights).

Selection uses validation only: the finished trial with the highest ``objective_sharpe``.
Only then is the selected strategy played on the fixed, non-overlapping TEST episodes, next to
the baselines, with bootstrap 95% confidence intervals over episodes.

Deflated Sharpe ratio (Bailey & López de Prado 2014): the selected trial's validation Sharpe
judged against the expected maximum Sharpe of N zero-skill trials, N = every trial tried
(ASHA-stopped ones included: they were tried). The formula works on PER-PERIOD Sharpe
ratios, so every trial's annualised validation Sharpe is divided by sqrt(252); T (n_obs) is
the number of pooled validation days behind the selected Sharpe (episodes x E), and the
skew / kurtosis are those of its daily validation net returns.
"""

from __future__ import annotations

import json
import math
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from quantray.config import CostConfig, StrategyConfig
from quantray.data import Task, load_task
from quantray.evaluate import (
    TRADING_DAYS_PER_YEAR,
    bootstrap_ci,
    deflated_sharpe_ratio,
    sharpe_moments,
)
from quantray.evaluate.versus import versus_baselines
from quantray.train.features import ensure_feature_cache
from quantray.train.price import PriceRunSpec
from quantray.train.strategy import (
    load_strategy,
    policy_backtest,
    policy_positions,
    train_strategy,
)
from quantray.tune.space import LOSS_WEIGHTS, SearchSpace
from quantray.tune.tuner import DRAWDOWN, OBJECTIVE, STRATEGY_FILE, TRIAL_FILE, TuneSettings


class DeflatedSharpe(NamedTuple):
    """The deflated Sharpe ratio of a selection and the numbers that went into it."""

    dsr: float
    """P(true Sharpe > expected max of N zero-skill trials), in [0, 1]."""
    observed_daily: float
    """Selected trial's per-period Sharpe (from its daily returns)."""
    observed_annual: float
    """The same, annualised (x sqrt(periods_per_year))."""
    expected_max_daily: float
    """E[max Sharpe] of N zero-skill trials with the trials' Sharpe variance, per period."""
    n_trials: int
    n_obs: int
    skew: float
    kurtosis: float


def deflated_sharpe_of_search(
    selected_returns: np.ndarray,
    trial_sharpes_annual: np.ndarray,
    periods_per_year: int = TRADING_DAYS_PER_YEAR,
) -> DeflatedSharpe:
    """DSR of the selected trial given every trial's ANNUALISED validation Sharpe.

    ``selected_returns``: the selected strategy's daily net returns behind its Sharpe (any
    shape; flattened, so T = their count). ``trial_sharpes_annual``: [N] annualised Sharpe of
    every trial tried; divided by sqrt(periods_per_year) because the DSR formula is per
    period. NaN DSR when the selected returns have no dispersion (Sharpe undefined)."""
    returns = np.asarray(selected_returns, dtype=np.float64).ravel()
    moments = sharpe_moments(returns)
    trials = np.asarray(trial_sharpes_annual, dtype=np.float64).ravel()
    trials_daily = trials[np.isfinite(trials)] / math.sqrt(periods_per_year)
    if not math.isfinite(moments.sharpe) or trials_daily.size == 0:
        return DeflatedSharpe(
            math.nan, moments.sharpe, math.nan, math.nan, int(trials.size), moments.n_obs,
            moments.skew, moments.kurtosis,
        )  # fmt: skip
    dsr, expected_max = deflated_sharpe_ratio(
        moments.sharpe, trials_daily, moments.n_obs, moments.skew, moments.kurtosis
    )
    return DeflatedSharpe(
        dsr,
        moments.sharpe,
        moments.sharpe * math.sqrt(periods_per_year),
        expected_max,
        int(trials_daily.size),
        moments.n_obs,
        moments.skew,
        moments.kurtosis,
    )


def trials_frame(results: Any, space: SearchSpace) -> pd.DataFrame:
    """One row per trial of a Tune ``ResultGrid``: status, sampled params, search metrics.

    status: "finished" (ran to its final selection report), "stopped" (ASHA or early end
    before the final report) or "error"."""
    rows = []
    for result in results:
        m = result.metrics or {}
        config = result.config or {}
        status = (
            "error"
            if result.error is not None and not m.get("final")
            else ("finished" if m.get("final") else "stopped")
        )
        rows.append(
            {
                "trial_id": m.get("trial_id", Path(str(result.path)).name),
                "status": status,
                **space.params_of(config),
                OBJECTIVE: m.get(OBJECTIVE, math.nan),
                DRAWDOWN: m.get(DRAWDOWN, math.nan),
                "valid_return": m.get("valid_return", math.nan),
                "valid_turnover": m.get("valid_turnover", math.nan),
                "reports": m.get("training_iteration", 0),
                "stage1_trained": m.get("stage1_trained", math.nan),
                "time_total_s": m.get("time_total_s", math.nan),
                "checkpoint": result.checkpoint.path if result.checkpoint is not None else "",
                "path": str(result.path),
                "error": "" if result.error is None else str(result.error).splitlines()[0],
            }
        )
    frame = pd.DataFrame(rows)
    return frame.sort_values("trial_id").reset_index(drop=True) if len(frame) else frame


def select_best(frame: pd.DataFrame) -> pd.Series:
    """The finished trial with the highest validation objective (ties: first trial id)."""
    finished = frame[(frame["status"] == "finished") & (frame["checkpoint"] != "")]
    if finished.empty:
        raise RuntimeError(
            f"no finished trial with a checkpoint among {len(frame)} trials (statuses: "
            f"{frame['status'].value_counts().to_dict()}); see trials.csv for errors"
        )
    return finished.loc[finished[OBJECTIVE].idxmax()]


def _task_of(info: dict[str, Any]) -> Task:
    """The selected trial's task: its feature cache, rebuilt (once) if not reachable here."""
    cache = Path(info["feature_cache"])
    if not (cache / "meta.json").exists():
        spec = PriceRunSpec.from_dict(info["stage1_spec"])
        cache = ensure_feature_cache(spec, Path(info["config"]["cache_root"]))
    return load_task(info["config"]["data_path"], features=cache)


@dataclass
class Evaluation:
    """The selected strategy on validation (for the DSR) and, once, on test."""

    test: pd.DataFrame
    """Per-(method, episode) test metrics: the GRU and every baseline."""
    valid_returns: np.ndarray
    """[n, E] daily validation net returns of the selected strategy."""
    task: Task


def evaluate_selected(trial_dir: Path) -> Evaluation:
    """Load the selected trial's strategy; score it on validation (DSR input) and TEST."""
    info = json.loads((trial_dir / TRIAL_FILE).read_text())
    model, _, cost, _ = load_strategy(trial_dir / STRATEGY_FILE)
    task = _task_of(info)
    valid = task.episodes("valid", stride=task.data.episode_len)
    _, valid_backtest = policy_backtest(model, valid, task.table, cost)
    # The single touch of the test split, after selection.
    test = task.episodes("test", stride=task.data.episode_len)
    positions = policy_positions(model, test, task.table, cost)
    rows = versus_baselines("gru", positions, task, test, cost, seed=int(info["seed"]))
    return Evaluation(rows, valid_backtest.net, task)


def test_table(test: pd.DataFrame, n_resamples: int = 2000) -> pd.DataFrame:
    """Per-method means with bootstrap 95% CIs over test episodes."""
    rows = []
    for method, group in test.groupby("method", sort=False):
        ret = bootstrap_ci(group["total_return"].to_numpy(), n_resamples=n_resamples)
        exc = bootstrap_ci(group["excess_return"].to_numpy(), n_resamples=n_resamples)
        sharpe = bootstrap_ci(
            group["sharpe"].to_numpy(), n_resamples=n_resamples, nan_policy="omit"
        ) if np.isfinite(group["sharpe"]).any() else None  # fmt: skip
        rows.append(
            {
                "method": method,
                "return": ret,
                "excess": exc,
                "sharpe": sharpe,
                "max_drawdown": float(group["max_drawdown"].mean()),
                "turnover": float(group["turnover"].mean()),
                "episodes": len(group),
            }
        )
    return pd.DataFrame(rows)


def study_from_trials(frame: pd.DataFrame, space: SearchSpace) -> Any:
    """An in-memory Optuna study holding every non-errored trial (value = objective_sharpe).

    Each trial is replayed through the define-by-run space with its parameters enqueued, so
    Optuna records the real distributions (conditional MoE parameters included)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", study_name="quantray-search")
    param_names = [c for c in frame.columns if c in _param_columns(frame, space)]
    for _, row in frame[frame["status"] != "error"].iterrows():
        params = {k: _plain(row[k]) for k in param_names if not _missing(row[k])}
        study.enqueue_trial(params)
        trial = study.ask()
        space(trial)
        study.tell(trial, float(row[OBJECTIVE]))
    return study


def _param_columns(frame: pd.DataFrame, space: SearchSpace) -> list[str]:
    fixed = {"trial_id", "status", OBJECTIVE, DRAWDOWN, "valid_return", "valid_turnover"}
    fixed |= {"reports", "stage1_trained", "time_total_s", "checkpoint", "path", "error"}
    return [c for c in frame.columns if c not in fixed and c not in space.constants]


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    return value


def write_plots(study: Any, out: Path) -> dict[str, str]:
    """Optuna's own matplotlib plots: history, importances, Sharpe vs the loss weights.

    Returns {name: file name} of the plots written, and {name: "skipped: reason"} for plots
    Optuna cannot draw (e.g. importances need at least two distinct finished trials)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import optuna.visualization.matplotlib as ovm

    plots = {
        "history": (ovm.plot_optimization_history, {}),
        "importances": (ovm.plot_param_importances, {}),
        "loss_weights": (ovm.plot_slice, {"params": list(LOSS_WEIGHTS)}),
    }
    written: dict[str, str] = {}
    for name, (fn, kwargs) in plots.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                axes = fn(study, **kwargs)
            except (ValueError, RuntimeError, ZeroDivisionError) as exc:
                written[name] = f"skipped: {exc}"
                continue
        fig = np.atleast_1d(axes).ravel()[0].figure
        if name == "loss_weights":
            fig.set_size_inches(4 * len(LOSS_WEIGHTS), 4)
        path = out / f"{name}.png"
        fig.savefig(path, dpi=90, bbox_inches="tight")
        plt.close(fig)
        written[name] = path.name
    return written


def importances(study: Any) -> dict[str, float]:
    """Optuna's fANOVA parameter importances (empty when there are too few trials)."""
    import optuna

    try:
        return dict(optuna.importance.get_param_importances(study, normalize=True))
    except (ValueError, RuntimeError, ZeroDivisionError):
        return {}


def pareto_front(frame: pd.DataFrame) -> pd.DataFrame:
    """Finished trials not dominated in (validation Sharpe max, max drawdown min)."""
    done = frame[frame["status"] == "finished"]
    s, d = done[OBJECTIVE].to_numpy(), done[DRAWDOWN].to_numpy()
    # [n, n] pairwise: j dominates i when no worse in both and better in one.
    dominated = ((s[None, :] >= s[:, None]) & (d[None, :] <= d[:, None])) & (
        (s[None, :] > s[:, None]) | (d[None, :] < d[:, None])
    )
    return done[~dominated.any(axis=1)]


@dataclass
class SearchReport:
    """What ``finalize`` wrote and found."""

    best: dict[str, Any]
    dsr: DeflatedSharpe
    test: pd.DataFrame
    files: dict[str, str]


def _ci(c: Any, digits: int = 4, sign: str = "+") -> str:
    if c is None:
        return "n/a"
    fmt = f"{{:{sign}.{digits}f}}"
    if not math.isfinite(c.low):
        return fmt.format(c.estimate)
    return f"{fmt.format(c.estimate)} [{fmt.format(c.low)}, {fmt.format(c.high)}]"


def finalize(
    results: Any,
    settings: TuneSettings,
    out: Path,
    *,
    wall_seconds: float | None = None,
) -> SearchReport:
    """Select, test once, deflate, and write every output of the search into ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    space = SearchSpace(settings.budget, settings.constants())
    frame = trials_frame(results, space)
    frame.to_csv(out / "trials.csv", index=False)
    best = select_best(frame)
    best_dir = out / "best_trial"
    for result in results:
        if result.checkpoint is not None and result.checkpoint.path == best["checkpoint"]:
            result.checkpoint.to_directory(str(best_dir))
    info = json.loads((best_dir / TRIAL_FILE).read_text())
    evaluation = evaluate_selected(best_dir)
    tried = frame[frame["status"] != "error"][OBJECTIVE].to_numpy(dtype=np.float64)
    dsr = deflated_sharpe_of_search(evaluation.valid_returns, tried)
    table = test_table(evaluation.test)

    best_config = {
        "trial_id": best["trial_id"],
        "params": space.params_of(info["config"]),
        "valid_sharpe": info["best"]["valid_sharpe"],
        "valid_max_drawdown": info["best"]["valid_max_drawdown"],
        "selected_epoch": int(info["best"]["epoch"]),
        "stage1_spec": info["stage1_spec"],
        "stage1_key": info["stage1_key"],
        "strategy": info["strategy"],
        "cost": info["cost"],
        "cost_preset": settings.cost,
        "seed": info["seed"],
        "steps_per_epoch": info["steps_per_epoch"],
        "torch_threads": info["torch_threads"],
        "data_path": info["config"]["data_path"],
        "feature_cache": info["feature_cache"],
        "cache_root": info["config"]["cache_root"],
        "task": info["task"],
        "budget": settings.budget.to_dict(),
        "checkpoint": str(best_dir / STRATEGY_FILE),
    }
    (out / "best_config.json").write_text(json.dumps(best_config, indent=2, default=str))

    study = study_from_trials(frame, space)
    plots = write_plots(study, out)
    imp = importances(study)
    counts = frame["status"].value_counts().to_dict()
    n_arch = int(np.nansum(frame["stage1_trained"].to_numpy(dtype=np.float64)))
    budget = settings.budget
    gru = table[table["method"] == "gru"].iloc[0]
    lines = [
        "# Strategy search (Ray Tune + Optuna)",
        "",
        f"- experiment `{settings.name}` in `{settings.storage_path}`; budget **{budget.name}**"
        f" ({settings.num_samples or budget.num_samples} trials, up to "
        f"{settings.max_concurrent or budget.max_concurrent} at once, {budget.epochs} stage-2 "
        f"epochs, ASHA grace {budget.grace_period});"
        + (f" wall {wall_seconds:.0f}s" if wall_seconds is not None else ""),
        f"- {evaluation.task.describe()}",
        f"- data `{info['config']['data_path']}`; cost model `{settings.cost}`; seed "
        f"{settings.seed} (TPE sampler, stage 1 and stage 2)",
        f"- objective: {'validation Sharpe (max) vs validation max drawdown (min), TPE' if settings.multi_objective else 'pooled validation Sharpe (max), TPE'}; "
        f"trials: {', '.join(f'{v} {k}' for k, v in counts.items())}; "
        f"{n_arch} distinct stage-1 models trained (others reused from the cache)",
        "",
        f"## Selected trial `{best['trial_id']}` (by validation only)",
        "",
        f"- validation: pooled Sharpe {info['best']['valid_sharpe']:.3f}, max drawdown "
        f"{info['best']['valid_max_drawdown']:.3f}, selected epoch "
        f"{int(info['best']['epoch']) + 1}",
        f"- parameters: `{json.dumps(best_config['params'], default=str)}`",
        f"- stage-1 model: `{json.dumps(info['stage1_spec']['model'])}`",
        f"- strategy: `{json.dumps(info['strategy'])}`",
        "- everything needed to rebuild it: `best_config.json` (checkpoint in `best_trial/`)",
        "",
        f"## Held-out TEST (touched once, after selection): {int(gru['episodes'])} fixed "
        "non-overlapping 20-day episodes",
        "",
        "Per-episode means with bootstrap 95% CIs (BCa, over episodes):",
        "",
        "| method | return | excess vs buy&hold | Sharpe | max drawdown | turnover |",
        "|---|---|---|---|---|---|",
        *[
            f"| {r.method} | {_ci(r['return'])} | {_ci(r.excess)} | {_ci(r.sharpe, 3, '')} | "
            f"{r.max_drawdown:.3f} | {r.turnover:.3f} |"
            for _, r in table.iterrows()
        ],
        "",
        "## Deflated Sharpe ratio (Bailey & López de Prado)",
        "",
        f"The selected trial's validation Sharpe {dsr.observed_annual:.3f} (annualised; "
        f"{dsr.observed_daily:.4f} per day over T = {dsr.n_obs} validation days, skew "
        f"{dsr.skew:.2f}, kurtosis {dsr.kurtosis:.2f}) against the expected maximum of "
        f"N = {dsr.n_trials} zero-skill trials with the trials' Sharpe variance: "
        f"E[max SR] = {dsr.expected_max_daily:.4f} per day "
        f"({dsr.expected_max_daily * math.sqrt(TRADING_DAYS_PER_YEAR):.3f} annualised).",
        "",
        f"**DSR = {dsr.dsr:.3f}**: the probability that the selected strategy's true Sharpe "
        "exceeds what the best of this many skill-less trials would show by luck. Trial "
        "Sharpes are annualised on validation and divided by sqrt(252) for the formula.",
        "",
        "## What the search learned",
        "",
    ]
    for name, title in (
        ("history", "Optimisation history"),
        ("importances", "Parameter importances (Optuna fANOVA)"),
        ("loss_weights", "Validation Sharpe vs the five loss weights"),
    ):
        target = plots.get(name, "")
        lines.append(f"![{title}]({target})" if target.endswith(".png") else f"- {title}: {target}")
        lines.append("")
    if imp:
        lines += ["| parameter | importance |", "|---|---|"]
        lines += [f"| {k} | {v:.3f} |" for k, v in imp.items()]
        lines.append("")
    if settings.multi_objective:
        front = pareto_front(frame)
        lines += ["## Pareto front (validation Sharpe vs max drawdown)", ""]
        lines += ["| trial | Sharpe | max drawdown |", "|---|---|---|"]
        lines += [
            f"| {r.trial_id} | {r[OBJECTIVE]:.3f} | {r[DRAWDOWN]:.3f} |"
            for _, r in front.sort_values(OBJECTIVE).iterrows()
        ]
        lines.append("")
    lines += [
        "ASHA-stopped trials enter the plots and the DSR with the best validation Sharpe "
        "they reached; all-cash policies (undefined Sharpe) count as Sharpe 0. Full trial "
        "list: `trials.csv`.",
    ]
    (out / "summary.md").write_text("\n".join(lines) + "\n")
    files = {"summary": "summary.md", "trials": "trials.csv", "best_config": "best_config.json"}
    files.update({k: v for k, v in plots.items() if v.endswith(".png")})
    return SearchReport(best_config, dsr, table, files)


def reproduce(best_config: str | Path | dict[str, Any]) -> dict[str, float]:
    """Retrain the selected trial from ``best_config.json`` and return its selected epoch's
    validation metrics (same seed, threads and feature cache => the same numbers on CPU).

    The stage-1 model is taken from the shared cache, or retrained from the stored spec
    when the cache is gone."""
    import torch

    cfg = (
        best_config if isinstance(best_config, dict) else json.loads(Path(best_config).read_text())
    )
    spec = PriceRunSpec.from_dict(cfg["stage1_spec"])
    cache = Path(cfg["feature_cache"])
    if not (cache / "meta.json").exists():
        cache = ensure_feature_cache(spec, cfg["cache_root"])
    task = load_task(cfg["data_path"], features=cache)
    torch.set_num_threads(int(cfg["torch_threads"]))
    result = train_strategy(
        task,
        StrategyConfig.from_dict(cfg["strategy"]),
        CostConfig.from_dict(cfg["cost"]),
        seed=int(cfg["seed"]),
        steps_per_epoch=cfg["steps_per_epoch"],
        log=None,
    )
    return {k: float(v) for k, v in result.best.items()}


__all__ = [
    "DeflatedSharpe",
    "Evaluation",
    "SearchReport",
    "deflated_sharpe_of_search",
    "evaluate_selected",
    "finalize",
    "importances",
    "pareto_front",
    "reproduce",
    "select_best",
    "study_from_trials",
    "trials_frame",
    "write_plots",
]
