"""Training throughput of the stage-1 PriceTransformer vs PyTorch's stock TransformerEncoder.

For each preset, both models are trained on the same random batches [B, 180, 11] -> [B, 7]
(forward + MSE + backward + AdamW step) in the same process, steps interleaved (ours, stock,
ours, ...) so background load hits both alike. The table shows samples/s (batch / median
step time), the ratio ours / stock of those, and the same ratio from each model's fastest
step (less sensitive to a busy machine). The baseline is ``nn.TransformerEncoder`` (batch_first,
norm_first, GELU, the same n_layers, d_model and heads) with an input projection, fixed
sinusoidal positions and the same output heads; its feed-forward width is solved so its
parameter count matches ours (within a few %). Dropout is 0 in both (attention dropout would
push both off SDPA's fused kernels). On GPU it also prints model FLOPs utilisation
(MFU = achieved FLOP/s / --peak-tflops), with FLOPs per sample estimated as
6 * params * L + 3 * (attention score and value matmuls), less, for ours, the rows its last
block skips (it computes only the last day's row, the only one the heads read). The table
also shows each model's training GFLOP per sample.

Pure PyTorch: imports only ``quantray.config`` and ``quantray.models`` (no Ray).

    python benchmarks/price_throughput.py                      # CPU-sized default, < 2 min
    python benchmarks/price_throughput.py --presets tiny,small,base --batch 64 --steps 30 \\
        --device cuda --dtype bf16 --compile
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from quantray.config import PriceModelConfig
from quantray.config.data import HORIZON, WINDOW
from quantray.models import PriceTransformer
from quantray.timing import synchronize


class StockPriceModel(nn.Module):
    """Baseline: input projection + sinusoidal positions + nn.TransformerEncoder + same heads."""

    def __init__(
        self,
        n_features: int,
        window: int,
        horizon: int,
        d_model: int,
        n_heads: int,
        dim_feedforward: int,
        n_layers: int,
    ) -> None:
        super().__init__()
        self.n_heads = n_heads
        self.input_proj = nn.Linear(n_features, d_model)
        # Stock attention has no RoPE: add fixed sinusoidal positions as in PyTorch's
        # Transformer tutorial. A buffer, not a parameter, so the matched parameter count
        # buys the same matmul FLOPs in both models.
        pos = torch.arange(window, dtype=torch.float32)[:, None]  # [L, 1]
        inv_freq = 10000.0 ** (-torch.arange(0, d_model, 2, dtype=torch.float32) / d_model)
        table = torch.zeros(window, d_model)  # [L, D]
        table[:, 0::2] = torch.sin(pos * inv_freq)
        table[:, 1::2] = torch.cos(pos * inv_freq)
        self.register_buffer("pos", table, persistent=False)
        layer = nn.TransformerEncoderLayer(
            d_model,
            n_heads,
            dim_feedforward,
            dropout=0.0,
            activation="gelu",
            batch_first=True,
            norm_first=True,
        )
        self.encoder = nn.TransformerEncoder(
            layer, n_layers, norm=nn.LayerNorm(d_model), enable_nested_tensor=False
        )
        self.feature_head = nn.Linear(d_model, d_model)
        self.price_head = nn.Linear(d_model, horizon)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.input_proj(x) + self.pos[: x.shape[1]]  # [B, L, F] -> [B, L, D]
        h = self.encoder(h)  # [B, L, D]
        return self.price_head(torch.tanh(self.feature_head(h[:, -1])))  # [B, H]


def stock_params(d: int, ff: int, layers: int, cfg: PriceModelConfig) -> int:
    """Parameter count of StockPriceModel (closed form, checked against the module)."""
    per_layer = 4 * d * d + 4 * d + ff * (2 * d + 1) + d + 4 * d  # attn, ffn, two LayerNorms
    rest = (cfg.n_features + 1) * d + 2 * d + (d + 1) * d + (d + 1) * HORIZON
    return layers * per_layer + rest


def matched_stock(cfg: PriceModelConfig, target_params: int) -> StockPriceModel:
    """A StockPriceModel with cfg's depth, width and heads and ~target_params parameters."""
    d, layers = cfg.d_model, cfg.n_layers
    heads = cfg.n_heads if d % cfg.n_heads == 0 else max(h for h in range(1, 17) if d % h == 0)
    fixed = stock_params(d, 0, layers, cfg)
    ff = max(1, round((target_params - fixed) / (layers * (2 * d + 1))))
    model = StockPriceModel(cfg.n_features, WINDOW, HORIZON, d, heads, ff, layers)
    assert sum(p.numel() for p in model.parameters()) == stock_params(d, ff, layers, cfg)
    return model


def flops_per_sample(params: int, seq_len: int, layers: int, heads: int, qk: int, v: int) -> float:
    """Training FLOPs per sample: 6 * params * L (matmuls, fwd + bwd) + attention.

    Attention per layer forward: q.k^T (2 L^2 heads qk) and probs.v (2 L^2 heads v); x3 for
    forward + backward.
    """
    return 6.0 * params * seq_len + 3.0 * layers * 2.0 * seq_len**2 * heads * (qk + v)


def price_transformer_flops(model: PriceTransformer) -> float:
    """:func:`flops_per_sample` for our model, minus the work its last block skips.

    The last block computes only day t's row (the heads read nothing else): its query-side
    weights (q projection, wo, FFN, norms) touch 1 row instead of L, and its attention has one
    query instead of L. Counting the skipped rows would overstate our MFU.
    """
    cfg = model.config
    length, qk = model.window, cfg.qk_nope_head_dim + cfg.qk_rope_head_dim
    kv_side = ("attn.wkv_a.", "attn.kv_norm.", "attn.wkv_b.")
    q_side = sum(
        p.numel() for n, p in model.blocks[-1].named_parameters() if not n.startswith(kv_side)
    )
    attn_last = 3.0 * 2.0 * length * cfg.n_heads * (qk + cfg.v_head_dim)  # 1 query row
    return (
        flops_per_sample(
            model.num_params(), length, cfg.n_layers - 1, cfg.n_heads, qk, cfg.v_head_dim
        )
        - 6.0 * (length - 1) * q_side
        + attn_last
    )


class Trainer:
    """One model's training step (forward + MSE + backward + AdamW) on a fixed batch."""

    def __init__(
        self,
        model: nn.Module,
        forward: Callable[[nn.Module, torch.Tensor], torch.Tensor],
        args: argparse.Namespace,
        device: torch.device,
    ) -> None:
        self.model = model.to(device).train()
        self.forward = forward
        self.device = device
        self.opt = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=device.type == "cuda")
        self.step_model = torch.compile(self.model) if args.compile else self.model
        gen = torch.Generator().manual_seed(0)
        self.x = torch.randn(args.batch, WINDOW, 11, generator=gen).to(device)  # [B, L, F]
        self.y = (torch.randn(args.batch, HORIZON, generator=gen) * 0.05).to(device)  # [B, H]
        self.bf16 = args.dtype == "bf16"
        self.times: list[float] = []

    def step(self) -> None:
        autocast = (
            torch.autocast(self.device.type, dtype=torch.bfloat16)
            if self.bf16
            else contextlib.nullcontext()
        )
        with autocast:
            loss = F.mse_loss(self.forward(self.step_model, self.x).float(), self.y)
        loss.backward()
        self.opt.step()
        self.opt.zero_grad(set_to_none=True)

    def timed_step(self) -> None:
        synchronize(self.device)
        start = time.perf_counter()
        self.step()
        synchronize(self.device)
        self.times.append(time.perf_counter() - start)


def run_preset(name: str, args: argparse.Namespace, device: torch.device) -> dict[str, float]:
    """Train both models of one preset, steps interleaved, and summarise their speeds.

    Interleaving (ours, stock, ours, stock, ...) exposes both to the same background load, so
    the ratio stays meaningful on a shared machine.
    """
    cfg = PriceModelConfig.preset(name, dropout=0.0)
    torch.manual_seed(0)
    ours = PriceTransformer(cfg, window=WINDOW, horizon=HORIZON)
    n_ours = ours.num_params()
    stock = matched_stock(cfg, n_ours)
    n_stock = sum(p.numel() for p in stock.parameters())
    ours_flops = price_transformer_flops(ours)
    head_dim = cfg.d_model // stock.n_heads
    stock_flops = flops_per_sample(n_stock, WINDOW, cfg.n_layers, stock.n_heads, head_dim, head_dim)
    trainers = [
        Trainer(ours, lambda m, x: m(x).returns, args, device),
        Trainer(stock, lambda m, x: m(x), args, device),
    ]
    for trainer in trainers:
        for _ in range(args.warmup):
            trainer.step()
    for _ in range(args.steps):
        for trainer in trainers:
            trainer.timed_step()
    ours_t, stock_t = (statistics.median(t.times) for t in trainers)
    ours_best, stock_best = (min(t.times) for t in trainers)
    return {
        "params_ours": n_ours,
        "params_stock": n_stock,
        "ours": args.batch / ours_t,
        "stock": args.batch / stock_t,
        "ratio": stock_t / ours_t,
        "ratio_best": stock_best / ours_best,
        "gflop_ours": ours_flops / 1e9,
        "gflop_stock": stock_flops / 1e9,
        "mfu_ours": args.batch / ours_t * ours_flops / (args.peak_tflops * 1e12),
        "mfu_stock": args.batch / stock_t * stock_flops / (args.peak_tflops * 1e12),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--presets", default="tiny,small", help="comma-separated preset names")
    parser.add_argument("--batch", type=int, default=32, help="samples per step (default 32)")
    parser.add_argument("--steps", type=int, default=5, help="timed steps per model")
    parser.add_argument("--warmup", type=int, default=1, help="untimed steps per model first")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--dtype", default="fp32", choices=("fp32", "bf16"),
                        help="bf16 = bf16 autocast (meant for GPU)")  # fmt: skip
    parser.add_argument("--compile", action="store_true", help="torch.compile both models")
    parser.add_argument("--peak-tflops", type=float, default=989.0,
                        help="peak TFLOP/s for MFU (default 989: H100 SXM dense bf16)")  # fmt: skip
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (0 = torch default)")
    args = parser.parse_args(argv)

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.device == "auto":
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    else:
        device = torch.device(args.device)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    where = (
        torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else (f"cpu x{torch.get_num_threads()} threads")
    )
    if device.type == "cpu" and hasattr(os, "getloadavg"):
        load = os.getloadavg()[0]
        where += f", load avg {load:.1f} on {os.cpu_count()} cores"
        if (
            torch.get_num_threads() > 1
            and load > (os.cpu_count() or 1) - torch.get_num_threads() + 1
        ):
            print(
                "warning: other processes keep the CPU busy; multi-threaded timings swing "
                "widely (threads wait at every op's barrier). Compare the best-step ratio, "
                "or rerun with --threads 1."
            )
    print(
        f"device={where} dtype={args.dtype} compile={args.compile} batch={args.batch} "
        f"window={WINDOW} steps={args.steps} warmup={args.warmup} torch={torch.__version__}"
    )
    header = (
        f"{'preset':<7} {'params ours':>12} {'params stock':>13} {'ours smp/s':>11} "
        f"{'stock smp/s':>12} {'ours/stock':>10} {'best-step ratio':>15} "
        f"{'GFLOP/smp ours':>14} {'stock':>6}"
    )
    gpu = device.type == "cuda"
    if gpu:
        header += f" {'MFU ours':>9} {'MFU stock':>10}"
    print(header)
    for name in args.presets.split(","):
        row = run_preset(name.strip(), args, device)
        line = (
            f"{name:<7} {row['params_ours']:>12,} {row['params_stock']:>13,} {row['ours']:>11.1f} "
            f"{row['stock']:>12.1f} {row['ratio']:>10.2f} {row['ratio_best']:>15.2f} "
            f"{row['gflop_ours']:>14.2f} {row['gflop_stock']:>6.2f}"
        )
        if gpu:
            line += f" {row['mfu_ours']:>9.1%} {row['mfu_stock']:>10.1%}"
        print(line, flush=True)


if __name__ == "__main__":
    main()
