"""Stage-2 training throughput: the trainer's step against a plain PyTorch loop, same run.

One trainer step = ``StrategyGRU`` forward over E days (Gumbel-softmax, fed-back positions,
accounting with costs and, under ``--cost cn_a_share``, the price-limit rule) +
``StrategyLoss`` + backward + gradient clipping + AdamW: exactly what
``quantray.train.strategy.train_strategy`` runs per optimizer step.

The baseline is a plain PyTorch loop written here, doing the same kind of work the obvious
way: an ``nn.GRUCell`` over [feature, previous position, t/E, episode return] with the
position fed back, the same two-layer head, ``F.gumbel_softmax``, linear (asymmetric) costs,
minus the mean episode net return as the loss, backward, AdamW. "reference" is the trainer's
own step-by-step path (``StrategyGRU._forward_reference``, what every step ran before the
fast path). Variants are timed in interleaved rounds at each batch size, so a load change on
a shared machine hits all of them; the printed ratios are medians over rounds of the same run.

    python benchmarks/strategy_throughput.py                      # CPU, ~1-2 min
    python benchmarks/strategy_throughput.py --batch-sizes 256 --rounds 3 --steps 2
    python benchmarks/strategy_throughput.py --threads 1 --clock cpu   # on a shared machine
    python benchmarks/strategy_throughput.py --device cuda --batch-sizes 1024 4096
    python benchmarks/strategy_throughput.py --device cuda --no-bf16 --compile \
        --compile-mode reduce-overhead --skip-reference --batch-sizes 4096
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from quantray.accounting import limit_flags
from quantray.config import CostConfig, StrategyConfig
from quantray.config.strategy import COMPILE_MODES
from quantray.losses.strategy import StrategyLoss
from quantray.models.strategy_gru import PORTFOLIO_STATE_SIZE, StrategyGRU, anneal_tau
from quantray.timing import synchronize


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="cpu | cuda | auto (cuda if available)")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[256, 1024, 4096])
    parser.add_argument("--feature-dim", type=int, default=128, help="D, frozen feature width")
    parser.add_argument("--episode-len", type=int, default=20, help="E, days per episode")
    parser.add_argument("--hidden-size", type=int, default=128)
    parser.add_argument("--head-hidden", type=int, default=64)
    parser.add_argument(
        "--cost",
        default="us_equity",
        help="none | us_equity | cn_a_share (cn_a_share adds the price-limit rule, which the "
        "plain loop does not model: the trainer then does more work than the baseline)",
    )
    parser.add_argument("--rounds", type=int, default=5, help="interleaved timing rounds")
    parser.add_argument("--steps", type=int, default=3, help="timed steps per variant per round")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps per variant")
    parser.add_argument(
        "--threads",
        type=int,
        default=0,
        help="torch CPU threads (0 = torch default). On a busy 2-core machine --threads 1 "
        "gives steadier numbers",
    )
    parser.add_argument("--skip-reference", action="store_true", help="time trainer vs plain only")
    parser.add_argument(
        "--bf16",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also time the trainer with StrategyConfig(bf16=True) against the float32 plain "
        "loop, and against the plain loop under the same bf16 autocast",
    )
    parser.add_argument(
        "--clock",
        choices=("wall", "cpu"),
        default="wall",
        help="wall: perf_counter; cpu: this process's CPU time (with --threads 1 on a shared "
        "machine, where other jobs inflate wall time; CPU device only)",
    )
    parser.add_argument(
        "--compile",
        action="store_true",
        help="also time the trainer with StrategyConfig(compile=True) (and bf16 unless "
        "--no-bf16); its compilation, once per batch size, is in the warm-up, not the timing",
    )
    parser.add_argument(
        "--compile-mode",
        default="default",
        choices=COMPILE_MODES,
        help="StrategyConfig.compile_mode of the compiled trainer (reduce-overhead: CUDA graphs)",
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.clock == "cpu" and args.device != "cpu":
        parser.error("--clock cpu measures CPU work: use it with --device cpu")
    return args


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise SystemExit(
            f"--device {name}: no CUDA device is visible to torch {torch.__version__}; "
            "run with --device cpu or on a GPU machine"
        )
    return torch.device(name)


class PlainLoop(nn.Module):
    """The baseline: GRUCell + head + Gumbel-softmax + linear costs, written the obvious way."""

    def __init__(self, feature_dim: int, hidden_size: int, head_hidden: int, n_actions: int):
        super().__init__()
        self.cell = nn.GRUCell(feature_dim + PORTFOLIO_STATE_SIZE, hidden_size)
        self.head = nn.Sequential(
            nn.Linear(hidden_size, head_hidden), nn.GELU(), nn.Linear(head_hidden, n_actions)
        )
        self.register_buffer("levels", torch.linspace(0.0, 1.0, n_actions))

    def forward(
        self, features: Tensor, next_returns: Tensor, cost: CostConfig, tau: float
    ) -> Tensor:
        """Minus the mean episode net return of a batch [B, E, D] / [B, E]."""
        batch, episode_len, _ = features.shape
        prev = features.new_zeros(batch)
        cum = features.new_zeros(batch)
        hidden = features.new_zeros(batch, self.cell.hidden_size)
        total = features.new_zeros(batch)
        for t in range(episode_len):
            day = features.new_full((batch,), t / episode_len)
            # [B, D] ++ [B, 3] -> [B, D + 3]
            x = torch.cat([features[:, t], torch.stack([prev, day, cum], dim=-1)], dim=-1)
            hidden = self.cell(x, hidden)
            probs = F.gumbel_softmax(self.head(hidden), tau=tau)  # [B, A]
            position = probs @ self.levels  # [B]
            delta = position - prev
            paid = cost.buy_rate * torch.relu(delta) + cost.sell_rate * torch.relu(-delta)
            net = position * next_returns[:, t] - paid
            cum = (1.0 + cum) * (1.0 + net) - 1.0
            total = total + net
            prev = position
        return -total.mean()


def make_steps(
    batch: int,
    args: argparse.Namespace,
    cfg: StrategyConfig,
    cost: CostConfig,
    device: torch.device,
) -> dict[str, Callable[[int], None]]:
    """One closure per variant running a full optimizer step at batch size ``batch``."""
    gen = torch.Generator(device="cpu").manual_seed(args.seed)
    # [B, E, D] features and [B, E] fat-tailed returns so limit days occur under cn_a_share.
    features = torch.randn(batch, args.episode_len, args.feature_dim, generator=gen)
    next_returns = (torch.randn(batch, args.episode_len, generator=gen) * 0.03).clamp(-0.1, 0.1)
    # [B, 1] ++ [B, E-1] -> [B, E]: return INTO each day, known at its close.
    into_day = torch.cat([torch.zeros(batch, 1), next_returns[:, :-1]], dim=1)
    limit_up, limit_down = limit_flags(into_day, cost.price_limit)
    features, next_returns = features.to(device), next_returns.to(device)
    blocked = bool(limit_up.any() or limit_down.any())
    # Trade permissions: no buying into a limit-up close, no selling into a limit-down one.
    can_buy = (~limit_up).to(device) if blocked else None
    can_sell = (~limit_down).to(device) if blocked else None
    fused = device.type == "cuda"

    def trainer_step(
        reference: bool, bf16: bool = False, compile: bool = False
    ) -> Callable[[int], None]:
        torch.manual_seed(args.seed)
        model = StrategyGRU(
            cfg.replace(bf16=bf16, compile=compile, compile_mode=args.compile_mode)
        ).to(device)
        forward = model._forward_reference if reference else model._forward_fast
        if compile:  # the public forward: it takes the compiled path in training
            forward = model

        loss_fn = StrategyLoss(cfg, cost)
        opt = torch.optim.AdamW(
            model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay, fused=fused
        )

        def step(i: int) -> None:
            out = forward(
                features,
                next_returns,
                cost,
                True,
                anneal_tau(i, cfg),
                0.0,
                can_buy,
                can_sell,
                False,
            )
            loss, _ = loss_fn(out, next_returns, can_buy=can_buy, can_sell=can_sell)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            opt.step()

        return step

    torch.manual_seed(args.seed)
    plain = PlainLoop(args.feature_dim, cfg.hidden_size, cfg.head_hidden, cfg.n_actions)
    plain = plain.to(device)
    plain_opt = torch.optim.AdamW(plain.parameters(), lr=cfg.lr, fused=fused)

    def plain_step(i: int) -> None:
        loss = plain(features, next_returns, cost, anneal_tau(i, cfg))
        plain_opt.zero_grad(set_to_none=True)
        loss.backward()
        plain_opt.step()

    def plain_bf16_step(i: int) -> None:
        with torch.autocast(device.type, dtype=torch.bfloat16):
            plain_step(i)

    steps = {"plain": plain_step, "trainer": trainer_step(reference=False)}
    if args.bf16:
        steps["bf16"] = trainer_step(reference=False, bf16=True)
        steps["plain_bf16"] = plain_bf16_step
    if args.compile:
        steps["compiled"] = trainer_step(reference=False, bf16=args.bf16, compile=True)
    if not args.skip_reference:
        steps["reference"] = trainer_step(reference=True)
    return steps


def measure(
    steps: dict[str, Callable[[int], None]], args: argparse.Namespace, device: torch.device
) -> dict[str, list[float]]:
    """Seconds per step of each variant in each round (variants interleaved per round)."""
    clock = time.process_time if args.clock == "cpu" else time.perf_counter
    for step in steps.values():
        for i in range(args.warmup):
            step(i)
    seconds: dict[str, list[float]] = {name: [] for name in steps}
    for r in range(args.rounds):
        for name, step in steps.items():
            synchronize(device)
            start = clock()
            for i in range(args.steps):
                step(args.warmup + r * args.steps + i)
            synchronize(device)
            seconds[name].append((clock() - start) / args.steps)
    return seconds


def main() -> None:
    args = parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    cfg = StrategyConfig(
        feature_dim=args.feature_dim, hidden_size=args.hidden_size, head_hidden=args.head_hidden
    )
    cost = CostConfig.preset(args.cost)
    print(
        f"strategy throughput: device={device}, torch={torch.__version__}, "
        f"threads={torch.get_num_threads()}, D={args.feature_dim}, E={args.episode_len}, "
        f"hidden={cfg.hidden_size}, head={cfg.head_hidden}, A={cfg.n_actions}, "
        f"cost={args.cost}, params={StrategyGRU(cfg).num_params():,}, "
        f"rounds={args.rounds} x {args.steps} steps"
    )
    header = (
        f"{'batch':>6} {'plain ms':>9} {'trainer ms':>11} {'episodes/s':>11} {'x plain':>8} "
        f"{'(best)':>8}"
    )
    if args.bf16:
        header += f" {'bf16 ms':>8} {'bf16 x plain':>13} {'bf16 x plain-bf16':>18}"
    if args.compile:
        header += f" {'compiled ms':>12} {'compiled x plain':>17}"
    if not args.skip_reference:
        header += f" {'reference ms':>13} {'x reference':>12} {'reference x plain':>18}"
    print(header)
    for batch in args.batch_sizes:
        seconds = measure(make_steps(batch, args, cfg, cost, device), args, device)
        med = {name: statistics.median(values) for name, values in seconds.items()}

        def ratio(slow: str, fast: str, seconds: dict[str, list[float]] = seconds) -> float:
            """Same-round ratios, then the median: robust to load drifting between rounds."""
            return statistics.median(
                a / b for a, b in zip(seconds[slow], seconds[fast], strict=True)
            )

        # Fastest step of each: the least disturbed by other jobs on a shared machine.
        best = min(seconds["plain"]) / min(seconds["trainer"])
        line = (
            f"{batch:>6} {1000 * med['plain']:>9.1f} {1000 * med['trainer']:>11.1f} "
            f"{batch / med['trainer']:>11,.0f} {ratio('plain', 'trainer'):>7.2f}x {best:>7.2f}x"
        )
        if "bf16" in seconds:
            line += (
                f" {1000 * med['bf16']:>8.1f} {ratio('plain', 'bf16'):>12.2f}x"
                f" {ratio('plain_bf16', 'bf16'):>17.2f}x"
            )
        if "compiled" in seconds:
            line += f" {1000 * med['compiled']:>12.1f} {ratio('plain', 'compiled'):>16.2f}x"
        if "reference" in seconds:
            line += (
                f" {1000 * med['reference']:>13.1f} {ratio('reference', 'trainer'):>11.2f}x"
                f" {ratio('plain', 'reference'):>17.2f}x"
            )
        print(line, flush=True)
    print(
        "x plain = plain-loop seconds / trainer seconds per step (>1: the trainer is faster), "
        "median of same-round ratios; (best) = the same from each variant's fastest round; "
        "bf16 = the trainer with StrategyConfig(bf16=True) vs the float32 plain loop and vs "
        "the plain loop under the same autocast; compiled = the trainer with "
        f"StrategyConfig(compile=True, compile_mode={args.compile_mode!r}"
        f"{', bf16=True' if args.bf16 else ''}). "
        f"Clock: {args.clock}."
    )


if __name__ == "__main__":
    main()
