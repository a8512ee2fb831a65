"""The stage-1 benchmarks run: price_throughput matches the baseline's size to ours, and
export_encode's two encoders give the same features."""

from __future__ import annotations

import re


def _stdout(run_script, script: str, *args: str) -> str:
    proc = run_script(f"benchmarks/{script}", *args, "--threads", "1", timeout=300)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_throughput_benchmark_smoke(run_script) -> None:
    out = _stdout(
        run_script, "price_throughput.py", "--presets", "tiny", "--batch", "2", "--steps", "1",
        "--warmup", "0",
    )  # fmt: skip
    row = re.search(r"^tiny\s+([\d,]+)\s+([\d,]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)", out, re.M)
    assert row, out
    ours, stock = (int(row.group(i).replace(",", "")) for i in (1, 2))
    assert abs(stock / ours - 1) < 0.03  # same parameter budget
    assert float(row.group(3)) > 0 and float(row.group(5)) > 0


def test_export_encode_benchmark_smoke(run_script) -> None:
    out = _stdout(
        run_script, "export_encode.py", "--preset", "tiny", "--rows", "300", "--batch", "64",
        "--reps", "1",
    )  # fmt: skip
    diff = re.search(r"max relative difference ([\d.e+-]+)", out)
    assert diff and float(diff.group(1)) < 1e-4, out  # both paths, same features
    ratio = re.search(r"encode_rows x gathered = ([\d.]+)x", out)
    assert ratio and float(ratio.group(1)) > 0, out
