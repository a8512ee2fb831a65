"""The export's shared-row encoder vs encoding gathered windows, same model, same run.

``PriceTransformer.encode_rows`` (what ``quantray.features.export`` runs for a one-layer
encoder) projects every panel row once and runs one banded attention of a batch's last days
over the rows the batch reads; the baseline is ``encode`` of the same windows gathered as
[B, 180, F] tensors (what the export ran before). Both encode every window of one synthetic
symbol in batches; the script first checks they give the same features, then prints
windows/s of each and the ratio (best of ``--reps`` passes). Pure PyTorch (no Ray), so it
runs on a GPU machine without the rest of the stack.

    python benchmarks/export_encode.py                     # CPU, ~1 min
    python benchmarks/export_encode.py --device cuda --rows 20000
"""

from __future__ import annotations

import argparse

import torch

from quantray.config import PriceModelConfig
from quantray.config.data import HORIZON, WINDOW
from quantray.models import PriceTransformer
from quantray.timing import timed_calls


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu", help="cpu | cuda")
    parser.add_argument("--preset", default="small", choices=tuple(PriceModelConfig.PRESETS))
    parser.add_argument("--rows", type=int, default=5000, help="days of the one symbol")
    parser.add_argument("--batch", type=int, default=512, help="windows per encoder call")
    parser.add_argument("--reps", type=int, default=5, help="timed passes; the best is kept")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (0 = default)")
    args = parser.parse_args(argv)
    window = WINDOW
    if args.rows <= window or args.batch < 1 or args.reps < 1:
        parser.error(f"need --rows > {window} (the window), --batch >= 1 and --reps >= 1")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    torch.manual_seed(0)
    # One layer: the shape the shared-row path serves (deeper models gather windows).
    cfg = PriceModelConfig.preset(args.preset, dropout=0.0, n_layers=1)
    model = PriceTransformer(cfg, window=WINDOW, horizon=HORIZON).to(device).eval()
    window = model.window
    table = torch.randn(args.rows, cfg.n_features, device=device)  # [S, F] one symbol
    batches = torch.arange(window - 1, args.rows, device=device).split(args.batch)
    offsets = torch.arange(-window + 1, 1, device=device)

    def gathered(ends: torch.Tensor) -> torch.Tensor:
        return model.encode(table[ends[:, None] + offsets])  # [B, L, F] -> [B, D]

    def shared(ends: torch.Tensor) -> torch.Tensor:
        first = int(ends[0]) - window + 1
        return model.encode_rows(table[first : int(ends[-1]) + 1], ends - first)

    worst = max(
        float((shared(e) - gathered(e)).abs().max() / gathered(e).abs().max().clamp_min(1e-12))
        for e in batches
    )
    n_windows = args.rows - window + 1
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    print(
        f"device={where} torch={torch.__version__} threads={torch.get_num_threads()} "
        f"preset={args.preset} (1 layer, d_model {cfg.d_model}) windows={n_windows:,} "
        f"batch={args.batch}"
    )
    print(f"encode_rows vs encode of the gathered windows: max relative difference {worst:.1e}")
    with torch.no_grad():
        t_gathered = min(timed_calls(lambda: [gathered(e) for e in batches], device, args.reps))
        t_shared = min(timed_calls(lambda: [shared(e) for e in batches], device, args.reps))
    print(
        f"gathered encode {n_windows / t_gathered:,.0f} windows/s; encode_rows "
        f"{n_windows / t_shared:,.0f} windows/s; encode_rows x gathered = "
        f"{t_gathered / t_shared:.2f}x"
    )


if __name__ == "__main__":
    main()
