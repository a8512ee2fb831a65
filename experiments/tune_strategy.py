"""The main job: Ray Tune + Optuna over stage-1 model size and stage-2 strategy-loss weights.

    python experiments/tune_strategy.py                      # small budget, bundled data, local Ray
    python experiments/tune_strategy.py --budget smoke       # = --smoke-test, CI-sized
    python experiments/tune_strategy.py --budget full --address auto --gpus-per-trial 0.25
    python experiments/tune_strategy.py --resume             # continue the interrupted search in --out

Each trial trains (or reuses: one model per distinct architecture, shared under the storage
path) a small stage-1 price model, then the GRU strategy with the sampled loss weights,
reporting validation metrics every epoch; OptunaSearch (TPE) proposes, ASHA stops weak
trials early. After the search the best trial BY VALIDATION is tested once on the held-out
test split against the baselines. The default objective is the validation information ratio
vs buy-and-hold (``--objective sharpe`` for the plain Sharpe). Writes to --out: summary.md
(the verdict on skill beyond buy-and-hold: deflated Sharpe / information ratio over every
configuration tried and Hansen's SPA test; test results with date-block CIs; plots),
trials.csv, best_config.json, *.png.
Every trial folder holds Tune's TensorBoard event files. With --mlflow [URI]: one MLflow run
per trial (its config, every epoch's validation metrics) and one for the search (its flags,
the selected trial's numbers, the report files as artifacts).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from quantray.cli import (
    claim_out_dir,
    mlflow_target,
    positive_int,
    run,
    run_name,
    script_parser,
    storage_path,
)
from quantray.config import BUDGETS, CostConfig, TuneSettings, get_budget
from quantray.config.flags import add_flags, from_flags
from quantray.data import Panel, load_bars
from quantray.data.splits import check_geometry
from quantray.evaluate.table import format_ci
from quantray.train.price import default_data_path

SETTINGS_FILE = "latest_search.json"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = script_parser(__doc__, "runs/tune", tracking=True, address=True, timeout=True)
    parser.add_argument("--budget", default="small", choices=list(BUDGETS), help="search size")
    parser.add_argument("--resume", action="store_true", help="continue the search in --out")
    parser.add_argument("--num-cpus", type=positive_int, default=None, help="CPUs of a local Ray")
    parser.add_argument(
        "--stage1-cache",
        default=None,
        help="shared stage-1 model/feature store (a filesystem path; default STORAGE/stage1_cache)",
    )
    # Every search setting (cost, seed, resources, trial count, objective, ...).
    add_flags(parser, TuneSettings, skip=SETTINGS_FROM_COMMON, title="search settings")
    parser.add_argument(
        "--task", default="single", choices=("single", "portfolio"), help="single | portfolio"
    )
    parser.add_argument("--universe", default=None, help="portfolio: comma-separated symbols")
    args = parser.parse_args(argv)
    if args.smoke_test:
        args.budget = "smoke"
    if args.num_cpus is not None and args.num_cpus < 1:
        parser.error(f"--num-cpus must be >= 1, got {args.num_cpus}")
    return args


SETTINGS_FROM_COMMON = ("budget", "data_path", "storage_path", "name", "cache_root")
"""TuneSettings fields set from --budget, --data, --storage-path, the run name and
--stage1-cache rather than flags of their own."""


def settings_from_args(args: argparse.Namespace, name: str) -> TuneSettings:
    base = TuneSettings(
        budget=get_budget(args.budget),
        data_path=default_data_path(args.data),
        storage_path=storage_path(args),
        name=name,
        cache_root=args.stage1_cache,
    )
    return from_flags(args, TuneSettings, base, skip=SETTINGS_FROM_COMMON).replace(
        tracking=mlflow_target(args, "tune_strategy")
    )


def _require_trial_resources(settings: TuneSettings, args: argparse.Namespace, require) -> None:
    """Before any trial is queued: one trial's CPUs/GPUs must fit on a node of the cluster."""
    require(
        {"CPU": settings.cpus_per_trial, "GPU": settings.gpus_per_trial},
        flags="--cpus-per-trial / --gpus-per-trial (or --num-cpus)",
        timeout=getattr(args, "timeout", None),
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    CostConfig.preset(getattr(args, "cost", TuneSettings.cost))  # bad preset: exit 2
    out = Path(args.out)
    saved = out / SETTINGS_FILE
    if args.task == "portfolio":
        return tune_portfolio(args, out)
    if args.resume:
        if not saved.exists():
            print(f"error: --resume: no earlier search in {out} (missing {saved}); drop --resume")
            return 2
        # Resume exactly the search that was started: its saved settings win over today's
        # flags (only the MLflow target is today's).
        settings = TuneSettings.from_record(
            json.loads(saved.read_text()), tracking=mlflow_target(args, "tune_strategy")
        )
    else:
        settings = settings_from_args(args, run_name("tune"))
    name = settings.name
    # Validate before any Ray work: bad data, or data too short for the splits, stops here.
    check_geometry(Panel.from_bars(load_bars(settings.data_path)))
    claim_out_dir(out, args.storage_path)
    if not args.resume:
        saved.write_text(json.dumps(settings.to_record(), indent=2))

    import ray

    from quantray.train.ray_runtime import init_ray, require_resources
    from quantray.train.tracking import tracked_run
    from quantray.tune.interrupt import EXIT_INTERRUPTED, graceful_stop, resume_hint
    from quantray.tune.report import finalize, read_test_record
    from quantray.tune.tuner import can_resume, make_tuner, restore_tuner

    if args.resume and (done := read_test_record(settings)) is not None:
        print(
            f"[tune] {settings.experiment_path} is finished and its test split was evaluated "
            f"at {done['time']}: nothing to resume; the reports are in {done['out']}"
        )
        return 0
    init_ray(args.address, __file__, num_cpus=args.num_cpus)
    _require_trial_resources(settings, args, require_resources)
    started = time.perf_counter()
    if args.resume:
        if not can_resume(settings):
            print(f"error: --resume: nothing to restore at {settings.experiment_path}")
            return 2
        print(f"[tune] resuming {settings.experiment_path}")
        tuner = restore_tuner(settings)
    else:
        budget = settings.budget
        print(
            f"[tune] budget {budget.name}: {settings.num_samples or budget.num_samples} trials "
            f"-> {settings.experiment_path}"
        )
        tuner = make_tuner(settings)
    with graceful_stop() as stop:
        results = tuner.fit()
    wall = time.perf_counter() - started
    if stop.signal is not None:
        ray.shutdown()
        print(
            f"\n[tune] interrupted ({stop.signal}) after {wall:.0f}s: the search is NOT finished, "
            "no trial was selected and the test split was not touched. Tune saved its state in "
            f"{settings.experiment_path}; continue with:\n  "
            f"{resume_hint('experiments/tune_strategy.py', str(out), args.address)}"
        )
        return EXIT_INTERRUPTED
    report = finalize(results, settings, out, wall_seconds=wall)
    best, evidence = report.best, report.evidence
    gru = report.test.set_index("method").loc["gru"]
    print(f"\n[tune] search done in {wall:.0f}s")
    print(
        f"[tune] best trial {best['trial_id']}: validation IR vs buy-and-hold "
        f"{best['valid_ir']:.3f}, Sharpe {best['valid_sharpe']:.3f}"
    )
    print(f"[tune] {evidence.verdict()}")
    print(f"[tune] params {json.dumps(best['params'], default=str)}")
    print(
        f"[tune] TEST: pooled Sharpe {format_ci(gru['sharpe'], 2, '')}, active return vs "
        f"buy-and-hold per episode {format_ci(gru['active'])} ({gru['verdict']})"
    )
    for label, file in report.files.items():
        print(f"[tune] {label}: {out / file}")
    search = {k: v for k, v in vars(args).items() if k != "resume"}
    with tracked_run(settings.tracking, name, search, tags={"quantray.role": "search"}) as track:
        search_numbers = {
            "dsr_sharpe": evidence.sharpe.dsr,
            "dsr_active": evidence.active.dsr,
            "spa_pvalue": evidence.spa_pvalue,
            "n_trials": evidence.n_trials,
            "wall_seconds": wall,
        }
        track.metrics(search_numbers, prefix="search/")
        track.metrics(best, prefix="selected/")
        track.table(report.test, prefix="test")
        track.artifacts([out / file for file in report.files.values()])
    ray.shutdown()
    return 0


def tune_portfolio(args: argparse.Namespace, out: Path) -> int:
    """--task portfolio: search PortfolioConfig loss weights / size / lr, test the best once."""
    from quantray.data.universe import load_portfolio_task

    if args.resume or getattr(args, "multi_objective", False):
        print("error: --task portfolio: --resume and --multi-objective are not supported yet")
        return 2
    universe = None if args.universe is None else [s.strip() for s in args.universe.split(",")]
    settings = settings_from_args(args, run_name("tune-portfolio"))
    settings = settings.replace(extra={"universe": universe})
    load_portfolio_task(settings.data_path, universe=universe)  # bad data / universe: exit 2
    claim_out_dir(out, args.storage_path)

    import ray

    from quantray.train.ray_runtime import init_ray, require_resources
    from quantray.tune.interrupt import EXIT_INTERRUPTED, graceful_stop
    from quantray.tune.portfolio import PortfolioSpace, finalize_portfolio, portfolio_trial
    from quantray.tune.tuner import make_tuner

    init_ray(args.address, __file__, num_cpus=args.num_cpus)
    _require_trial_resources(settings, args, require_resources)
    started = time.perf_counter()
    constants = settings.constants()
    tuner = make_tuner(settings, portfolio_trial, PortfolioSpace(settings.budget, constants))
    with graceful_stop() as stop:
        results = tuner.fit()
    if stop.signal is not None:  # no --resume for portfolios yet: nothing selected or tested
        ray.shutdown()
        print(f"\n[tune] interrupted ({stop.signal}): no trial selected, test split untouched")
        return EXIT_INTERRUPTED
    path = finalize_portfolio(results, constants, out, wall_seconds=time.perf_counter() - started)
    print(path.read_text().split("![")[0])
    print(f"[tune] report: {path}")
    ray.shutdown()
    return 0


if __name__ == "__main__":
    run(main)
