"""After the search: select on validation, test ONCE, judge the selection, write the report.

``finalize`` turns Tune's results into ``OUT/trials.csv`` (one row per trial),
``OUT/best_config.json`` (the selected trial's sampled parameters and full configs: enough to
rebuild it with ``reproduce``), ``OUT/summary.md`` and PNGs beside it (optimisation history
with buy-and-hold's validation score as a reference line, Optuna's fANOVA parameter
importances, the validation score against the five loss weights).

Selection uses validation only: the finished trial with the highest ``objective`` (by default
the validation information ratio vs buy-and-hold). Then the selection is judged on the same
validation data with the search accounted for (``quantray.evaluate.selection``: deflated
Sharpe and information ratio over every (trial, epoch) evaluated, T = distinct trading days,
and Hansen's SPA test over all trials against buy-and-hold). Only then is the selected
strategy played on the fixed, non-overlapping TEST episodes, next to the baselines, in the
one results table (date-block intervals, ``quantray.evaluate.table``).
"""

from __future__ import annotations

import json
import math
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from quantray.config import (
    LOSS_WEIGHTS,
    SELECTION_SCORES,
    CostConfig,
    StrategyConfig,
    TuneSettings,
)
from quantray.data import Task, load_task
from quantray.evaluate.daily import distinct_days, equal_weight_daily
from quantray.evaluate.selection import SearchEvidence, deflate, spa_pvalue
from quantray.evaluate.table import BENCHMARK, Scored, exit_cost_note, format_ci
from quantray.evaluate.versus import versus_baselines
from quantray.features.store import ensure_feature_cache
from quantray.train.price import PriceRunSpec
from quantray.train.strategy import load_strategy, policy_positions, train_strategy
from quantray.tune.space import SearchSpace
from quantray.tune.tuner import DRAWDOWN, OBJECTIVE, STRATEGY_FILE, TRIAL_FILE, load_valid_paths


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
                "valid_sharpe": m.get("valid_sharpe", math.nan),
                "valid_ir": m.get("valid_ir", math.nan),
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


def configuration_scores(results: Any, column: str) -> np.ndarray:
    """Every validation score a selection could have picked: ``column`` of every epoch report
    of every trial (the final selection report repeats an epoch and is left out)."""
    scores: list[float] = []
    for result in results:
        history = getattr(result, "metrics_dataframe", None)
        if history is None or column not in history:
            continue
        epochs = history if "final" not in history else history[history["final"] != 1.0]
        scores += [float(v) for v in epochs[column].to_numpy(dtype=np.float64)]
    return np.asarray(scores, dtype=np.float64)


@dataclass
class Evaluation:
    """The selected strategy on validation (for the deflated ratios) and, once, on test."""

    valid: Scored
    """Selected strategy ("gru") and the baselines on the validation episodes."""
    test: Scored
    """The same on the test episodes: the single touch of the test split."""
    task: Task


def evaluate_selected(trial_dir: Path) -> Evaluation:
    """Load the selected trial's strategy; score it on validation and, once, on TEST."""
    info = json.loads((trial_dir / TRIAL_FILE).read_text())
    model, _, cost, _ = load_strategy(trial_dir / STRATEGY_FILE)
    task = _task_of(info)
    seed = int(info["seed"])
    valid = task.episodes("valid", stride=task.data.episode_len)
    valid_scored = versus_baselines(
        "gru", policy_positions(model, valid, task.table, cost), task, valid, cost, seed=seed
    )
    # The single touch of the test split, after selection.
    test = task.episodes("test", stride=task.data.episode_len)
    positions = policy_positions(model, test, task.table, cost)
    return Evaluation(
        valid_scored, versus_baselines("gru", positions, task, test, cost, seed=seed), task
    )


def search_evidence(
    results: Any,
    frame: pd.DataFrame,
    valid: Scored,
    paths_dir: str | Path,
    seed: int = 0,
    *,
    selected_name: str = "gru",
    benchmark_label: str = "buy-and-hold",
) -> SearchEvidence:
    """Deflated Sharpe / information ratio of the selection and SPA over all trials: the
    selected method ``selected_name`` against ``valid.benchmark`` on validation; N = every
    (trial, epoch) score reported (``frame``'s per-trial scores if none were), the SPA test
    over every trial's saved daily validation path in ``paths_dir``."""
    selected, hold = valid.backtests[selected_name], valid.backtests[valid.benchmark]
    n_days = distinct_days(valid.dates)
    fallback = {c: frame[c].to_numpy(dtype=np.float64) for c in ("valid_sharpe", "valid_ir")}
    scores = {c: configuration_scores(results, c) for c in fallback}
    scores = {c: v if v.size else fallback[c] for c, v in scores.items()}
    paths = load_valid_paths(paths_dir)
    bench = equal_weight_daily(hold.net, valid.dates)
    if paths.empty:
        spa = math.nan
    else:
        spa = spa_pvalue(bench, paths.reindex(bench.index).fillna(0.0), seed=seed)
    return SearchEvidence(
        sharpe=deflate(selected.net, scores["valid_sharpe"], n_days),
        active=deflate(selected.net - hold.net, scores["valid_ir"], n_days),
        spa_pvalue=spa,
        n_trials=int(paths.shape[1]),
        benchmark=benchmark_label,
    )


def study_from_trials(frame: pd.DataFrame, space: SearchSpace) -> Any:
    """An in-memory Optuna study holding every non-errored trial (value = the search objective).

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
    fixed |= {"valid_sharpe", "valid_ir"}
    fixed |= {"reports", "stage1_trained", "time_total_s", "checkpoint", "path", "error"}
    return [c for c in frame.columns if c not in fixed and c not in space.constants]


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    return value


def write_plots(study: Any, out: Path, reference: float | None = None) -> dict[str, str]:
    """Optuna's own matplotlib plots: history, importances, the score vs the loss weights.

    ``reference`` (buy-and-hold's validation score) is drawn on the history as a line: a
    search whose best trial sits on it found nothing beyond holding the market.

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
        first = np.atleast_1d(axes).ravel()[0]
        fig = first.figure
        if name == "history" and reference is not None and math.isfinite(reference):
            first.axhline(reference, color="black", ls="--", lw=1, label="buy-and-hold")
            first.legend(fontsize=8)
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
    evidence: SearchEvidence
    test: pd.DataFrame
    """The test results table (one row per method, ``Scored.table``)."""
    files: dict[str, str]


TEST_RECORD = "test_split_evaluated.json"
"""Written into the experiment directory right after the single touch of the test split; a
search whose directory holds it is never tested again (``--resume`` of a finished search)."""


def _record_location(settings: TuneSettings) -> tuple[Any, str]:
    from pyarrow import fs

    if settings.local_storage:
        return fs.LocalFileSystem(), str(Path(settings.experiment_path) / TEST_RECORD)
    filesystem, path = fs.FileSystem.from_uri(settings.experiment_path)
    return filesystem, f"{path.rstrip('/')}/{TEST_RECORD}"


def read_test_record(settings: TuneSettings) -> dict[str, Any] | None:
    """The record of this search's test evaluation, or None if its test split is untouched."""
    from pyarrow import fs

    filesystem, path = _record_location(settings)
    if filesystem.get_file_info(path).type == fs.FileType.NotFound:
        return None
    with filesystem.open_input_stream(path) as stream:
        return json.loads(stream.read().decode())


def write_test_record(settings: TuneSettings, record: dict[str, Any]) -> None:
    """Mark the test split of this search as evaluated (atomically on local storage)."""
    filesystem, path = _record_location(settings)
    data = json.dumps(record, indent=2, default=str).encode()
    filesystem.create_dir(path.rsplit("/", 1)[0], recursive=True)
    with filesystem.open_output_stream(path + ".tmp") as stream:
        stream.write(data)
    filesystem.move(path + ".tmp", path)


class SplitAlreadyTested(RuntimeError):
    """The search's test split was evaluated before: evaluating it again would be a second
    look at held-out data."""


def finalize(
    results: Any,
    settings: TuneSettings,
    out: Path,
    *,
    wall_seconds: float | None = None,
) -> SearchReport:
    """Select, test once, deflate, and write every output of the search into ``out``.

    Raises ``SplitAlreadyTested`` if the experiment directory records an earlier test
    evaluation; records this one (``TEST_RECORD``) right after it."""
    earlier = read_test_record(settings)
    if earlier is not None:
        raise SplitAlreadyTested(
            f"the test split of {settings.experiment_path} was already evaluated "
            f"({earlier.get('time')}, trial {earlier.get('trial_id')}); reports in "
            f"{earlier.get('out')}"
        )
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
    write_test_record(
        settings,
        {
            "time": pd.Timestamp.now(tz="UTC").isoformat(),
            "trial_id": best["trial_id"],
            "out": str(out.resolve()),
            "pid": os.getpid(),
        },
    )
    evidence = search_evidence(
        results, frame, evaluation.valid, settings.valid_paths_dir(), seed=settings.seed
    )
    table = evaluation.test.table(seed=settings.seed)
    hold = evaluation.valid.table(seed=settings.seed).set_index("method").loc[BENCHMARK]
    reference = 0.0 if settings.objective == "ir" else hold["sharpe"].estimate

    best_config = {
        "trial_id": best["trial_id"],
        "params": space.params_of(info["config"]),
        "objective": settings.objective,
        "valid_sharpe": info["best"]["valid_sharpe"],
        "valid_ir": info["best"]["valid_ir"],
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
    plots = write_plots(study, out, reference)
    imp = importances(study)
    counts = frame["status"].value_counts().to_dict()
    n_arch = int(np.nansum(frame["stage1_trained"].to_numpy(dtype=np.float64)))
    budget = settings.budget
    gru_test = table.set_index("method").loc["gru"]
    objective = SELECTION_SCORES[settings.objective]
    lines = [
        "# Strategy search (Ray Tune + Optuna)",
        "",
        "## The answer",
        "",
        *evidence.markdown(),
        "",
        f"On the held-out test split (touched once, after selection) the selected strategy's "
        f"active return vs buy-and-hold per episode is {format_ci(gru_test['active'])}; "
        f"verdict against buy-and-hold at 95% (date-block interval): **{gru_test['verdict']}**.",
        "",
        f"- experiment `{settings.name}` in `{settings.storage_path}`; budget **{budget.name}**"
        f" ({settings.num_samples or budget.num_samples} trials, up to "
        f"{settings.max_concurrent or budget.max_concurrent} at once, {budget.epochs} stage-2 "
        f"epochs, ASHA grace {budget.grace_period});"
        + (f" wall {wall_seconds:.0f}s" if wall_seconds is not None else ""),
        f"- {evaluation.task.describe(CostConfig.preset(settings.cost))}",
        f"- data `{info['config']['data_path']}`; cost model `{settings.cost}`; seed "
        f"{settings.seed} (TPE sampler, stage 1 and stage 2)",
        f"- objective: validation {objective} (max)"
        + (" vs validation max drawdown (min)" if settings.multi_objective else "")
        + f", TPE; trials: {', '.join(f'{v} {k}' for k, v in counts.items())}; "
        f"{n_arch} distinct stage-1 models trained (others reused from the cache)",
        "",
        f"## Selected trial `{best['trial_id']}` (by validation only)",
        "",
        f"- validation: information ratio vs buy-and-hold {info['best']['valid_ir']:.3f}, "
        f"pooled Sharpe {info['best']['valid_sharpe']:.3f} (buy-and-hold "
        f"{hold['sharpe'].estimate:.3f}), max drawdown {info['best']['valid_max_drawdown']:.3f}, "
        f"selected epoch {int(info['best']['epoch']) + 1}; these validation figures picked the "
        "trial and its epoch, so they lean optimistic: the deflated ratios above correct them",
        f"- parameters: `{json.dumps(best_config['params'], default=str)}`",
        f"- stage-1 model: `{json.dumps(info['stage1_spec']['model'])}`",
        f"- strategy: `{json.dumps(info['strategy'])}`",
        "- everything needed to rebuild it: `best_config.json` (checkpoint in `best_trial/`)",
        "",
        "## Held-out TEST (touched once, after selection)",
        "",
        f"Fixed non-overlapping episodes. {exit_cost_note(CostConfig.preset(settings.cost))}",
        "",
        *evaluation.test.markdown(seed=settings.seed),
        "",
        "## What the search learned",
        "",
    ]
    for name, title in (
        ("history", "Optimisation history"),
        ("importances", "Parameter importances (Optuna fANOVA)"),
        ("loss_weights", "Validation score vs the five loss weights"),
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
        lines += [f"## Pareto front (validation {settings.objective} vs max drawdown)", ""]
        lines += [f"| trial | {settings.objective} | max drawdown |", "|---|---|---|"]
        lines += [
            f"| {r.trial_id} | {r[OBJECTIVE]:.3f} | {r[DRAWDOWN]:.3f} |"
            for _, r in front.sort_values(OBJECTIVE).iterrows()
        ]
        lines.append("")
    lines += [
        "ASHA-stopped trials enter the plots, the deflated ratios (every epoch they were "
        "evaluated) and the SPA test (their best validation path); an all-cash policy has "
        "Sharpe 0. Full trial list: `trials.csv`.",
    ]
    (out / "summary.md").write_text("\n".join(lines) + "\n")
    files = {"summary": "summary.md", "trials": "trials.csv", "best_config": "best_config.json"}
    files.update({k: v for k, v in plots.items() if v.endswith(".png")})
    return SearchReport(best_config, evidence, table, files)


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
    "Evaluation",
    "SearchReport",
    "configuration_scores",
    "evaluate_selected",
    "finalize",
    "importances",
    "pareto_front",
    "reproduce",
    "search_evidence",
    "select_best",
    "study_from_trials",
    "trials_frame",
    "write_plots",
]
