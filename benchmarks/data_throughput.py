"""Data-layer throughput: load + validate + 11 features for many symbols.

Generates a synthetic regime market (default 1,000 symbols x 5,000 days = 5M bars), writes
it to a temporary directory (one file per symbol, the common layout of user data), then
times, in the same run:

- baseline: ``pandas.read_{csv,parquet}`` of every file, nothing else (the I/O floor);
- ours: ``load_bars`` (read + column mapping + every validation check) and
  ``Panel.from_bars`` (the 11 features of every symbol, concatenated).

Prints rows/s for each stage and the ratio of our total to the I/O floor.
Target (issue 3): the whole of ours in under 30 s on 2 cores.

    python benchmarks/data_throughput.py [--symbols 1000] [--days 5000] [--fmt csv|parquet]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import pandas as pd

from quantray.data import Panel, load_bars
from quantray.data.synthetic import generate, write_bars


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--symbols", type=int, default=1000)
    parser.add_argument("--days", type=int, default=5000)
    parser.add_argument("--fmt", choices=["csv", "parquet"], default="parquet")
    args = parser.parse_args()

    rows = args.symbols * args.days
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        bars = generate(n_symbols=args.symbols, n_days=args.days, seed=0)
        path = write_bars(bars, Path(tmp) / "bars", layout="per_symbol", fmt=args.fmt)
        del bars
        print(f"generated and wrote {rows:,} bars ({args.fmt}) in {time.perf_counter() - t0:.1f}s")

        files = sorted(path.iterdir())
        reader = pd.read_parquet if args.fmt == "parquet" else pd.read_csv
        t0 = time.perf_counter()
        for f in files:
            reader(f)
        floor = time.perf_counter() - t0

        t0 = time.perf_counter()
        loaded = load_bars(path)
        t_load = time.perf_counter() - t0
        t0 = time.perf_counter()
        panel = Panel.from_bars(loaded)
        t_feat = time.perf_counter() - t0

    total = t_load + t_feat
    assert panel.n_rows == rows
    print(f"{'stage':34} {'seconds':>8} {'rows/s':>14}")
    print(f"{'baseline: pandas read only':34} {floor:8.2f} {rows / floor:14,.0f}")
    print(f"{'ours: load + validate':34} {t_load:8.2f} {rows / t_load:14,.0f}")
    print(f"{'ours: 11 features (Panel)':34} {t_feat:8.2f} {rows / t_feat:14,.0f}")
    print(f"{'ours: total':34} {total:8.2f} {rows / total:14,.0f}")
    print(
        f"ratio ours/baseline time: {total / floor:.2f}x   target total < 30 s: "
        f"{'PASS' if total < 30 else 'FAIL'} ({total:.1f} s)"
    )


if __name__ == "__main__":
    main()
