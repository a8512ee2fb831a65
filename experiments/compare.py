"""Compare the GRU strategy, RLlib PPO and SAC and the baselines on identical held-out episodes.

    python experiments/compare.py --smoke-test
    python experiments/compare.py --features runs/features/features-<id>-<hash> --seeds 3

Every method plays the same fixed list of non-overlapping TEST episodes through the same
accounting (quantray.evaluate.evaluate_positions). Learned methods are trained on the train
split (GRU: selected on validation) once per seed. Writes OUT/report.md (means with 95%
bootstrap CIs, pairwise differences, per-regime table, spread over seeds, wall-clock and
samples per method), OUT/episodes.csv and PNG plots. With --mlflow [URI]: flags as params,
the GRU's per-epoch validation metrics per seed, every method's mean test metrics, and the
report files as artifacts.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd

from quantray.cli import add_common_args, mlflow_target, run
from quantray.config import CostConfig, StrategyConfig
from quantray.data import load_bars, load_task
from quantray.evaluate import Backtest
from quantray.evaluate.report import MethodResult, write_report
from quantray.evaluate.table import exit_cost_note, mean_backtest
from quantray.evaluate.versus import backtest_episodes, baseline_backtests


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_common_args(parser, default_out="runs/compare", tracking=True)
    parser.add_argument("--features", default=None, help="feature cache dir, 'raw', or omit")
    parser.add_argument("--cost", default="us_equity", help="none | us_equity | cn_a_share")
    parser.add_argument("--seeds", type=int, default=None, help="training seeds per method")
    parser.add_argument(
        "--methods", default="gru,ppo,sac", help="learned methods to train: gru,ppo,sac"
    )
    parser.add_argument("--rl-iterations", type=int, default=None)
    parser.add_argument("--address", default=None, help="Ray cluster for RL ('auto')")
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    cost = CostConfig.preset(args.cost)
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = set(methods) - {"gru", "ppo", "sac"}
    if unknown:
        print(f"error: --methods: unknown {sorted(unknown)}; choose from gru, ppo, sac")
        return 2
    tracking = mlflow_target(args, "compare")  # no mlflow package: exit 2 here
    # Read and validate once, first: bad data stops here with a clear message.
    bars = None if args.data is None else load_bars(args.data)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    seeds = args.seeds or (1 if args.smoke_test else 3)

    features = args.features
    if features is None:
        from quantray.train.features import ensure_feature_cache, small_stage1_spec

        spec = small_stage1_spec(args.data, smoke=args.smoke_test)
        features = str(ensure_feature_cache(spec, out / "stage1", progress=True))
    task = load_task(args.data, features=None if features == "raw" else features, bars=bars)
    test = task.episodes("test", stride=task.data.episode_len)

    import torch

    from quantray.losses import classify_market
    from quantray.train.tracking import start_run

    regimes = classify_market(torch.from_numpy(test.next_returns)).numpy()
    results: list[MethodResult] = []
    params = {**vars(args), "seeds": seeds, "task": task.describe(), "test_episodes": len(test)}
    track = start_run(tracking, time.strftime("compare-%Y%m%d-%H%M%S"), params)

    if "gru" in methods:
        from quantray.train.strategy import policy_positions, train_strategy

        config = StrategyConfig(epochs=2 if args.smoke_test else 20)
        rows, runs, first, seconds, samples = [], [], None, 0.0, 0
        for seed in range(seeds):
            result = train_strategy(
                task,
                config,
                cost,
                seed=seed,
                steps_per_epoch=20 if args.smoke_test else None,
                log=None,
                report=lambda m, seed=seed: track.metrics(
                    m, step=int(m["epoch"]), prefix=f"gru/seed{seed}/"
                ),
            )
            positions = policy_positions(result.model, test, task.table, cost)
            first = positions if first is None else first
            runs.append(backtest_episodes(positions, test, cost))
            rows.append(_rows("gru", runs[-1], seed))
            seconds += result.seconds
            samples += result.samples
            print(f"[compare] gru seed {seed}: valid ir {result.best['valid_ir']:.3f}")
        results.append(
            MethodResult("gru", _concat(rows), first, mean_backtest(runs), seconds, samples)
        )

    rl_methods = [m for m in methods if m in ("ppo", "sac")]
    if rl_methods:
        from quantray.train.monitoring import init_ray

        init_ray(args.address, __file__, **({"num_cpus": 2} if args.smoke_test else {}))
    for algo in rl_methods:
        from quantray.rl.evaluate import train_and_evaluate

        rows, runs, first, seconds, samples = [], [], None, 0.0, 0
        for seed in range(seeds):
            started = time.perf_counter()
            positions, used = train_and_evaluate(
                algo,
                task,
                test,
                cost=args.cost,
                features=None if features == "raw" else features,
                data=args.data,
                seed=seed,
                smoke=args.smoke_test,
                iterations=args.rl_iterations,
            )
            seconds += time.perf_counter() - started
            samples += used
            first = positions if first is None else first
            runs.append(backtest_episodes(positions, test, cost))
            rows.append(_rows(algo, runs[-1], seed))
            print(f"[compare] {algo} seed {seed}: done ({used:,} env steps)")
        results.append(
            MethodResult(algo, _concat(rows), first, mean_backtest(runs), seconds, samples)
        )

    for name, backtest in baseline_backtests(task, test, cost).items():
        results.append(MethodResult(name, _rows(name, backtest, 0), backtest.executed, backtest))
    n, e = test.next_returns.shape

    header = [
        f"- {task.describe()}",
        f"- test episodes: {n} non-overlapping {e}-day episodes; cost model `{args.cost}`; "
        f"seeds per learned method: {seeds}. {exit_cost_note(cost)}",
        "- market regime of each episode from the three-voter classifier on its realised "
        "returns (hindsight, used for reporting only)",
    ]
    path = write_report(results, regimes, task.episode_dates(test), out, header=header)
    track.means(pd.concat([r.rows for r in results], ignore_index=True), prefix="test_mean")
    track.artifacts([path, out / "episodes.csv", *sorted(out.glob("*.png"))])
    track.finish()
    print(path.read_text().split("![equity]")[0])
    print(f"report: {path}")
    return 0


def _rows(name: str, backtest: Backtest, seed: int) -> pd.DataFrame:
    """Per-episode metrics of one run, in the ``evaluate_positions`` layout, with its seed."""
    frame = backtest.episode_metrics()
    frame.insert(0, "episode", range(len(frame)))
    frame.insert(0, "method", name)
    return frame.assign(seed=seed)


def _concat(rows: list[pd.DataFrame]) -> pd.DataFrame:
    return pd.concat(rows, ignore_index=True)


if __name__ == "__main__":
    run(main)
