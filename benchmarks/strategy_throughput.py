"""Stage-2 training throughput: episodes/s of one full step vs batch size.

One step = StrategyGRU forward over E days (Gumbel-softmax, fed-back positions, accounting
with costs and the price-limit rule) + StrategyLoss + backward + AdamW. The baseline is the
smallest batch size measured in the same run; the table prints each batch size's speed-up
over it (the GRU recursion is sequential over E, so throughput comes from the batch axis).

    python benchmarks/strategy_throughput.py                      # CPU, ~30-50 s
    python benchmarks/strategy_throughput.py --device cuda --batch-sizes 64 256 1024 4096
"""

from __future__ import annotations

import argparse
import time

import torch

from quantray.accounting import limit_flags
from quantray.config import CostConfig, StrategyConfig
from quantray.losses.strategy import StrategyLoss
from quantray.models.strategy_gru import StrategyGRU, anneal_tau


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="cpu | cuda | auto (cuda if available)")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[16, 64, 256, 1024])
    parser.add_argument("--feature-dim", type=int, default=64, help="D, frozen feature width")
    parser.add_argument("--episode-len", type=int, default=20, help="E, days per episode")
    parser.add_argument("--hidden-size", type=int, default=64)
    parser.add_argument("--cost", default="cn_a_share", help="none | us_equity | cn_a_share")
    parser.add_argument(
        "--seconds", type=float, default=3.0, help="timed seconds per batch size (after warm-up)"
    )
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps per batch size")
    parser.add_argument(
        "--budget",
        type=float,
        default=50.0,
        help="total seconds; larger batch sizes are skipped (and said so) once it is spent",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=0,
        help="torch CPU threads (0 = torch default). The per-day matmuls are small: on a "
        "busy or 2-core machine --threads 1 is often faster",
    )
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args()


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise SystemExit(
            f"--device {name}: no CUDA device is visible to torch {torch.__version__}; "
            "run with --device cpu or on a GPU machine"
        )
    return torch.device(name)


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure(
    batch: int,
    args: argparse.Namespace,
    cfg: StrategyConfig,
    cost: CostConfig,
    device: torch.device,
) -> tuple[int, float]:
    """Run warm-up + timed steps at one batch size; return (timed steps, seconds)."""
    gen = torch.Generator(device="cpu").manual_seed(args.seed)
    # [B, E, D] features and [B, E] fat-tailed returns so limit days occur under cn_a_share.
    features = torch.randn(batch, args.episode_len, args.feature_dim, generator=gen)
    next_returns = (torch.randn(batch, args.episode_len, generator=gen) * 0.03).clamp(-0.1, 0.1)
    # [B, 1] ++ [B, E-1] -> [B, E]: return INTO each day, known at its close.
    into_day = torch.cat([torch.zeros(batch, 1), next_returns[:, :-1]], dim=1)
    limit_up, limit_down = limit_flags(into_day, cost.price_limit)
    features, next_returns = features.to(device), next_returns.to(device)
    # Trade permissions: no buying into a limit-up close, no selling into a limit-down one.
    can_buy, can_sell = (~limit_up).to(device), (~limit_down).to(device)

    torch.manual_seed(args.seed)
    model = StrategyGRU(cfg).to(device)
    loss_fn = StrategyLoss(cfg, cost)
    opt = torch.optim.AdamW(
        model.parameters(),
        lr=cfg.lr,
        weight_decay=cfg.weight_decay,
        fused=device.type == "cuda",
    )

    def step(i: int) -> None:
        out = model(
            features,
            next_returns,
            cost,
            training=True,
            tau=anneal_tau(i, cfg),
            can_buy=can_buy,
            can_sell=can_sell,
        )
        loss, _ = loss_fn(out, next_returns, can_buy=can_buy, can_sell=can_sell)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()

    for i in range(args.warmup):
        step(i)
    synchronize(device)
    steps, start = 0, time.perf_counter()
    # At least 2 timed steps; otherwise stop once the time budget is spent.
    while steps < 2 or time.perf_counter() - start < args.seconds:
        step(args.warmup + steps)
        steps += 1
        if steps % 5 == 0:
            synchronize(device)
    synchronize(device)
    return steps, time.perf_counter() - start


def main() -> None:
    args = parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    cfg = StrategyConfig(feature_dim=args.feature_dim, hidden_size=args.hidden_size)
    cost = CostConfig.preset(args.cost)
    print(
        f"strategy throughput: device={device}, torch={torch.__version__}, "
        f"threads={torch.get_num_threads()}, D={args.feature_dim}, E={args.episode_len}, "
        f"hidden={cfg.hidden_size}, A={cfg.n_actions}, cost={args.cost}, "
        f"params={StrategyGRU(cfg).num_params():,}"
    )
    print(f"{'batch':>7} {'steps':>6} {'ms/step':>9} {'episodes/s':>12} {'x vs first':>11}")
    baseline: float | None = None
    run_start = time.perf_counter()
    for batch in args.batch_sizes:
        if time.perf_counter() - run_start > args.budget:
            print(f"{batch:>7}  skipped: --budget {args.budget:.0f}s spent")
            continue
        steps, seconds = measure(batch, args, cfg, cost, device)
        rate = batch * steps / seconds
        baseline = rate if baseline is None else baseline
        print(
            f"{batch:>7} {steps:>6} {1000 * seconds / steps:>9.1f} {rate:>12,.0f} "
            f"{rate / baseline:>10.2f}x"
        )
    print(f"baseline: batch {args.batch_sizes[0]} in this run")


if __name__ == "__main__":
    main()
