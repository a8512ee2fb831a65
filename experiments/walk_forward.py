"""Walk-forward evaluation: retrain (or incrementally update) the two-stage model fold by fold
and stitch every fold's out-of-sample positions into one continuous record.

    python experiments/walk_forward.py --smoke-test
    python experiments/walk_forward.py --first-test 2007-01-02 --update retrain,incremental
    python experiments/walk_forward.py --config runs/tune/best_config.json --window rolling \
        --rolling-days 1260 --address auto

Fold k trains stage 1 and the GRU strategy on the data before its one-year (--block-months)
out-of-sample block, minus an embargo and a validation tail, and plays the block; the blocks
tile the span with no gap and no overlap (quantray.data.folds). --update retrain trains every
fold from scratch (folds run in parallel as Ray tasks); --update incremental warm-starts
each fold from the previous one and trains on the new days plus --replay-days (sequential,
each step still a Ray task). --methods gru,ppo,sac also trains RLlib PPO / SAC per fold on
the fold's frozen features to a training budget (--budget-by samples|seconds, --budget,
--evaluations: compare.py's TrainingBudget), selected on the fold's validation tail like the
GRU (warm-started from the previous fold's weights when incremental). Finished folds are kept
under OUT/<update>/ and never recomputed; --resume continues an interrupted run. Writes
OUT/walk_forward.md, CSVs and OUT/equity.png.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

from quantray.cli import positive_int, run, script_parser
from quantray.config import (
    BUDGET_UNITS,
    ConfigError,
    CostConfig,
    StrategyConfig,
    TrainingBudget,
    WalkForwardConfig,
    check_choice,
)
from quantray.config.flags import add_flags, from_flags
from quantray.data import Panel, load_bars
from quantray.data.folds import describe_folds, make_folds
from quantray.data.sample import SAMPLE_PATH

SETTINGS_FILE = "walk_forward.json"
METHODS = ("gru", "ppo", "sac")
RL_BUDGET = {"samples": 100_000, "seconds": 60}
"""Default PPO / SAC budget per fold (env-days or training seconds)."""
RL_SMOKE_BUDGET = {"samples": 800, "seconds": 3}


def parse_args() -> argparse.Namespace:
    parser = script_parser(__doc__, "runs/walk_forward", address=True)
    add_flags(parser, WalkForwardConfig, title="folds")  # every WalkForwardConfig field
    parser.add_argument(
        "--update", default="retrain,incremental", help="retrain, incremental, or both (comma)"
    )
    parser.add_argument(
        "--methods",
        default="gru",
        help="learned methods, comma list: gru (always: the fold's stage 2), ppo, sac",
    )
    parser.add_argument(
        "--budget-by",
        default="samples",
        help="PPO / SAC budget per fold counts samples (env-days) or seconds (training)",
    )
    parser.add_argument(
        "--budget",
        type=float,
        default=None,
        help=f"PPO / SAC budget per fold (default {RL_BUDGET['samples']:,} samples or "
        f"{RL_BUDGET['seconds']} s; smoke {RL_SMOKE_BUDGET['samples']} samples)",
    )
    parser.add_argument(
        "--evaluations", type=positive_int, default=None, help="PPO / SAC validations per fold (5)"
    )
    parser.add_argument("--config", default=None, help="the main job's best_config.json")
    parser.add_argument("--cost", default=None, help="none | us_equity | cn_a_share")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--cpus-per-fold", type=float, default=1.0)
    parser.add_argument("--gpus-per-fold", type=float, default=0.0)
    parser.add_argument("--num-cpus", type=positive_int, default=None, help="local Ray CPUs")
    parser.add_argument("--resume", action="store_true", help="continue the run in OUT")
    parser.add_argument("--dry-run", action="store_true", help="print the folds and stop")
    return parser.parse_args()


def _settings(args: argparse.Namespace, data_path: str) -> dict:
    """The plan: stage-1 spec, strategy, cost, seed, steps (from --config or defaults)."""
    from quantray.features.store import small_stage1_spec
    from quantray.train.price import PriceRunSpec

    if args.config is not None:
        path = Path(args.config)
        if not path.exists():
            raise ConfigError(
                f"--config: {path} does not exist; give the main job's best_config.json"
            )
        cfg = json.loads(path.read_text())
        missing = [k for k in ("stage1_spec", "strategy", "cost", "seed") if k not in cfg]
        if missing:
            raise ConfigError(
                f"--config: {path} lacks {missing}; expected the best_config.json that "
                "experiments/tune_strategy.py writes"
            )
        spec = PriceRunSpec.from_dict(cfg["stage1_spec"])
        stage1 = PriceRunSpec(spec.model, spec.train, data_path, spec.data, spec.split)
        strategy = StrategyConfig.from_dict(cfg["strategy"])
        cost = CostConfig.from_dict(cfg["cost"])
        seed, steps = int(cfg["seed"]), cfg.get("steps_per_epoch")
    else:
        stage1 = small_stage1_spec(data_path, smoke=args.smoke_test, seed=args.seed or 0)
        strategy = StrategyConfig(**({"epochs": 2} if args.smoke_test else {}))
        cost = CostConfig.preset("us_equity")
        seed, steps = args.seed or 0, 10 if args.smoke_test else None
    # With --gpus-per-fold, stage 1 trains on the fold's GPU share: in-process training uses
    # a GPU whenever one is visible (PriceLaunch's default), so the spec stays the same.
    if args.cost is not None:
        cost = CostConfig.preset(args.cost)
    if args.seed is not None:
        seed = args.seed
    return {"stage1": stage1, "strategy": strategy, "cost": cost, "seed": seed, "steps": steps}


def main() -> int:
    args = parse_args()
    updates = [u.strip() for u in args.update.split(",") if u.strip()]
    for u in updates:
        check_choice("--update", "update", u, ("retrain", "incremental"))
    methods = tuple(m.strip() for m in args.methods.split(",") if m.strip())
    for m in methods:
        check_choice("--methods", "method", m, METHODS)
    if "gru" not in methods:
        raise ConfigError(
            f"--methods: found {args.methods!r}; the GRU is every fold's stage 2 and always "
            "runs, so list it too (e.g. --methods gru,ppo)"
        )
    methods = tuple(m for m in METHODS if m in methods)
    if args.budget_by not in BUDGET_UNITS:
        raise ConfigError(
            f"--budget-by: found {args.budget_by!r}; expected one of {', '.join(BUDGET_UNITS)}"
        )
    default_budget = RL_SMOKE_BUDGET if args.smoke_test else RL_BUDGET
    budget = TrainingBudget(
        by=args.budget_by,
        amount=args.budget if args.budget is not None else default_budget[args.budget_by],
        evaluations=args.evaluations or (2 if args.smoke_test else 5),
    )
    if args.storage_path is not None and "://" in args.storage_path:
        raise ConfigError(
            f"--storage-path {args.storage_path}: walk-forward folds need a filesystem path "
            "(shared by all nodes on a cluster, e.g. NFS), not a URI"
        )
    out = Path(args.out)
    data_path = str(Path(SAMPLE_PATH if args.data is None else args.data).resolve())
    bars = load_bars(data_path)  # bad data stops here with a clear message
    if args.smoke_test:
        # Two one-year folds (2017, 2018) with tiny models, on the bundled S&P 500 since 2008
        # only (or the first symbol of --data): every fold exports features for all rows.
        symbol = "SP500" if "SP500" in bars else sorted(bars)[0]
        small = {symbol: bars[symbol].loc["2008-01-01":]}
        out.mkdir(parents=True, exist_ok=True)
        data_path = str((out / "smoke_bars.parquet").resolve())
        small[symbol].rename_axis("Date").reset_index().assign(Symbol=symbol).to_parquet(
            data_path, index=False
        )
        bars = load_bars(data_path)
    calendar = np.unique(Panel.from_bars(bars).dates)
    wf = from_flags(args, WalkForwardConfig)
    if args.smoke_test:  # two folds on the small data, unless the flags say otherwise
        wf = wf.replace(
            first_test=wf.first_test or "2017-01-03",
            min_train_days=min(wf.min_train_days, 500),
            valid_days=min(wf.valid_days, 120),
        )
    s = _settings(args, data_path)
    folds = make_folds(calendar, wf, s["stage1"].data)
    print(describe_folds(folds).to_string(index=False))
    if args.dry_run:
        return 0

    root = Path(args.storage_path or out).resolve()
    settings = {
        "walk_forward": wf.to_dict(),
        "stage1": s["stage1"].to_dict(),
        "strategy": s["strategy"].to_dict(),
        "cost": s["cost"].to_dict(),
        "seed": s["seed"],
        "steps_per_epoch": s["steps"],
        "methods": list(methods),
        **({"rl_budget": budget.to_dict()} if len(methods) > 1 else {}),
    }
    saved = root / SETTINGS_FILE
    if saved.exists():
        before = json.loads(saved.read_text())
        if before != json.loads(json.dumps(settings)):
            raise ConfigError(
                f"{saved} holds a walk-forward with different settings; choose a new --out "
                "(or --storage-path), or rerun with the same settings to --resume it"
            )
        if not args.resume:
            raise ConfigError(
                f"{root} already holds this walk-forward; pass --resume to continue it (finished "
                "folds are reused) or choose a new --out"
            )
    root.mkdir(parents=True, exist_ok=True)
    saved.write_text(json.dumps(settings, indent=2))

    from quantray.evaluate.walk_forward import stitch, write_walk_forward_report
    from quantray.train.ray_runtime import init_ray, require_resources
    from quantray.train.walk_forward import OOS_FILE, FoldPlan
    from quantray.train.walk_forward_ray import run_folds

    init_ray(args.address, __file__, num_cpus=args.num_cpus or (2 if args.smoke_test else None))
    require_resources(
        {"CPU": args.cpus_per_fold, "GPU": args.gpus_per_fold},
        flags="--cpus-per-fold / --gpus-per-fold (or --num-cpus)",
    )
    runs, walls = {}, {}
    for update in updates:
        plans = [
            FoldPlan(
                fold,
                s["stage1"],
                s["strategy"],
                s["cost"],
                wf.embargo,
                update,
                s["seed"],
                s["steps"],
                str(root / "stage1"),
                str(root / update),
                threads=max(1, int(args.cpus_per_fold)),
                methods=methods,
                budget=budget if len(methods) > 1 else None,
                smoke=args.smoke_test,
            )
            for fold in folds
        ]
        started = time.perf_counter()
        results = run_folds(
            plans, cpus_per_fold=args.cpus_per_fold, gpus_per_fold=args.gpus_per_fold
        )
        walls[update] = time.perf_counter() - started
        record = stitch([pd.read_parquet(p.fold_dir / OOS_FILE) for p in plans])
        runs[update] = (results, record)

    header = [
        f"- data `{data_path}`; {len(folds)} folds, window **{wf.window}**"
        + (f" ({wf.rolling_days} days)" if wf.window == "rolling" else "")
        + f", {wf.block_months}-month out-of-sample blocks, validation tail {wf.valid_days} "
        f"days, embargo {wf.embargo} days, replay {wf.replay_days} days (incremental)",
        f"- config: {args.config or 'defaults'}; cost {json.dumps(s['cost'].to_dict())}; seed "
        f"{s['seed']}; stage 1 `{json.dumps(s['stage1'].model.to_dict())}`",
        f"- learned methods: {', '.join(methods)}; GRU: the config's epochs"
        + (f" ({s['steps']} steps each)" if s["steps"] else "")
        + (
            f"; PPO / SAC per fold: {budget.describe()}, best validation "
            "checkpoint by the GRU's selection score"
            + (" (smoke sizes)" if args.smoke_test else "")
            if len(methods) > 1
            else ""
        ),
        "- wall-clock per update mode (this run, incl. reused folds): "
        + ", ".join(f"{u} {w:.1f}s" for u, w in walls.items()),
        "- fold dates: `folds.csv`; every day's positions: `record_<update>.csv`",
    ]
    path = write_walk_forward_report(runs, s["cost"], out, header=header, seed=s["seed"])
    print(path.read_text())
    print(f"report: {path}")
    import ray

    ray.shutdown()
    return 0


if __name__ == "__main__":
    run(main)
