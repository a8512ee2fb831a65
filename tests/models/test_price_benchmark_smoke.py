"""benchmarks/price_throughput.py runs and matches the baseline's size to ours."""

from __future__ import annotations

import re


def test_throughput_benchmark_smoke(run_script) -> None:
    proc = run_script(
        "benchmarks/price_throughput.py",
        "--presets", "tiny", "--batch", "2", "--steps", "1", "--warmup", "0", "--threads", "1",
        timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    row = re.search(
        r"^tiny\s+([\d,]+)\s+([\d,]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)", proc.stdout, re.M
    )
    assert row, proc.stdout
    ours, stock = (int(row.group(i).replace(",", "")) for i in (1, 2))
    assert abs(stock / ours - 1) < 0.03  # same parameter budget
    assert float(row.group(3)) > 0 and float(row.group(5)) > 0


def test_export_encode_benchmark_smoke(run_script) -> None:
    proc = run_script(
        "benchmarks/export_encode.py",
        "--preset", "tiny", "--rows", "300", "--batch", "64", "--reps", "1", "--threads", "1",
        timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    diff = re.search(r"max relative difference ([\d.e+-]+)", proc.stdout)
    assert diff and float(diff.group(1)) < 1e-4, proc.stdout  # both paths, same features
    ratio = re.search(r"encode_rows x gathered = ([\d.]+)x", proc.stdout)
    assert ratio and float(ratio.group(1)) > 0, proc.stdout
