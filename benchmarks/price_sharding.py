"""Stage-1 input per data-parallel worker: the panel share each Ray Train worker holds.

Builds the stage-1 data of a synthetic universe (``--symbols`` x ``--days``, the main job's
smoke trial spec) once, as the driver of ``fit_price_model`` does, and cuts it with
``PriceData.shard`` for each worker count. Prints, per worker count, the largest shard's
MiB against the BASELINE measured in the same run: the whole panel, which is what every
node held before sharding (one object-store copy per node shared by its workers). Target:
largest shard ~ 1/N of the panel.

With ``--ray`` it then runs one real Ray Train epoch with ``--ray-workers`` workers
(``fit_price_model``, local Ray) and prints the ``data_mib`` the workers report (the
largest shard a worker fetched).

    python benchmarks/price_sharding.py                      # 1000 symbols x 5000 days
    python benchmarks/price_sharding.py --symbols 100 --days 2000 --ray
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from pipeline_scaling import trial_config  # benchmarks/ is on sys.path when run as a script

from quantray.data.synthetic import generate, write_bars
from quantray.train.price import build_price_data, fit_price_model
from quantray.tune.tuner import stage1_spec

MIB = 2**20


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--symbols", type=int, default=1000)
    parser.add_argument("--days", type=int, default=5000, help="trading days per symbol")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4, 8, 16])
    parser.add_argument("--ray", action="store_true", help="also run a real Ray Train epoch")
    parser.add_argument("--ray-workers", type=int, default=2)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        bars = {s: f.drop(columns="regime") for s, f in generate(args.symbols, args.days).items()}
        path = write_bars(bars, Path(tmp) / "bars.parquet")
        del bars
        spec = stage1_spec(trial_config(path, seed=0))  # the smoke trial's stage-1 run
        data = build_price_data(spec)
        whole = data.nbytes / MIB
        print(
            f"price sharding: {args.symbols} symbols x {args.days} days, "
            f"{len(data.train):,} training windows; built in {time.perf_counter() - t:.0f} s"
        )
        print(f"baseline (before): every node holds the whole panel, {whole:,.1f} MiB")
        print("| workers | largest shard MiB | all shards MiB | largest / whole | x 1/N | cut s |")
        print("|---:|---:|---:|---:|---:|---:|")
        for world in args.workers:
            t = time.perf_counter()
            shards = data.shard(world)
            seconds = time.perf_counter() - t
            largest = max(s.nbytes for s in shards) / MIB
            total = sum(s.nbytes for s in shards) / MIB
            print(
                f"| {world} | {largest:,.1f} | {total:,.1f} | {largest / whole:.3f} "
                f"| {largest / (whole / world):.3f} | {seconds:.2f} |"
            )
            del shards
        if args.ray:
            import ray

            ray.init(num_cpus=args.ray_workers, include_dashboard=False, log_to_driver=False)
            result = fit_price_model(
                spec, storage_path=str(Path(tmp) / "runs"), name="sharding",
                num_workers=args.ray_workers,
            )  # fmt: skip
            ray.shutdown()
            mib = result.metrics["data_mib"]
            print(
                f"Ray Train, {args.ray_workers} workers: the largest worker fetched {mib:,.1f} "
                f"MiB = {mib / whole:.3f} of the panel (x 1/N {mib / (whole / args.ray_workers):.3f})"
            )


if __name__ == "__main__":
    main()
