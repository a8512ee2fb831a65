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
under OUT/<update>/ and never recomputed; --resume continues an interrupted run with the
settings saved in OUT/walk_forward.json (no need to repeat them; a flag that would change one
is refused). Writes OUT/walk_forward.md, CSVs and OUT/equity.png.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

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
)
from quantray.config.flags import add_flags, flag_name, from_flags
from quantray.data import Panel, load_bars
from quantray.data.folds import describe_folds, make_folds
from quantray.data.sample import SAMPLE_PATH
from quantray.train.walk_forward import UPDATES
from quantray.train.walk_forward_run import WalkForwardRun

SETTINGS_FILE = "walk_forward.json"
"""OUT/walk_forward.json: the run's settings (``WalkForwardRun.to_record``), read by --resume."""
RL_BUDGET = {"samples": 100_000, "seconds": 60}
"""Default PPO / SAC budget per fold (env-days or training seconds)."""
RL_SMOKE_BUDGET = {"samples": 800, "seconds": 3}
SMOKE_BARS = "smoke_bars.parquet"
"""A smoke run's data extract, in OUT."""
FLAGS = {
    "stage1": "--config / --seed / --data",
    "strategy": "--config",
    "cost": "--cost / --config",
    "seed": "--seed / --config",
    "steps_per_epoch": "--config / --smoke-test",
    "data_path": "--data",
    "methods": "--methods",
    "updates": "--update",
    "rl_budget": "--budget-by / --budget / --evaluations / --methods",
    "smoke": "--smoke-test",
    "config_file": "--config",
}
"""The flags that set each ``WalkForwardRun`` field (walk_forward.X: the folds flag --X)."""


def parse_args() -> argparse.Namespace:
    # Every settings flag defaults to None (unset): on --resume an unset flag keeps the saved
    # value, a given one must agree with it.
    parser = script_parser(__doc__, "runs/walk_forward", address=True)
    add_flags(parser, WalkForwardConfig, title="folds")  # every WalkForwardConfig field
    parser.add_argument(
        "--update", default=None, help="retrain, incremental, or both (comma; default both)"
    )
    parser.add_argument(
        "--methods",
        default=None,
        help="learned methods, comma list: gru (always: the fold's stage 2), ppo, sac "
        "(default gru)",
    )
    parser.add_argument(
        "--budget-by",
        default=None,
        choices=BUDGET_UNITS,
        help="PPO / SAC budget per fold counts samples (env-days) or seconds (training); "
        "default samples",
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
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue the run in OUT with its saved settings (settings flags may be left out)",
    )
    parser.add_argument("--dry-run", action="store_true", help="print the folds and stop")
    return parser.parse_args()


def _names(text: str | None) -> tuple[str, ...] | None:
    """A comma list flag as a tuple of names (None: the flag was not given)."""
    return None if text is None else tuple(n.strip() for n in text.split(",") if n.strip())


def _from_config(path: Path, data_path: str) -> dict[str, Any]:
    """Stage-1 spec (on ``data_path``), strategy, cost, seed and steps of a best_config.json."""
    from quantray.train.price import PriceRunSpec

    if not path.exists():
        raise ConfigError(f"--config: {path} does not exist; give the main job's best_config.json")
    cfg = json.loads(path.read_text())
    missing = [k for k in ("stage1_spec", "strategy", "cost", "seed") if k not in cfg]
    if missing:
        raise ConfigError(
            f"--config: {path} lacks {missing}; expected the best_config.json that "
            "experiments/tune_strategy.py writes"
        )
    spec = PriceRunSpec.from_dict(cfg["stage1_spec"])
    return {
        "stage1": PriceRunSpec(spec.model, spec.train, data_path, spec.data, spec.split),
        "strategy": StrategyConfig.from_dict(cfg["strategy"]),
        "cost": CostConfig.from_dict(cfg["cost"]),
        "seed": int(cfg["seed"]),
        "steps_per_epoch": cfg.get("steps_per_epoch"),
    }


def _budget(
    args: argparse.Namespace, methods: tuple[str, ...], smoke: bool, base: TrainingBudget | None
) -> TrainingBudget | None:
    """The PPO / SAC budget: ``base`` (the saved one, or the defaults) with the flags given;
    None when only the GRU runs."""
    if not set(methods) - {"gru"}:
        return None
    by = args.budget_by or (base.by if base is not None else "samples")
    same_unit = base is not None and base.by == by
    default = RL_SMOKE_BUDGET if smoke else RL_BUDGET
    return TrainingBudget(
        by=by,
        amount=args.budget
        if args.budget is not None
        else (base.amount if same_unit else default[by]),
        evaluations=args.evaluations or (base.evaluations if base else (2 if smoke else 5)),
    )


def _settings(args: argparse.Namespace, out: Path, saved: WalkForwardRun | None) -> WalkForwardRun:
    """The run the flags describe: ``saved`` (on --resume) or the defaults, with every
    settings flag the user gave applied. A smoke run trains on an extract of the data in
    OUT (``_write_smoke_bars``)."""
    from quantray.features.store import small_stage1_spec

    data_arg = None if args.data is None else str(Path(args.data).resolve())
    if saved is not None:
        data_path = data_arg or saved.data_path
        smoke = saved.smoke or args.smoke_test
        effective = saved.stage1.data_path if data_path == saved.data_path else data_path
        wf = from_flags(args, WalkForwardConfig, base=saved.walk_forward)
        base = {k: getattr(saved, k) for k in ("stage1", "strategy", "cost", "seed")}
        base["steps_per_epoch"] = saved.steps_per_epoch
    else:
        data_path = data_arg or str(Path(SAMPLE_PATH).resolve())
        smoke = args.smoke_test
        effective = str((out / SMOKE_BARS).resolve()) if smoke else data_path
        wf = from_flags(args, WalkForwardConfig)
        if smoke:  # two folds on the small data, unless the flags say otherwise
            wf = wf.replace(
                first_test=wf.first_test or "2017-01-03",
                min_train_days=min(wf.min_train_days, 500),
                valid_days=min(wf.valid_days, 120),
            )
        base = {
            "stage1": small_stage1_spec(effective, smoke=smoke, seed=args.seed or 0),
            "strategy": StrategyConfig(**({"epochs": 2} if smoke else {})),
            "cost": CostConfig.preset("us_equity"),
            "seed": args.seed or 0,
            "steps_per_epoch": 10 if smoke else None,
        }
    config_file = saved.config_file if saved is not None else None
    if args.config is not None:
        config_file = str(Path(args.config).resolve())
        base = _from_config(Path(args.config), effective)
    # With --gpus-per-fold, stage 1 trains on the fold's GPU share: in-process training uses
    # a GPU whenever one is visible (PriceLaunch's default), so the spec stays the same.
    if args.cost is not None:
        base["cost"] = CostConfig.preset(args.cost)
    if args.seed is not None:
        base["seed"] = args.seed
    methods, updates = _names(args.methods), _names(args.update)
    if methods is None:
        methods = saved.methods if saved is not None else ("gru",)
    if updates is None:
        updates = saved.updates if saved is not None else UPDATES
    budget = _budget(args, methods, smoke, saved.rl_budget if saved is not None else None)
    return WalkForwardRun(
        walk_forward=wf,
        data_path=data_path,
        methods=methods,
        updates=updates,
        rl_budget=budget,
        smoke=smoke,
        config_file=config_file,
        **base,
    )


def _write_smoke_bars(data_path: str, target: str) -> None:
    """The smoke run's data: the bundled S&P 500 since 2008 only (or the first symbol of
    --data), so two one-year folds (2017, 2018) with tiny models export features for all
    rows."""
    bars = load_bars(data_path)
    symbol = "SP500" if "SP500" in bars else sorted(bars)[0]
    Path(target).parent.mkdir(parents=True, exist_ok=True)
    part = bars[symbol].loc["2008-01-01":]
    part.rename_axis("Date").reset_index().assign(Symbol=symbol).to_parquet(target, index=False)


def _saved(path: Path, resume: bool, dry_run: bool) -> WalkForwardRun | None:
    """The run saved in ``path`` when resuming; refuses to overwrite one otherwise."""
    if not path.exists():
        return None
    if not resume:
        if dry_run:
            return None
        raise ConfigError(
            f"{path.parent} already holds a walk-forward; pass --resume to continue it (its "
            "saved settings are restored, finished folds are reused) or choose a new --out "
            "(or --storage-path)"
        )
    try:
        return WalkForwardRun.from_record(json.loads(path.read_text()))
    except (ConfigError, json.JSONDecodeError, KeyError, TypeError) as exc:
        raise ConfigError(
            f"--resume: {path} is not a walk-forward this version can restore ({exc}); it may "
            "come from an older quantray. Finished folds stay valid: move that file aside and "
            "rerun with the flags of the original run and --resume, or choose a new --out"
        ) from None


def _refuse_changes(path: Path, saved: WalkForwardRun, given: WalkForwardRun) -> None:
    """A ConfigError listing every setting the flags given on --resume would change."""
    changed = saved.differences(given)
    if not changed:
        return
    lines = []
    for name, before, after in changed:
        top, _, leaf = name.partition(".")
        flag = flag_name(leaf) if top == "walk_forward" else FLAGS.get(top, top)
        lines.append(f"  {name}: saved {before!r}, given {after!r} (from {flag})")
    raise ConfigError(
        f"--resume: {path} holds a walk-forward with different settings:\n"
        + "\n".join(lines)
        + "\nDrop those flags to continue the saved run as it was, or choose a new --out (or "
        "--storage-path) to start a run with the new settings"
    )


def main() -> int:
    args = parse_args()
    if args.storage_path is not None and "://" in args.storage_path:
        raise ConfigError(
            f"--storage-path {args.storage_path}: walk-forward folds need a filesystem path "
            "(shared by all nodes on a cluster, e.g. NFS), not a URI"
        )
    out = Path(args.out)
    root = Path(args.storage_path or out).resolve()
    saved_file = root / SETTINGS_FILE
    saved = _saved(saved_file, args.resume, args.dry_run)
    wfr = _settings(args, out, saved)
    if saved is not None:
        _refuse_changes(saved_file, saved, wfr)
        print(f"[walk-forward] resuming the run saved in {saved_file}")
    elif args.resume:
        print(f"[walk-forward] --resume: no saved run in {root}; starting a new one")
    if saved is None and wfr.smoke:
        _write_smoke_bars(wfr.data_path, wfr.stage1.data_path)
    bars = load_bars(wfr.stage1.data_path)  # bad data stops here with a clear message
    wf = wfr.walk_forward
    calendar = np.unique(Panel.from_bars(bars).dates)
    folds = make_folds(calendar, wf, wfr.stage1.data)
    print(describe_folds(folds).to_string(index=False))
    if args.dry_run:
        return 0

    if saved is None:
        root.mkdir(parents=True, exist_ok=True)
        saved_file.write_text(json.dumps(wfr.to_record(), indent=2))

    from quantray.evaluate.walk_forward import stitch, write_walk_forward_report
    from quantray.train.ray_runtime import init_ray, require_resources
    from quantray.train.walk_forward import OOS_FILE
    from quantray.train.walk_forward_ray import run_folds

    init_ray(args.address, __file__, num_cpus=args.num_cpus or (2 if wfr.smoke else None))
    require_resources(
        {"CPU": args.cpus_per_fold, "GPU": args.gpus_per_fold},
        flags="--cpus-per-fold / --gpus-per-fold (or --num-cpus)",
    )
    runs, walls = {}, {}
    for update in wfr.updates:
        plans = wfr.fold_plans(
            folds,
            update,
            str(root / "stage1"),
            str(root / update),
            threads=max(1, int(args.cpus_per_fold)),
        )
        started = time.perf_counter()
        results = run_folds(
            plans, cpus_per_fold=args.cpus_per_fold, gpus_per_fold=args.gpus_per_fold
        )
        walls[update] = time.perf_counter() - started
        record = stitch([pd.read_parquet(p.fold_dir / OOS_FILE) for p in plans])
        runs[update] = (results, record)

    header = [
        f"- data `{wfr.stage1.data_path}`; {len(folds)} folds, window **{wf.window}**"
        + (f" ({wf.rolling_days} days)" if wf.window == "rolling" else "")
        + f", {wf.block_months}-month out-of-sample blocks, validation tail {wf.valid_days} "
        f"days, embargo {wf.embargo} days, replay {wf.replay_days} days (incremental)",
        f"- config: {wfr.config_file or 'defaults'}; cost {json.dumps(wfr.cost.to_dict())}; "
        f"seed {wfr.seed}; stage 1 `{json.dumps(wfr.stage1.model.to_dict())}`",
        f"- learned methods: {', '.join(wfr.methods)}; GRU: the config's epochs"
        + (f" ({wfr.steps_per_epoch} steps each)" if wfr.steps_per_epoch else "")
        + (
            f"; PPO / SAC per fold: {wfr.rl_budget.describe()}, best validation "
            "checkpoint by the GRU's selection score" + (" (smoke sizes)" if wfr.smoke else "")
            if wfr.rl_budget is not None
            else ""
        ),
        "- wall-clock per update mode (this run, incl. reused folds): "
        + ", ".join(f"{u} {w:.1f}s" for u, w in walls.items()),
        "- fold dates: `folds.csv`; every day's positions: `record_<update>.csv`",
    ]
    path = write_walk_forward_report(runs, wfr.cost, out, header=header, seed=wfr.seed)
    print(path.read_text())
    print(f"report: {path}")
    import ray

    ray.shutdown()
    return 0


if __name__ == "__main__":
    run(main)
