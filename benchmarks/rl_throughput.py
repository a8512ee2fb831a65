"""RL training throughput: env-steps/s of PPO training, stable-baselines3 vs our RLlib PPO.

Times, in the same run and on the same env (``quantray.envs.trading_env.TradingEnv()``: the
bundled data, raw features, ``Discrete(11)`` positions, E = 20-step episodes):

- stable-baselines3 PPO with its defaults (n_steps 2048 per env, n_epochs 10, batch_size 64,
  64x64 tanh MLP for actor and critic), on 1 and 16 envs through SB3's ``make_vec_env``
  (``DummyVecEnv`` + ``Monitor``, the usual SB3 setup). Only when ``stable_baselines3`` is
  importable (``pip install stable-baselines3``; it is not a quantray dependency).
- our RLlib PPO (``quantray.rl.config.ppo_config``) with the same hyperparameters:
  train_batch_size 2048 x n_envs per iteration, num_epochs 10, minibatch_size 64, 64x64 MLP,
  the same number of envs stepped as one batch (``num_envs_per_env_runner``) and
  ``num_env_runners=0`` (sampling in the driver process, like SB3). Quantray's path: the
  ``LeanPPOTorchLearner`` and the lean sampling connectors over ``TradingVectorEnv``.
- the same RLlib PPO with RLlib's stock learner and connector pipelines ("RLlib PPO
  stock", ``lean_learner=False, lean_sampling=False``; ``--no-stock`` skips it): the
  baseline the issue's 0.55x reference describes.
- our RLlib SAC with quantray's smoke settings (``sac_config(smoke=True)``: 4 envs, one
  64-sample update per 80 env steps) on the ``Box(0, 1)`` variant, for reference.

Each contender runs one warm-up iteration (model build, first rollout, torch warm-up), then
``--iterations`` timed iterations; env-steps/s = env steps sampled in the timed iterations /
their wall-clock seconds. One iteration = one rollout of 2048 x n_envs env steps plus the
10-epoch update on it, for SB3 and RLlib alike; RLlib's iteration also runs its connector
pipelines (GAE, batching), its metrics reduction and the weight sync from learner to the
env runner, all counted in its time.

Prints a table, the ratio ours / SB3 (and stock / SB3) per number of envs, and the
target (ours >= 1.0x). A 1-env iteration takes ~0.7 s: use more --iterations for a steadier
figure there.

    python benchmarks/rl_throughput.py [--iterations 2] [--envs 1,16] [--skip-sb3]
                                       [--no-stock] [--n-steps 2048] [--sac-iterations 50]
                                       [--torch-threads 1]
"""

from __future__ import annotations

import argparse
import os
import time
import warnings
from dataclasses import dataclass

import torch

import quantray.envs  # noqa: F401  (registers quantray/TradingEnv-v0)
from quantray.envs.trading_env import TradingEnv

TARGET = 1.0
"""Our PPO's env-steps/s must be at least this multiple of SB3's at matched settings."""

REFERENCE = {
    ("SB3 PPO", 1): 1160.0,
    ("SB3 PPO", 16): 2290.0,
    ("RLlib PPO stock", 1): 645.0,
    ("RLlib PPO stock", 16): 1309.0,
}
"""Issue 6's reference env-steps/s, measured on gym-anytrading on this kind of machine
(RLlib's stock PPO learner and pipelines, matched to SB3's defaults)."""

SB3_N_EPOCHS = 10
SB3_BATCH_SIZE = 64
SB3_HIDDEN = 64
"""SB3 PPO's defaults (n_steps is a flag, default 2048), matched on the RLlib side."""


@dataclass
class Row:
    """One line of the table: a contender's timed iterations."""

    name: str
    num_envs: int
    env_steps: int
    seconds: float
    note: str = ""

    @property
    def rate(self) -> float:
        """Env steps per wall-clock second of training."""
        return self.env_steps / self.seconds


def sb3_available() -> bool:
    """True when stable-baselines3 can be imported (it is optional, benchmark-only)."""
    try:
        import stable_baselines3  # noqa: F401
    except ImportError:
        return False
    return True


def time_sb3_ppo(num_envs: int, n_steps: int, iterations: int, seed: int = 0) -> Row:
    """SB3 PPO with its defaults on ``num_envs`` TradingEnvs; times ``iterations`` rollouts
    of ``n_steps`` x ``num_envs`` env steps (each followed by its 10-epoch update)."""
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import DummyVecEnv

    vec_env = make_vec_env(TradingEnv, n_envs=num_envs, seed=seed, vec_env_cls=DummyVecEnv)
    model = PPO(
        "MlpPolicy",
        vec_env,
        n_steps=n_steps,
        batch_size=SB3_BATCH_SIZE,
        n_epochs=SB3_N_EPOCHS,
        seed=seed,
        device="cpu",
        verbose=0,
    )
    per_iteration = n_steps * num_envs
    # Warm-up: one full rollout + update (allocations, torch's first-call costs).
    model.learn(total_timesteps=per_iteration)
    start_steps = model.num_timesteps
    start = time.perf_counter()
    # reset_num_timesteps=False: total_timesteps counts on from the warm-up, so learn()
    # stops after exactly ``iterations`` more rollouts.
    model.learn(total_timesteps=iterations * per_iteration, reset_num_timesteps=False)
    seconds = time.perf_counter() - start
    vec_env.close()
    note = f"batch {per_iteration}, {SB3_N_EPOCHS} epochs, minibatch {SB3_BATCH_SIZE}"
    return Row("SB3 PPO", num_envs, model.num_timesteps - start_steps, seconds, note)


def _time_rllib(name: str, config, num_envs: int, iterations: int, warmup: int, note: str) -> Row:
    """Builds ``config``, runs ``warmup`` untimed then ``iterations`` timed ``train()`` calls;
    env steps come from RLlib's lifetime counter, so a batch that overshoots is counted."""
    algo = config.build_algo()
    try:
        result = {}
        for _ in range(warmup):
            result = algo.train()
        start_steps = result.get("num_env_steps_sampled_lifetime", 0)
        start = time.perf_counter()
        for _ in range(iterations):
            result = algo.train()
        seconds = time.perf_counter() - start
        env_steps = int(result["num_env_steps_sampled_lifetime"] - start_steps)
    finally:
        algo.stop()
    return Row(name, num_envs, env_steps, seconds, note)


def time_rllib_ppo(
    num_envs: int, n_steps: int, iterations: int, seed: int = 0, lean: bool = True
) -> Row:
    """Our RLlib PPO with SB3's defaults: batch n_steps x num_envs, 10 epochs, minibatch 64.

    ``lean=True`` is quantray's path (``LeanPPOTorchLearner`` + the lean sampling connectors
    and ``TradingVectorEnv``); ``lean=False`` is RLlib's stock learner and pipelines."""
    from quantray.config import PPOSettings
    from quantray.rl.config import ppo_config

    settings = PPOSettings(
        num_envs=num_envs,
        train_batch_size=n_steps * num_envs,
        minibatch_size=SB3_BATCH_SIZE,
        num_epochs=SB3_N_EPOCHS,
        hidden=SB3_HIDDEN,
    )
    config = ppo_config(
        {},
        settings,
        seed=seed,
        num_env_runners=0,
        lean_learner=lean,
        lean_sampling=lean,
    )
    note = f"batch {n_steps * num_envs}, {SB3_N_EPOCHS} epochs, minibatch {SB3_BATCH_SIZE}"
    name = "RLlib PPO" if lean else "RLlib PPO stock"
    return _time_rllib(name, config, num_envs, iterations, warmup=1, note=note)


def time_rllib_sac(iterations: int, seed: int = 0) -> Row:
    """Our RLlib SAC with quantray's smoke settings; the warm-up covers the learning start."""
    from quantray.rl.config import sac_config

    config = sac_config({}, smoke=True, seed=seed)
    envs = config.num_envs_per_env_runner
    # Two untimed iterations: the first only fills the buffer (learning starts after one
    # sampling round), the second runs the first (slow, warm-up) update.
    steps = config.rollout_fragment_length * envs
    note = f"{steps} steps/iter, {config.train_batch_size_per_learner}-sample updates"
    return _time_rllib("RLlib SAC (smoke)", config, envs, iterations, warmup=2, note=note)


def print_table(rows: list[Row]) -> None:
    header = f"{'contender':<20} {'envs':>4} {'env steps':>10} {'seconds':>8} {'steps/s':>9}"
    print(header + f" {'issue ref':>9}  notes")
    print("-" * (len(header) + 40))
    for row in rows:
        ref = REFERENCE.get((row.name, row.num_envs))
        ref_text = f"{ref:9,.0f}" if ref else f"{'':>9}"
        print(
            f"{row.name:<20} {row.num_envs:>4} {row.env_steps:>10,} {row.seconds:>8.2f} "
            f"{row.rate:>9,.0f} {ref_text}  {row.note}"
        )


def print_ratios(rows: list[Row], envs: list[int]) -> bool:
    """Prints ours / SB3 (and RLlib stock / SB3) per number of envs; True when every
    ratio of ours meets the target."""
    by_key = {(r.name, r.num_envs): r for r in rows}
    ok = True
    for n in envs:
        ours, stock, sb3 = (
            by_key.get((name, n)) for name in ("RLlib PPO", "RLlib PPO stock", "SB3 PPO")
        )
        if ours is None or sb3 is None:
            continue
        ratio = ours.rate / sb3.rate
        ok &= ratio >= TARGET
        verdict = "meets" if ratio >= TARGET else "BELOW"
        line = f"ratio ours/SB3 at {n:>2} env(s): {ratio:.2f}x ({verdict} target >= {TARGET:.1f}x)"
        if stock is not None:
            line += f"; RLlib stock/SB3 {stock.rate / sb3.rate:.2f}x"
        if ("RLlib PPO stock", n) in REFERENCE:
            ref = REFERENCE[("RLlib PPO stock", n)] / REFERENCE[("SB3 PPO", n)]
            line += f" (issue reference on gym-anytrading: {ref:.2f}x)"
        print(line)
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--iterations", type=int, default=2, help="timed PPO iterations per contender"
    )
    parser.add_argument("--envs", default="1,16", help="comma-separated numbers of envs, e.g. 1,16")
    parser.add_argument("--skip-sb3", action="store_true", help="time only our RLlib runs")
    parser.add_argument(
        "--stock",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also time RLlib's stock PPO learner and sampling pipelines (default: on)",
    )
    parser.add_argument(
        "--n-steps", type=int, default=2048, help="rollout steps per env per iteration"
    )
    parser.add_argument(
        "--torch-threads",
        type=int,
        default=1,
        help="torch intra-op threads for both frameworks (0: torch's default, one per core)",
    )
    parser.add_argument(
        "--sac-iterations", type=int, default=50, help="timed SAC iterations (80 steps each)"
    )
    args = parser.parse_args()
    envs = [int(n) for n in args.envs.split(",") if n.strip()]
    if not envs or min(envs) < 1 or args.iterations < 1 or args.n_steps < 1:
        parser.error(
            f"got --envs {args.envs!r}, --iterations {args.iterations}, --n-steps "
            f"{args.n_steps}; expected positive integers (e.g. --envs 1,16 --iterations 2)"
        )
    # SB3 PPO's n_steps x n_envs must be divisible into minibatches of 64 without a
    # truncated last one; RLlib does not mind, but keep the comparison exact.
    if (args.n_steps * min(envs)) % SB3_BATCH_SIZE:
        print(f"note: n_steps x envs is not a multiple of {SB3_BATCH_SIZE}; SB3 will warn")

    # One torch thread by default: on 2 cores, two spinning intra-op threads beside Ray's
    # processes (or any other load) slowed RLlib's 16-env PPO by up to 10x from run to run,
    # while 64-sample minibatches gain nothing from a second thread.
    if args.torch_threads > 0:
        torch.set_num_threads(args.torch_threads)
    warnings.filterwarnings("ignore", category=UserWarning)
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    run_sb3 = not args.skip_sb3 and sb3_available()
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs; "
        f"ray {ray.__version__}; n_steps {args.n_steps}, {args.iterations} timed iteration(s) "
        "after 1 warm-up"
    )
    if not run_sb3:
        reason = "--skip-sb3" if args.skip_sb3 else "stable_baselines3 is not importable"
        print(f"SB3 skipped ({reason}); install it with `pip install stable-baselines3`.")
    rows: list[Row] = []
    try:
        for n in envs:
            if run_sb3:
                rows.append(time_sb3_ppo(n, args.n_steps, args.iterations))
                print(f"  done: SB3 PPO, {n} env(s): {rows[-1].rate:,.0f} steps/s", flush=True)
            for lean in (True, False) if args.stock else (True,):
                rows.append(time_rllib_ppo(n, args.n_steps, args.iterations, lean=lean))
                print(
                    f"  done: {rows[-1].name}, {n} env(s): {rows[-1].rate:,.0f} steps/s", flush=True
                )
        rows.append(time_rllib_sac(args.sac_iterations))
    finally:
        ray.shutdown()
    print()
    print_table(rows)
    print()
    print_ratios(rows, envs)


if __name__ == "__main__":
    main()
