"""Freeze the stage-1 encoder and write its [D] feature for every (symbol, day) once.

    python experiments/export_features.py --checkpoint runs/price/model.pt
    python experiments/export_features.py --smoke-test          # trains a smoke model first
    python experiments/export_features.py --checkpoint model.pt --address auto \
        --export-backend ray --export-actors 8 --export-num-gpus 0.25   # Ray Data on a cluster

The cache lands in OUT/features-<checkpoint id>-<data hash>/ (features.npy + meta.json);
stage 2 (--features), the env (features=PATH) and Tune trials read it. With Ray (--address,
or --export-backend ray, which starts a local Ray) the export is a Ray Data batch-inference job
over an actor pool; both paths write the same features.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

from quantray.cli import positive_int, run, script_parser
from quantray.config import RayExportSettings
from quantray.config.flags import add_flags, from_flags
from quantray.data import load_bars
from quantray.features.cache import FeatureCache


def main() -> int:
    parser = script_parser(__doc__, "runs/features")
    parser.add_argument("--checkpoint", default=None, help="stage-1 model.pt or checkpoint dir")
    parser.add_argument(
        "--batch-size",
        type=positive_int,
        default=None,
        help="windows per forward pass (the same as --export-batch-size)",
    )
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda (in-process path)")
    parser.add_argument(
        "--address",
        default=None,
        help="join a running Ray cluster (auto or host:port); the export then runs on Ray Data",
    )
    add_flags(parser, RayExportSettings, prefix="export-", title="export settings")
    args = parser.parse_args()
    settings = from_flags(args, RayExportSettings, prefix="export-")
    if args.batch_size is not None:
        settings = settings.replace(batch_size=args.batch_size)

    if args.data is not None:
        load_bars(args.data)  # validate first: bad data stops here with a clear message
    checkpoint = args.checkpoint
    if checkpoint is None:
        if not args.smoke_test:
            print("error: give --checkpoint (a stage-1 model.pt), or --smoke-test", file=sys.stderr)
            return 2
        price_out = Path(args.out) / "smoke_price"
        cmd = [
            sys.executable,
            str(Path(__file__).with_name("train_price.py")),
            "--smoke-test",
            "--num-workers",
            "1",
            "--out",
            str(price_out),
        ]
        if args.data:
            cmd += ["--data", args.data]
        subprocess.run(cmd, check=True)
        checkpoint = str(price_out / "model.pt")
    if not Path(checkpoint).exists():
        print(
            f"error: checkpoint {checkpoint} does not exist; train one with "
            "experiments/train_price.py",
            file=sys.stderr,
        )
        return 2

    from quantray.features.export import export_features

    if args.address is not None or settings.backend == "ray":
        from quantray.train.ray_runtime import init_ray

        init_ray(args.address, "export_features")
    path = export_features(checkpoint, args.out, args.data, device=args.device, settings=settings)
    cache = FeatureCache.load(path)
    finite = int(np.isfinite(cache.table).all(axis=1).sum())
    print(f"feature cache: {path} ({cache.meta.get('export', 'in_process')})")
    print(
        f"  rows {len(cache.table)}, D {cache.dim}, rows with features {finite}, "
        f"data hash {cache.meta['data_hash']}, checkpoint {cache.meta['checkpoint_id']}"
    )
    return 0


if __name__ == "__main__":
    run(main)
