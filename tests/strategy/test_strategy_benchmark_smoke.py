"""The stage-2 benchmark runs end to end and prints one timed row per batch size."""

from __future__ import annotations

import re


def test_strategy_throughput_benchmark_smoke(run_script) -> None:
    proc = run_script(
        "benchmarks/strategy_throughput.py", "--batch-sizes", "8", "--rounds", "1", "--steps",
        "1", "--warmup", "0", "--threads", "1", "--feature-dim", "8", "--hidden-size", "8",
        "--head-hidden", "8", timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    row = re.search(r"^\s+8\s+([\d.]+)\s+([\d.]+)\s+(\d+)\s+([\d.]+)x", proc.stdout, re.M)
    assert row, proc.stdout
    plain_ms, trainer_ms, episodes_per_s, ratio = (float(row.group(i)) for i in range(1, 5))
    assert plain_ms > 0 and trainer_ms > 0
    # The printed rate is the timing's own: 8 episodes per trainer step (ms shown to 0.1).
    assert abs(episodes_per_s - 8e3 / trainer_ms) <= 0.02 * episodes_per_s
    assert ratio > 0
