"""Env throughput: steps/s of the trading env, single and batched, vs gym-anytrading.

Times, in the same run and interleaved round by round (so machine load hits every
contender alike; each row keeps its best round):

- baseline: gym-anytrading's ``StocksEnv`` ("stocks-v0", its bundled GOOGL data) through
  ``gymnasium.make``, with and without the passive env checker (only when ``gym_anytrading``
  is importable: ``pip install gym-anytrading``; it is not a quantray dependency);
- ours, single: ``gymnasium.make("quantray/TradingEnv-v0", ...)`` on the bundled data,
  random actions, resetting whenever an episode ends (every 20 steps, where gym-anytrading
  runs one ~2,300-step episode), with and without the env checker, discrete and continuous
  actions, with a price-limit cost model;
- ours, batched: ``TradingVectorEnv`` at N = 1, 64, 1024 (env-steps/s = N x step calls/s;
  with NEXT_STEP autoreset one call in 21 is a reset step), and Gymnasium's
  ``SyncVectorEnv`` over N = 64 single envs for reference.

- RLlib PPO training on our env (when Ray is importable; ``--no-rl`` skips it): env-steps/s
  of quantray's PPO path with stable-baselines3's default hyperparameters (2048 steps per
  env, 10 epochs, minibatch 64, 64x64) on 1 and 16 envs. The same-run comparison against
  SB3 itself is ``benchmarks/rl_throughput.py``.

Prints a table, the ratios, and the targets: single env >= 2x gym-anytrading; vector env
>= 20M env-steps/s at N = 1024.

    python benchmarks/env_throughput.py [--steps 50000] [--vector-env-steps 2000000]
                                        [--repeats 5] [--no-rl] [--smoke-test]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import gymnasium as gym
import numpy as np

import quantray.envs  # noqa: F401  (registers quantray/TradingEnv-v0)
from quantray.envs import TradingVectorEnv, shared_task

try:
    import gym_anytrading  # noqa: F401  (registers stocks-v0)

    HAVE_ANYTRADING = True
except ImportError:
    HAVE_ANYTRADING = False

SINGLE_TARGET = 2.0
"""Single env: at least this many times gym-anytrading's steps/s."""
VECTOR_TARGET = 20e6
"""Vector env at N = 1024: at least this many env-steps/s."""


@dataclass
class Contender:
    """One row of the table: a prepared runner and its best round so far."""

    name: str
    run: Callable[[], int]
    """Runs one round; returns the number of env-steps taken."""
    num_envs: int = 1
    best_wall: float = 0.0
    """Best env-steps per wall-clock second."""
    best_cpu: float = 0.0
    """Best env-steps per CPU second of this process."""
    group: str = field(default="single")


def single_runner(env: gym.Env, actions: np.ndarray) -> Callable[[], int]:
    """A round of ``len(actions)`` steps with resets on episode end (a hand-written loop)."""
    env.reset(seed=0)

    def run() -> int:
        env.reset()
        for action in actions:
            _, _, terminated, truncated, _ = env.step(action)
            if terminated or truncated:
                env.reset()
        return len(actions)

    return run


def vector_runner(envs: gym.vector.VectorEnv, n_calls: int, seed: int = 0) -> Callable[[], int]:
    """A round of ``n_calls`` batched steps; actions cycle through 64 pre-drawn batches."""
    rng = np.random.default_rng(seed)
    actions = [envs.action_space.sample() for _ in range(64)]
    envs.action_space.seed(int(rng.integers(2**31)))
    envs.reset(seed=seed)

    def run() -> int:
        for i in range(n_calls):
            envs.step(actions[i % 64])
        return n_calls * envs.num_envs

    return run


def build(args: argparse.Namespace) -> list[Contender]:
    rng = np.random.default_rng(0)
    n = args.steps
    discrete = rng.integers(0, 11, size=n)  # iterating yields np.int64, as RL clients send
    continuous = rng.random((n, 1), dtype=np.float32)
    rows: list[Contender] = []
    if HAVE_ANYTRADING:
        binary = rng.integers(0, 2, size=n)
        for checker in (True, False):
            env = gym.make("stocks-v0", disable_env_checker=not checker)
            label = "checker" if checker else "no checker"
            rows.append(
                Contender(f"gym-anytrading stocks-v0, make, {label}", single_runner(env, binary))
            )
    ours = "quantray/TradingEnv-v0"
    for checker in (True, False):
        env = gym.make(ours, cost="us_equity", disable_env_checker=not checker)
        label = "checker" if checker else "no checker"
        rows.append(Contender(f"TradingEnv discrete, make, {label}", single_runner(env, discrete)))
    env = gym.make(ours, cost="us_equity", action_type="continuous", disable_env_checker=True)
    rows.append(
        Contender("TradingEnv continuous, make, no checker", single_runner(env, continuous))
    )
    env = gym.make(ours, cost="cn_a_share", disable_env_checker=True)
    rows.append(Contender("TradingEnv cn_a_share limits, no checker", single_runner(env, discrete)))

    task = shared_task()
    sync = gym.make_vec(ours, num_envs=64, vectorization_mode="sync", cost="us_equity")
    calls = max(1, args.vector_env_steps // 64 // 8)  # SyncVectorEnv is slow: fewer calls
    rows.append(
        Contender("SyncVectorEnv(TradingEnv) N=64", vector_runner(sync, calls), 64, group="vector")
    )
    for N in (1, 64, 1024):
        envs = TradingVectorEnv(N, task=task, cost="us_equity")
        calls = max(21, args.vector_env_steps // N // (8 if N == 1 else 1))
        rows.append(
            Contender(f"TradingVectorEnv N={N}", vector_runner(envs, calls), N, group="vector")
        )
    envs = TradingVectorEnv(1024, task=task, cost="us_equity", copy=False)
    calls = max(21, args.vector_env_steps // 1024)
    rows.append(
        Contender(
            "TradingVectorEnv N=1024, copy=False", vector_runner(envs, calls), 1024, group="vector"
        )
    )
    return rows


def measure(rows: list[Contender], repeats: int) -> None:
    for row in rows:  # warm-up: first steps, lazy imports, caches
        row.run()
    for _ in range(repeats):
        for row in rows:
            wall0, cpu0 = time.perf_counter(), time.process_time()
            steps = row.run()
            wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
            row.best_wall = max(row.best_wall, steps / wall)
            row.best_cpu = max(row.best_cpu, steps / max(cpu, 1e-9))


def report(rows: list[Contender]) -> None:
    by_name = {row.name: row for row in rows}
    base_on = by_name.get("gym-anytrading stocks-v0, make, checker")
    base_off = by_name.get("gym-anytrading stocks-v0, make, no checker")

    def baseline(row: Contender) -> Contender | None:
        return base_off if "no checker" in row.name or row.group == "vector" else base_on

    print(f"{'contender':44s} {'env-steps/s':>12s} {'cpu-time':>12s}   vs anytrading (wall, cpu)")
    for row in rows:
        base = baseline(row)
        ratio = (
            f"{row.best_wall / base.best_wall:8.2f}x {row.best_cpu / base.best_cpu:7.2f}x"
            if base
            else "     n/a"
        )
        print(f"{row.name:44s} {row.best_wall:12,.0f} {row.best_cpu:12,.0f}   {ratio}")
    print()
    ours_on = by_name["TradingEnv discrete, make, checker"]
    ours_off = by_name["TradingEnv discrete, make, no checker"]
    if base_on and base_off:
        for ours, base, label in (
            (ours_on, base_on, "checker"),
            (ours_off, base_off, "no checker"),
        ):
            wall, cpu = ours.best_wall / base.best_wall, ours.best_cpu / base.best_cpu
            verdict = "meets" if min(wall, cpu) >= SINGLE_TARGET else "misses"
            print(
                f"single env vs gym-anytrading ({label}): {wall:.2f}x wall, {cpu:.2f}x cpu-time "
                f"({verdict} the {SINGLE_TARGET:.0f}x target)"
            )
    else:
        print("gym-anytrading not importable: `pip install gym-anytrading` to get the baseline")
    big = by_name["TradingVectorEnv N=1024"]
    sync = by_name["SyncVectorEnv(TradingEnv) N=64"]
    verdict = "meets" if min(big.best_wall, big.best_cpu) >= VECTOR_TARGET else "misses"
    print(
        f"vector env N=1024: {big.best_wall / 1e6:.1f}M env-steps/s wall, "
        f"{big.best_cpu / 1e6:.1f}M cpu-time ({verdict} the {VECTOR_TARGET / 1e6:.0f}M target); "
        f"{big.best_wall / ours_off.best_wall:.0f}x our single env, "
        f"{big.best_wall / sync.best_wall:.0f}x SyncVectorEnv(N=64)"
    )
    print(
        "(best round of each; wall = env-steps per wall-clock second; cpu-time = per CPU-second "
        "of this process, which other load on the machine disturbs less)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=50_000, help="single-env steps per round")
    parser.add_argument(
        "--vector-env-steps", type=int, default=2_000_000, help="vector env-steps per round"
    )
    parser.add_argument("--repeats", type=int, default=5, help="interleaved rounds")
    parser.add_argument(
        "--rl",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also time RLlib PPO training on the env (needs Ray; default: on)",
    )
    parser.add_argument("--smoke-test", action="store_true", help="tiny run, seconds")
    args = parser.parse_args()
    n_steps = 2048
    if args.smoke_test:
        args.steps, args.vector_env_steps, args.repeats = 2_000, 50_000, 1
        n_steps = 128
    rows = build(args)
    measure(rows, args.repeats)
    report(rows)
    if args.rl:
        report_rl_training(n_steps)


def report_rl_training(n_steps: int) -> None:
    """RLlib PPO training env-steps/s on our env at SB3's default settings, 1 and 16 envs."""
    try:
        import ray
        import torch
        from rl_throughput import time_rllib_ppo  # this directory is on sys.path
    except ImportError as err:
        print(f"\nRLlib PPO training skipped ({err}); `pip install -e .` installs Ray.")
        return
    torch.set_num_threads(1)  # as rl_throughput.py: see the note there
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        rows = [time_rllib_ppo(n, n_steps, iterations=1) for n in (1, 16)]
    finally:
        ray.shutdown()
    print(f"\nRLlib PPO training on our env (n_steps {n_steps} per env, 10 epochs, minibatch 64):")
    for row in rows:
        print(f"  {row.num_envs:>2} env(s): {row.rate:,.0f} env-steps/s ({row.env_steps:,} steps)")
    print("  vs stable-baselines3 in the same run: python benchmarks/rl_throughput.py")


if __name__ == "__main__":
    main()
