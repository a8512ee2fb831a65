"""Stage 1: train the MLA price Transformer data-parallel with Ray Train (TorchTrainer, DDP).

    python experiments/train_price.py --smoke-test --num-workers 2
    python experiments/train_price.py --preset small --epochs 20 --num-workers 4 --use-gpu
    python experiments/train_price.py --resume          # continue the latest run in --out

Writes OUT/model.pt (the final checkpoint, loadable with torch.load(weights_only=True)),
OUT/price_summary.md (per-epoch table) and OUT/latest_run.txt (the run --resume continues).
With --mlflow [URI]: the rank-0 worker records the run spec and every epoch's metrics
(Ray's setup_mlflow), and price_summary.md is attached to that run.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

from quantray.cli import claim_run, positive_int, run, run_name, script_parser, storage_path
from quantray.config import (
    SMOKE_STAGE1,
    DataConfig,
    PriceModelConfig,
    PriceTrainConfig,
    SplitConfig,
)
from quantray.config.flags import add_flags, from_flags
from quantray.data import Panel, load_bars
from quantray.data.splits import check_geometry
from quantray.train.price import (
    CHECKPOINT_FILE,
    PriceRunSpec,
    default_data_path,
    fit_price_model,
    load_checkpoint,
)


def parse_args() -> argparse.Namespace:
    parser = script_parser(__doc__, "runs/price", tracking=True, address=True, timeout=True)
    parser.add_argument("--preset", default="tiny", help="tiny | small | base | large")
    parser.add_argument("--num-workers", type=positive_int, default=2, help="DDP workers")
    parser.add_argument("--use-gpu", action="store_true", help="one GPU per worker, NCCL, bf16")
    parser.add_argument("--resume", action="store_true", help="continue the latest run in --out")
    # Every training setting, and every model field over the preset's (the window and horizon
    # are the data geometry's, DataConfig).
    add_flags(parser, PriceTrainConfig, title="stage-1 training settings")
    add_flags(parser, PriceModelConfig, skip=MODEL_FIXED, title="stage-1 model (over --preset)")
    return parser.parse_args()


MODEL_FIXED = ("n_features",)
"""Model fields set by the data (its 11 features)."""


def build_spec(args: argparse.Namespace) -> PriceRunSpec:
    model = PriceModelConfig.preset(args.preset)
    train = PriceTrainConfig()
    if args.smoke_test:
        model = model.replace(**SMOKE_STAGE1)
        train = train.replace(
            epochs=2, batch_size=16, max_steps_per_epoch=4, eval_samples=128, warmup_steps=2
        )
    model = from_flags(args, PriceModelConfig, model, skip=MODEL_FIXED)
    train = from_flags(args, PriceTrainConfig, train)
    return PriceRunSpec(model, train, default_data_path(args.data), DataConfig(), SplitConfig())


def main() -> int:
    args = parse_args()
    spec = build_spec(args)
    # Validate before any Ray work: bad data, or data too short for the splits, stops here.
    check_geometry(Panel.from_bars(load_bars(spec.data_path)), spec.split, spec.data)
    out, tracking = claim_run(args, "train_price")  # no mlflow package: exit 2 here
    latest = out / "latest_run.txt"
    if args.resume:
        if not latest.exists():
            print(f"error: --resume: no earlier run in {out} (missing {latest}); drop --resume")
            return 2
        name = latest.read_text().strip()
    else:
        name = run_name("price")
        latest.write_text(name)

    import ray

    from quantray.train.ray_runtime import init_ray, require_resources

    init_ray(args.address, __file__, log_to_driver=True)
    # Ray Train's default per worker: 1 CPU, or 1 GPU with --use-gpu.
    require_resources(
        {"GPU": 1} if args.use_gpu else {"CPU": 1},
        args.num_workers,
        flags="--num-workers / --use-gpu",
        timeout=args.timeout,
    )
    started = time.perf_counter()
    result = fit_price_model(
        spec,
        storage_path=storage_path(args),
        name=name,
        num_workers=args.num_workers,
        use_gpu=args.use_gpu,
        tracking=tracking,
    )
    wall = time.perf_counter() - started
    if result.checkpoint is None:
        print("error: training ended without a checkpoint")
        return 1
    with result.checkpoint.as_directory() as directory:
        shutil.copy(Path(directory) / CHECKPOINT_FILE, out / "model.pt")
    state = load_checkpoint(out / "model.pt")
    metrics = state["metrics"]
    lines = [
        "# Stage 1 price model",
        "",
        f"- run: `{name}` (storage `{storage_path(args)}`), {args.num_workers} workers, "
        f"{'GPU' if args.use_gpu else 'CPU'}, wall {wall:.0f}s",
        f"- data: `{spec.data_path}` (hash {state['data_hash']})",
        f"- model: {json.dumps(spec.model.to_dict())}",
        f"- params: {sum(v.numel() for v in state['model'].values()):,}",
        "",
        "| metric | value |",
        "|---|---|",
        *[f"| {k} | {v:.6g} |" for k, v in metrics.items()],
        "",
        "val_loss vs zero_loss: loss of the model vs the naive zero-return forecast "
        "(loss_ratio < 1 beats it); dir_acc vs dir_base: sign accuracy vs always predicting "
        "the majority direction.",
    ]
    (out / "price_summary.md").write_text("\n".join(lines) + "\n")
    if tracking is not None:
        from quantray.train.tracking import attach_artifacts, find_run

        run_id = find_run(tracking, name)
        if run_id is not None:
            attach_artifacts(tracking, run_id, [out / "price_summary.md"])
    print("\n".join(lines))
    print(f"\ncheckpoint: {out / 'model.pt'} (epoch {state['epoch'] + 1})")
    ray.shutdown()
    return 0


if __name__ == "__main__":
    run(main)
