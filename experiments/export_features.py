"""Freeze the stage-1 encoder and write its [D] feature for every (symbol, day) once.

    python experiments/export_features.py --checkpoint runs/price/model.pt
    python experiments/export_features.py --smoke-test          # trains a smoke model first

The cache lands in OUT/features-<checkpoint id>-<data hash>/ (features.npy + meta.json);
stage 2 (--features), the env (features=PATH) and Tune trials read it.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import numpy as np

from quantray.cli import add_common_args, positive_int, run
from quantray.data import load_bars
from quantray.features.cache import FeatureCache


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_common_args(parser, default_out="runs/features")
    parser.add_argument("--checkpoint", default=None, help="stage-1 model.pt or checkpoint dir")
    parser.add_argument("--batch-size", type=positive_int, default=512)
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda")
    args = parser.parse_args()

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

    path = export_features(checkpoint, args.out, args.data, args.batch_size, args.device)
    cache = FeatureCache.load(path)
    finite = int(np.isfinite(cache.table).all(axis=1).sum())
    print(f"feature cache: {path}")
    print(
        f"  rows {len(cache.table)}, D {cache.dim}, rows with features {finite}, "
        f"data hash {cache.meta['data_hash']}, checkpoint {cache.meta['checkpoint_id']}"
    )
    return 0


if __name__ == "__main__":
    run(main)
