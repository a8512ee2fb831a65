"""Train an RLlib agent (PPO or SAC, new API stack) on the trading env and score it.

    python experiments/train_rl.py --algo ppo --smoke-test
    python experiments/train_rl.py --algo sac --smoke-test
    python experiments/train_rl.py --algo ppo --module gru --iterations 50 --cost us_equity
    python experiments/train_rl.py --algo ppo --features runs/features/features-<id>-<hash>

PPO acts on Discrete(11) positions (RLlib's MLP, or --module gru: our GRU strategy network as
a recurrent actor-critic); SAC on the continuous Box(0, 1) position. Training episodes are
drawn from the training split; the greedy policy is then scored on the validation split's
fixed non-overlapping episode list against the baselines, through the same accounting as
every other strategy. The Algorithm checkpoint is saved (default OUT/ray/checkpoint-ALGO) and
restored once to show that the restored policy acts identically. Writes OUT/metrics.csv
(one row per training iteration) and OUT/summary.md. With --mlflow [URI]: flags and the
RLlib config as params, every iteration's row as metrics, both files as artifacts.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd

from quantray.cli import claim_run, non_negative_int, positive_int, run, script_parser, storage_path
from quantray.config import ConfigError, CostConfig, EnvSettings, PPOSettings, SACSettings
from quantray.config.flags import add_flags, from_flags, given_flags
from quantray.evaluate.table import exit_cost_note
from quantray.evaluate.versus import versus_baselines


def parse_args() -> argparse.Namespace:
    parser = script_parser(__doc__, "runs/rl", tracking=True, address=True)
    parser.add_argument("--algo", choices=["ppo", "sac"], default="ppo")
    parser.add_argument(
        "--module",
        choices=["mlp", "gru"],
        default="mlp",
        help="PPO policy network: RLlib's default MLP or the recurrent GRU actor-critic",
    )
    parser.add_argument(
        "--strategy-checkpoint",
        default=None,
        help="--module gru: initialise the actor from a stage-2 strategy.pt (same features)",
    )
    parser.add_argument(
        "--features", default=None, help="frozen-feature cache dir (default: raw features)"
    )
    parser.add_argument("--cost", default="us_equity", help="none | us_equity | cn_a_share")
    parser.add_argument("--iterations", type=positive_int, default=None, help="training iterations")
    parser.add_argument(
        "--num-env-runners", type=non_negative_int, default=None, help="env-runner actors"
    )
    parser.add_argument("--seed", type=int, default=0)
    # Every hyperparameter of both algorithms and the env's reward settings.
    add_flags(parser, PPOSettings, prefix="ppo-", title="PPO settings (--algo ppo)")
    add_flags(parser, SACSettings, prefix="sac-", title="SAC settings (--algo sac)")
    add_flags(parser, EnvSettings, skip=ENV_FIXED, title="env settings")
    return parser.parse_args()


ENV_FIXED = ("data", "features", "cost", "split", "mode", "episode_indices", "action_type")
"""Env settings the script sets itself (from --data, --features, --cost and --algo)."""


def algo_settings(args: argparse.Namespace) -> PPOSettings | SACSettings:
    """The chosen algorithm's settings: smoke or default sizes, with the flags given."""
    cls = PPOSettings if args.algo == "ppo" else SACSettings
    other = SACSettings if args.algo == "ppo" else PPOSettings
    stray = given_flags(args, other, prefix=f"{'sac' if args.algo == 'ppo' else 'ppo'}-")
    if stray:
        raise ConfigError(
            f"--{'sac' if args.algo == 'ppo' else 'ppo'}-* flags "
            f"({', '.join(sorted(stray))}) set the other algorithm; use "
            f"--{args.algo}-* flags with --algo {args.algo}"
        )
    base = cls.smoke() if args.smoke_test else cls()
    return from_flags(args, cls, base, prefix=f"{args.algo}-")


def check_args(args: argparse.Namespace) -> None:
    """User mistakes become ConfigError (exit 2) before Ray starts."""
    if args.algo == "sac" and args.module != "mlp":
        raise ConfigError(
            f"--module {args.module} is a PPO option; SAC uses RLlib's MLP actor and twin "
            "critics. Drop --module or use --algo ppo."
        )
    if args.strategy_checkpoint is not None:
        if args.module != "gru":
            raise ConfigError("--strategy-checkpoint initialises the GRU actor; add --module gru")
        if not Path(args.strategy_checkpoint).is_file():
            raise ConfigError(
                f"--strategy-checkpoint {args.strategy_checkpoint}: no such file; expected the "
                "strategy.pt written by experiments/train_strategy.py"
            )
        args.strategy_checkpoint = str(Path(args.strategy_checkpoint).resolve())
    if args.iterations is not None and args.iterations < 1:
        raise ConfigError(f"--iterations must be >= 1, got {args.iterations}")
    if args.num_env_runners is not None and args.num_env_runners < 0:
        raise ConfigError(f"--num-env-runners must be >= 0, got {args.num_env_runners}")
    if args.features == "raw":
        args.features = None
    if args.features is not None and not Path(args.features).is_dir():
        raise ConfigError(
            f"--features {args.features}: no such feature-cache directory; expected the "
            "directory experiments/export_features.py wrote, or omit it for raw features"
        )


def progress_line(i: int, result: dict, seconds: float) -> dict:
    """One iteration's numbers (printed and kept for metrics.csv)."""
    runners = result.get("env_runners", {})
    row = {
        "iteration": i + 1,
        "env_steps": int(runners.get("num_env_steps_sampled_lifetime", 0)),
        "episodes": int(runners.get("num_episodes_lifetime", 0)),
        "seconds": seconds,
        "episode_return_mean": runners.get("episode_return_mean", np.nan),
        "net_return": runners.get("episode_net_return", np.nan),
        "excess_return": runners.get("episode_excess_return", np.nan),
        "mean_position": runners.get("episode_mean_position", np.nan),
        "turnover": runners.get("episode_turnover", np.nan),
    }
    print(
        f"[{i + 1:3d}] env steps {row['env_steps']:7d}  episodes {row['episodes']:5d}  "
        f"return mean {row['episode_return_mean']:+.4f}  net {row['net_return']:+.4f}  "
        f"excess vs buy&hold {row['excess_return']:+.4f}  position {row['mean_position']:.2f}"
        f"  turnover {row['turnover']:.2f}  ({seconds:.1f}s)",
        flush=True,
    )
    return row


def _plain(value: object) -> object:
    """JSON-like view of an RLlib config dict for MLflow params (classes by name)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return getattr(value, "__name__", None) or type(value).__name__


def main() -> int:
    args = parse_args()
    check_args(args)
    cost = CostConfig.preset(args.cost)
    out, tracking = claim_run(args, "train_rl")  # no mlflow package: exit 2 here
    # SAC's smoke iterations are 80 env steps and one update each, so it gets a few more.
    smoke_iterations = 2 if args.algo == "ppo" else 5
    iterations = args.iterations or (smoke_iterations if args.smoke_test else 30)

    import ray
    from ray.rllib.algorithms.algorithm import Algorithm

    from quantray.envs import shared_task
    from quantray.rl.callbacks import TradingMetricsCallback
    from quantray.rl.config import algo_config
    from quantray.rl.evaluate import rl_positions
    from quantray.train.tracking import RunLog, start_run

    # Absolute paths: env runners may start in another working directory.
    env = from_flags(
        args,
        EnvSettings,
        EnvSettings(
            data=None if args.data is None else str(Path(args.data).resolve()),
            features=None if args.features is None else str(Path(args.features).resolve()),
            cost=args.cost,
            split="train",
        ),
        skip=ENV_FIXED,
    )
    settings = algo_settings(args)
    # Loads and validates the data: bad data stops here, before Ray, with a clear message.
    task = shared_task(env.data, env.features)
    print(f"[rl] {task.describe()}")
    action_type = "discrete" if args.algo == "ppo" else "continuous"

    from quantray.train.monitoring import record_env_throughput
    from quantray.train.ray_runtime import init_ray

    init_ray(
        args.address,
        __file__,
        include_dashboard=not args.smoke_test,
        num_cpus=2 if args.smoke_test else None,
    )
    track = RunLog(None)  # ended FAILED by quantray.cli.run if anything below raises
    try:
        kwargs = {"settings": settings, "seed": args.seed, "module": args.module}
        if args.num_env_runners is not None:
            kwargs["num_env_runners"] = args.num_env_runners
        if args.strategy_checkpoint is not None:
            kwargs["strategy_checkpoint"] = args.strategy_checkpoint
        config = algo_config(args.algo, env, **kwargs).callbacks(TradingMetricsCallback)
        algo = config.build_algo()
        label = args.algo + ("-gru" if args.module == "gru" else "")
        print(f"[rl] {label}: {iterations} iterations, seed {args.seed}, cost {args.cost}")
        params = {**vars(args), "iterations": iterations, "rllib": _plain(config.to_dict())}
        track = start_run(tracking, time.strftime(f"rl-{label}-%Y%m%d-%H%M%S"), params)

        rows, train_seconds = [], 0.0
        for i in range(iterations):
            start = time.perf_counter()
            result = algo.train()
            seconds = time.perf_counter() - start
            train_seconds += seconds
            rows.append(progress_line(i, result, seconds))
            track.metrics(rows[-1], step=i + 1)
            steps = rows[-1]["env_steps"] - (rows[-2]["env_steps"] if i else 0)
            record_env_throughput(steps / max(seconds, 1e-9), algo=label)
        history = pd.DataFrame(rows)
        history.to_csv(out / "metrics.csv", index=False)
        env_steps = int(history["env_steps"].iloc[-1])
        steps_per_s = env_steps / max(train_seconds, 1e-9)

        # Greedy policy on the validation split's fixed list, vs the baselines.
        valid = task.episodes("valid", stride=task.data.episode_len)
        positions = rl_positions(algo, task, valid, action_type=action_type, cost=cost)
        scored = versus_baselines(label, positions, task, valid, cost, seed=args.seed)

        # storage_path is absolute or a URI (s3://...), which pathlib would mangle.
        saved = algo.save_to_path(f"{storage_path(args).rstrip('/')}/checkpoint-{label}")
        algo.stop()
        restored = Algorithm.from_checkpoint(saved)
        same = np.array_equal(
            rl_positions(restored, task, valid, action_type=action_type, cost=cost), positions
        )
        restored.stop()
        if not same:
            print("[rl] WARNING: the restored policy chose different validation positions")
    finally:
        ray.shutdown()

    lines = [
        f"# RLlib {label.upper()} on the trading env",
        "",
        f"- {task.describe(cost)}",
        f"- cost model: {args.cost}; seed {args.seed}; {iterations} iterations; "
        f"{env_steps} env steps ({history['episodes'].iloc[-1]} episodes) in "
        f"{train_seconds:.1f}s = {steps_per_s:.0f} env-steps/s of training",
        f"- last iteration: episode return mean {history['episode_return_mean'].iloc[-1]:+.4f}, "
        f"excess over buy&hold {history['excess_return'].iloc[-1]:+.4f} (training episodes, "
        "exploring policy)",
        f"- checkpoint: {saved} (restored: "
        f"{'same validation positions' if same else 'DIFFERENT positions'})",
        "",
        f"Validation: fixed non-overlapping {task.data.episode_len}-day episodes, greedy policy. "
        f"{exit_cost_note(cost)}",
        "",
        *scored.markdown(seed=args.seed),
        "",
        "The test split is untouched here (experiments/compare.py reports it).",
    ]
    (out / "summary.md").write_text("\n".join(lines) + "\n")
    track.means(scored.rows(), prefix="valid_mean")  # the summary table
    track.artifacts([out / "metrics.csv", out / "summary.md"])
    track.finish()
    print("\n".join(lines))
    return 0 if same else 1


if __name__ == "__main__":
    run(main)
