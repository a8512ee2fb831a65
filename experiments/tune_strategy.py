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

from quantray.cli import add_common_args, mlflow_target, run, storage_path
from quantray.config import BUDGETS, SELECTION_SCORES, CostConfig, TuneSettings, get_budget
from quantray.data import load_bars
from quantray.evaluate.table import format_ci
from quantray.train.price import default_data_path

SETTINGS_FILE = "latest_search.json"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_common_args(parser, default_out="runs/tune", tracking=True)
    parser.add_argument("--budget", default="small", choices=list(BUDGETS), help="search size")
    parser.add_argument("--resume", action="store_true", help="continue the search in --out")
    parser.add_argument(
        "--address", default=None, help="Ray cluster to join ('auto'); default: local Ray"
    )
    parser.add_argument("--num-cpus", type=int, default=None, help="CPUs of a local Ray")
    parser.add_argument("--cpus-per-trial", type=float, default=1.0)
    parser.add_argument("--gpus-per-trial", type=float, default=0.0, help="e.g. 0.25")
    parser.add_argument("--num-samples", type=int, default=None, help="override trial count")
    parser.add_argument("--max-concurrent", type=int, default=None, help="override limit")
    parser.add_argument(
        "--multi-objective", action="store_true", help="validation Sharpe vs max drawdown"
    )
    parser.add_argument("--cost", default="us_equity", help="none | us_equity | cn_a_share")
    parser.add_argument(
        "--objective",
        default="ir",
        choices=tuple(SELECTION_SCORES),
        help="validation score to maximise: ir (information ratio vs buy-and-hold) or sharpe",
    )
    parser.add_argument(
        "--stage1-cache",
        default=None,
        help="shared stage-1 model/feature store (a filesystem path; default STORAGE/stage1_cache)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--task", default="single", choices=("single", "portfolio"), help="single | portfolio"
    )
    parser.add_argument("--universe", default=None, help="portfolio: comma-separated symbols")
    args = parser.parse_args(argv)
    if args.smoke_test:
        args.budget = "smoke"
    if args.cpus_per_trial <= 0:
        parser.error(f"--cpus-per-trial must be > 0, got {args.cpus_per_trial}")
    if args.gpus_per_trial < 0:
        parser.error(f"--gpus-per-trial must be >= 0 (e.g. 0.25), got {args.gpus_per_trial}")
    for flag in ("num_samples", "max_concurrent", "num_cpus"):
        value = getattr(args, flag)
        if value is not None and value < 1:
            parser.error(f"--{flag.replace('_', '-')} must be >= 1, got {value}")
    if args.stage1_cache is None and args.storage_path and "://" in args.storage_path:
        parser.error("--storage-path is a URI: also give --stage1-cache DIR (a filesystem path)")
    return args


def settings_from_args(args: argparse.Namespace, name: str) -> TuneSettings:
    return TuneSettings(
        budget=get_budget(args.budget),
        data_path=default_data_path(args.data),
        storage_path=storage_path(args),
        name=name,
        cost=args.cost,
        seed=args.seed,
        cpus_per_trial=args.cpus_per_trial,
        gpus_per_trial=args.gpus_per_trial,
        num_samples=args.num_samples,
        max_concurrent=args.max_concurrent,
        multi_objective=args.multi_objective,
        objective=getattr(args, "objective", "ir"),
        cache_root=args.stage1_cache,
        tracking=mlflow_target(args, "tune_strategy"),
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    CostConfig.preset(args.cost)  # a bad preset stops here (ConfigError -> exit 2)
    out = Path(args.out)
    saved = out / SETTINGS_FILE
    if args.task == "portfolio":
        return tune_portfolio(args, out)
    if args.resume:
        if not saved.exists():
            print(f"error: --resume: no earlier search in {out} (missing {saved}); drop --resume")
            return 2
        # Resume exactly the search that was started: its own flags win over today's.
        previous = json.loads(saved.read_text())
        name = previous.pop("name")
        for key, value in previous.items():
            setattr(args, key, value)
    else:
        name = time.strftime("tune-%Y%m%d-%H%M%S")
    settings = settings_from_args(args, name)
    load_bars(settings.data_path)  # validate before any Ray work: bad data stops here
    out.mkdir(parents=True, exist_ok=True)
    if not args.resume:
        keep = (
            "budget", "data", "storage_path", "cost", "seed", "cpus_per_trial",
            "gpus_per_trial", "num_samples", "max_concurrent", "multi_objective", "objective", "stage1_cache",
        )  # fmt: skip
        record = {"name": name, **{k: getattr(args, k) for k in keep}}
        record["storage_path"] = settings.storage_path
        saved.write_text(json.dumps(record, indent=2))

    import ray

    from quantray.train.ray_runtime import init_ray
    from quantray.train.tracking import tracked_run
    from quantray.tune.report import finalize
    from quantray.tune.tuner import can_resume, make_tuner, restore_tuner

    init_ray(args.address, __file__, num_cpus=args.num_cpus)
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
    results = tuner.fit()
    wall = time.perf_counter() - started
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
    import dataclasses

    from quantray.data.universe import load_portfolio_task

    if args.resume or args.multi_objective:
        print("error: --task portfolio: --resume and --multi-objective are not supported yet")
        return 2
    universe = None if args.universe is None else [s.strip() for s in args.universe.split(",")]
    settings = settings_from_args(args, time.strftime("tune-portfolio-%Y%m%d-%H%M%S"))
    settings = dataclasses.replace(settings, extra={"universe": universe})
    load_portfolio_task(settings.data_path, universe=universe)  # bad data / universe: exit 2
    out.mkdir(parents=True, exist_ok=True)

    import ray

    from quantray.train.ray_runtime import init_ray
    from quantray.tune.portfolio import PortfolioSpace, finalize_portfolio, portfolio_trial
    from quantray.tune.tuner import make_tuner

    init_ray(args.address, __file__, num_cpus=args.num_cpus)
    started = time.perf_counter()
    constants = settings.constants()
    tuner = make_tuner(settings, portfolio_trial, PortfolioSpace(settings.budget, constants))
    results = tuner.fit()
    path = finalize_portfolio(results, constants, out, wall_seconds=time.perf_counter() - started)
    print(path.read_text().split("![")[0])
    print(f"[tune] report: {path}")
    ray.shutdown()
    return 0


if __name__ == "__main__":
    run(main)
