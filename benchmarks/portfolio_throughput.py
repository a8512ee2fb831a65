"""Portfolio throughput: env-steps/s of PortfolioEnv and trainer episodes/s, at N = 10 and 100.

Measured in the same run on a synthetic universe of N assets (``quantray.data.synthetic``,
raw features, window 60), against the single-asset counterparts per asset:

- env: ``PortfolioEnv`` (single) and ``PortfolioVectorEnv`` at M envs, random score actions;
  each step moves N assets, so the ratio printed is portfolio ASSET-steps/s over the
  single-asset ``TradingVectorEnv``'s env-steps/s at the same M (and single env vs single env);
- trainer: episodes/s of one training step (forward over E days + loss + backward + AdamW)
  of ``PortfolioStrategy`` at batch B, against the single-asset ``StrategyGRU`` step at
  batch B x N (the same asset-episodes): ratio = portfolio episodes/s x N / single-asset
  episodes/s.

    python benchmarks/portfolio_throughput.py [--assets 10 100] [--vector-envs 1024]
                                              [--seconds 3] [--smoke-test]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
import torch

from quantray.config import CostConfig, DataConfig, PortfolioConfig, StrategyConfig
from quantray.data import load_task
from quantray.data.synthetic import generate
from quantray.data.universe import PortfolioTask
from quantray.envs import PortfolioEnv, PortfolioVectorEnv, TradingEnv, TradingVectorEnv
from quantray.losses.portfolio import PortfolioLoss
from quantray.losses.strategy import StrategyLoss
from quantray.models.portfolio_strategy import PortfolioStrategy
from quantray.models.strategy_gru import StrategyGRU
from quantray.train.portfolio import PortfolioBatch

COST = CostConfig.preset("us_equity")


def rate(step: Callable[[], int], seconds: float) -> float:
    """Units per second of ``step`` (which returns the units it did), after one warm-up call."""
    step()
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        done += step()
    return done / (time.perf_counter() - start)


def env_rates(task: PortfolioTask, m: int, seconds: float) -> dict[str, float]:
    rng = np.random.default_rng(0)
    n = task.n_assets
    single = PortfolioEnv(task=task, cost=COST)
    single.reset(seed=0)
    actions = rng.uniform(-1, 1, size=(256, n + 1)).astype(np.float32)

    def single_step() -> int:
        for a in actions[:64]:
            _, _, _, trunc, _ = single.step(a)
            if trunc:
                single.reset()
        return 64

    vec = PortfolioVectorEnv(m, task=task, cost=COST)
    vec.reset(seed=0)
    batch = rng.uniform(-1, 1, size=(m, n + 1))

    def vec_step() -> int:
        vec.step(batch)
        return m

    flat = TradingEnv(task=task.task, action_type="continuous", cost=COST)
    flat.reset(seed=0)

    def flat_step() -> int:
        for a in actions[:64, :1]:
            _, _, _, trunc, _ = flat.step(a)
            if trunc:
                flat.reset()
        return 64

    flat_vec = TradingVectorEnv(m, task=task.task, action_type="continuous", cost=COST)
    flat_vec.reset(seed=0)
    flat_actions = rng.uniform(0, 1, size=(m, 1)).astype(np.float32)

    def flat_vec_step() -> int:
        flat_vec.step(flat_actions)
        return m

    return {
        "portfolio single": rate(single_step, seconds),
        "portfolio vector": rate(vec_step, seconds),
        "single-asset single": rate(flat_step, seconds),
        "single-asset vector": rate(flat_vec_step, seconds),
    }


def trainer_rates(task: PortfolioTask, batch: int, seconds: float) -> dict[str, float]:
    n = task.n_assets
    config = PortfolioConfig()
    model = PortfolioStrategy(config, task.dim)
    loss_fn = PortfolioLoss(config, COST)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    eps = task.episodes("train")
    data = PortfolioBatch.build(eps, task.task.table, COST, np.arange(batch) % len(eps))

    def portfolio_step() -> int:
        loss, _ = loss_fn(data.run(model, COST), data.mask, data.next_returns)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return batch

    s_config = StrategyConfig(feature_dim=task.dim, hidden_size=config.hidden_size)
    gru = StrategyGRU(s_config)
    s_loss = StrategyLoss(s_config, COST)
    s_opt = torch.optim.AdamW(gru.parameters(), lr=1e-3)
    E = task.episode_len
    feats = torch.randn(batch * n, E, task.dim)
    rets = torch.randn(batch * n, E) * 0.01

    def single_step() -> int:
        loss, _ = s_loss(gru(feats, rets, COST, training=True), rets)
        s_opt.zero_grad()
        loss.backward()
        s_opt.step()
        return batch * n

    return {
        "portfolio": rate(portfolio_step, seconds),
        "single-asset": rate(single_step, seconds),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--assets", type=int, nargs="+", default=[10, 100])
    parser.add_argument("--vector-envs", type=int, default=1024)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--smoke-test", action="store_true")
    args = parser.parse_args()
    if args.smoke_test:
        args.assets, args.vector_envs, args.seconds, args.batch_size = [4], 16, 0.2, 4
    torch.set_num_threads(args.threads)
    print(f"portfolio throughput (torch threads {args.threads}; a shared CPU: compare ratios)")
    for n in args.assets:
        bars = {s: f.drop(columns="regime") for s, f in generate(n, 1000, seed=0).items()}
        task = PortfolioTask.from_task(load_task(bars=bars, data_config=DataConfig(window=60)))
        env = env_rates(task, args.vector_envs, args.seconds)
        print(f"\nN = {n} assets")
        print(
            f"  env single: {env['portfolio single']:,.0f} steps/s = "
            f"{env['portfolio single'] * n:,.0f} asset-steps/s vs single-asset env "
            f"{env['single-asset single']:,.0f} steps/s: "
            f"{env['portfolio single'] * n / env['single-asset single']:.2f}x per asset"
        )
        print(
            f"  env vector (M={args.vector_envs}): {env['portfolio vector']:,.0f} env-steps/s = "
            f"{env['portfolio vector'] * n:,.0f} asset-steps/s vs single-asset vector env "
            f"{env['single-asset vector']:,.0f}: "
            f"{env['portfolio vector'] * n / env['single-asset vector']:.2f}x per asset"
        )
        tr = trainer_rates(task, args.batch_size, args.seconds)
        print(
            f"  trainer (B={args.batch_size}): {tr['portfolio']:,.1f} episodes/s x N = "
            f"{tr['portfolio'] * n:,.0f} asset-episodes/s vs single-asset trainer "
            f"{tr['single-asset']:,.0f} episodes/s: {tr['portfolio'] * n / tr['single-asset']:.2f}x"
        )


if __name__ == "__main__":
    main()
