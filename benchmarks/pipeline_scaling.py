"""Pipeline scaling: the main job's smoke path, stage by stage, at growing universe sizes.

For each symbol count (synthetic regime market, ``--days`` days per symbol) one smoke trial of
``experiments/tune_strategy.py --budget smoke`` is run stage by stage with the functions the
trial runs (``quantray.tune.tuner``): load + validate (``load_bars``), features (``load_task``:
panel, 11 causal features, splits, normalisation), stage-1 training (the smoke budget's
16-wide one-layer model, ``fit_and_save``), the frozen-feature export, stage 2 (the smoke
budget's ``train_strategy``) and the report (argmax positions on the held-out episodes through
the numpy accounting, pooled Sharpe vs buy-and-hold). Each stage prints seconds and
microseconds per panel row (per-row cost flat from 100 symbols up = linear scaling).

The export is measured three ways on the same windows and model: in-process
(``RayExportSettings(backend="local")``), Ray Data (``backend="ray"``, an actor pool on a local
Ray with ``--num-cpus``), and the FLOOR: the same model's bare batched inference of what the
export computes per batch (``encode_rows`` over one fixed run of B + L - 1 consecutive rows,
no data read, no cache writing) with the driver's torch threads (``--threads``, also used by
the in-process export); the "window floor" is ``encode`` of B gathered [L, F] windows, the
per-window computation the export ran before it shared per-row work. "time x floor" is the export's
seconds over the floor's seconds for the same number of windows, measured in the same run
(target <= 1.5); for Ray Data the floor is ``--actors`` such processes at once (each actor
runs one thread per reserved CPU). The export's seconds include reading and checking the data
and writing the cache.

    python benchmarks/pipeline_scaling.py                          # 10 100 300 1000 symbols
    python benchmarks/pipeline_scaling.py --symbols 10 100 --days 4000
"""

from __future__ import annotations

import argparse
import math
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from quantray.config import ConfigError, CostConfig, RayExportSettings, StrategyConfig
from quantray.config.base import Config, check
from quantray.config.flags import add_flags, from_flags
from quantray.data import load_bars, load_task
from quantray.data.synthetic import generate, write_bars
from quantray.evaluate import backtest_episodes, buy_and_hold, pooled_sharpe
from quantray.features.export import export_features
from quantray.train.price import fit_and_save, load_checkpoint, model_from_checkpoint
from quantray.train.strategy import policy_positions, train_strategy
from quantray.tune.space import LOSS_WEIGHTS
from quantray.tune.tuner import stage1_spec, strategy_config

STAGES = ("load", "features", "stage1", "export", "stage2", "report")


@dataclass(frozen=True)
class ScalingSettings(Config):
    """What the benchmark measures: universe sizes and the export's parallelism."""

    symbols: tuple[int, ...] = (10, 100, 300, 1000)
    """Universe sizes measured (symbols of a synthetic regime market), one smoke trial each."""
    days: int = 4000
    """Trading days per symbol."""
    num_cpus: int = 2
    """CPUs of the local Ray (the Ray Data export)."""
    actors: int = 2
    """Ray export actor pool size."""
    threads: int = 1
    """Driver torch threads (in-process stages and the floor); 1 on a shared 2-core machine,
    where 2 OpenMP threads stall whenever one is descheduled."""
    batch_size: int = 512
    """Export batch size (windows per forward pass), also the floor's."""
    floor_batches: int = 8
    """Bare-inference batches per floor timing (best of 5; rows/s is extrapolated, not run
    over every row: its cost per batch is constant)."""
    ray: bool = True
    """Also time the Ray Data export (--no-ray skips it)."""
    seed: int = 0
    """Seed of the synthetic market and of the trial's training."""

    def __post_init__(self) -> None:
        check(len(self.symbols) > 0, "ScalingSettings", "symbols: give one size or more")
        for name in ("days", "num_cpus", "actors", "threads", "batch_size", "floor_batches"):
            value = getattr(self, name)
            check(value >= 1, "ScalingSettings", f"{name} must be >= 1, got {value}")
        check(
            min(self.symbols) >= 1, "ScalingSettings", f"symbols must be >= 1, got {self.symbols}"
        )


def parse_args() -> ScalingSettings:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_flags(parser, ScalingSettings, title="benchmark settings")
    try:
        return from_flags(parser.parse_args(), ScalingSettings)
    except ConfigError as exc:
        parser.error(str(exc))


def trial_config(data_path: Path, seed: int) -> dict:
    """A smoke-budget trial config: the cheapest architecture of the smoke space and the
    default strategy-loss weights."""
    defaults = StrategyConfig()
    return {
        "budget": "smoke",
        "data_path": str(data_path),
        "seed": seed,
        "s1_d_model": 16,
        "s1_n_layers": 1,
        "s1_ffn": "swiglu",
        **{name: getattr(defaults, name) for name in LOSS_WEIGHTS},
        "tau_start": defaults.tau_start,
        "hidden_size": 16,
        "lr": defaults.lr,
    }


def floor_rows_per_s(
    checkpoint: Path, batch: int, batches: int, shared: bool, repeats: int = 5
) -> float:
    """Bare batched inference of the checkpoint's encoder on fixed inputs: the best of
    ``repeats`` timings of ``batches`` batches (the least disturbed by other jobs).
    ``shared``: ``encode_rows`` over the B + L - 1 consecutive rows one export batch reads
    (what the export runs per batch); otherwise ``encode`` of B gathered [L, F] windows (the
    per-window computation the export ran before it shared per-row work)."""
    state = load_checkpoint(checkpoint)
    model = model_from_checkpoint(state).eval()
    window, n_features = model.window, model.config.n_features
    x = torch.randn(batch, window, n_features)  # [B, L, F]
    table = torch.randn(batch + window - 1, n_features)  # [B + L - 1, F] consecutive rows
    ends = torch.arange(window - 1, batch + window - 1)  # [B] the last rows of B windows

    def run() -> None:
        model.encode_rows(table, ends) if shared else model.encode(x)

    best = math.inf
    with torch.no_grad():
        run()  # warm-up
        for _ in range(repeats):
            start = time.perf_counter()
            for _ in range(batches):
                run()
            best = min(best, time.perf_counter() - start)
    return batch * batches / best


def run_size(n_symbols: int, args: ScalingSettings, root: Path) -> dict[str, float]:
    out = root / f"s{n_symbols}"
    bars = {
        s: f.drop(columns="regime")
        for s, f in generate(n_symbols, args.days, seed=args.seed).items()
    }
    data_path = write_bars(bars, out / "bars.parquet")
    del bars
    seconds: dict[str, float] = {}

    t = time.perf_counter()
    loaded = load_bars(data_path)
    seconds["load"] = time.perf_counter() - t

    t = time.perf_counter()
    raw_task = load_task(bars=loaded)
    seconds["features"] = time.perf_counter() - t
    rows = raw_task.panel.n_rows
    del loaded, raw_task

    config = trial_config(data_path, args.seed)
    spec = stage1_spec(config)
    t = time.perf_counter()
    checkpoint = fit_and_save(spec, out / "stage1")
    seconds["stage1"] = time.perf_counter() - t

    floor = floor_rows_per_s(checkpoint, args.batch_size, args.floor_batches, shared=True)
    window_floor = floor_rows_per_s(checkpoint, args.batch_size, args.floor_batches, shared=False)
    local = RayExportSettings(backend="local", batch_size=args.batch_size)
    t = time.perf_counter()
    cache = export_features(checkpoint, out / "local", data_path, progress=False, settings=local)
    seconds["export"] = time.perf_counter() - t
    encoded = int(np.isfinite(np.load(cache / "features.npy", mmap_mode="r")[:, 0]).sum())

    ray_seconds = float("nan")
    if args.ray:
        settings = RayExportSettings(
            backend="ray",
            actors=args.actors,
            num_cpus=max(1, args.num_cpus // args.actors),
            batch_size=args.batch_size,
        )
        t = time.perf_counter()
        export_features(checkpoint, out / "ray", data_path, progress=False, settings=settings)
        ray_seconds = time.perf_counter() - t

    t = time.perf_counter()
    task = load_task(data_path, features=cache, data_config=spec.data)
    cost = CostConfig.preset("us_equity")
    budget_steps = 10  # the smoke budget's steps_per_epoch
    result = train_strategy(
        task,
        strategy_config(config, task.dim),
        cost,
        seed=args.seed,
        steps_per_epoch=budget_steps,
        log=None,
    )
    seconds["stage2"] = time.perf_counter() - t

    t = time.perf_counter()
    test = task.episodes("test", stride=task.data.episode_len)
    positions = policy_positions(result.model, test, task.table, cost)
    net = backtest_episodes(positions, test, cost).net
    hold = backtest_episodes(buy_and_hold(*positions.shape), test, cost).net
    sharpe, ir = pooled_sharpe(net), pooled_sharpe(net - hold)
    seconds["report"] = time.perf_counter() - t
    del sharpe, ir
    shutil.rmtree(out, ignore_errors=True)
    return {
        "rows": rows,
        "encoded": encoded,
        **seconds,
        "ray_export": ray_seconds,
        "floor_rows_per_s": floor,
        "window_floor_rows_per_s": window_floor,
    }


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    if args.ray:
        import ray

        ray.init(num_cpus=args.num_cpus, include_dashboard=False, log_to_driver=False)
        ray.data.DataContext.get_current().enable_progress_bars = False
    print(
        f"pipeline scaling: smoke trial path, {args.days} days/symbol, torch threads "
        f"{torch.get_num_threads()}, Ray export {f'{args.actors} actors' if args.ray else 'off'}"
    )
    head = " ".join(f"{s + ' s':>10} {'us/row':>7}" for s in STAGES)
    print(f"{'symbols':>7} {'rows':>10} {head} {'total s':>8}")
    results = []
    with tempfile.TemporaryDirectory(prefix="qr-scaling-") as tmp:
        for n in args.symbols:
            r = run_size(n, args, Path(tmp))
            results.append((n, r))
            cells = " ".join(f"{r[s]:>10.2f} {1e6 * r[s] / r['rows']:>7.2f}" for s in STAGES)
            total = sum(r[s] for s in STAGES)
            print(f"{n:>7} {r['rows']:>10,} {cells} {total:>8.1f}", flush=True)
            print(
                f"{'':>7} export: floor {r['floor_rows_per_s']:,.0f} rows/s, in-process "
                f"{r['encoded'] / r['export']:,.0f}, Ray Data {r['encoded'] / r['ray_export']:,.0f}",
                flush=True,
            )
    print()
    print(
        "export vs the floor (the same model's bare batched inference of what the export "
        "computes, encode_rows over one batch's consecutive rows; same batch size, "
        f"{torch.get_num_threads()} thread(s)); 'window floor' = encode of gathered windows:"
    )
    print(f"{'symbols':>7} {'windows':>10} {'floor rows/s':>13} {'local rows/s':>13} "
          f"{'time x floor':>13} {'ray rows/s':>11} {'x actors*floor':>15} "
          f"{'window floor rows/s':>20}")  # fmt: skip
    for n, r in results:
        local_rate = r["encoded"] / r["export"]
        ray_rate = r["encoded"] / r["ray_export"] if math.isfinite(r["ray_export"]) else math.nan
        print(
            f"{n:>7} {r['encoded']:>10,} {r['floor_rows_per_s']:>13,.0f} {local_rate:>13,.0f} "
            f"{r['floor_rows_per_s'] / local_rate:>13.2f} {ray_rate:>11,.0f} "
            f"{args.actors * r['floor_rows_per_s'] / ray_rate:>15.2f} "
            f"{r['window_floor_rows_per_s']:>20,.0f}"
        )
    if args.ray:
        import ray

        ray.shutdown()


if __name__ == "__main__":
    main()
