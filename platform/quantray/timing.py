"""Wall-clock timing of work that may run on a GPU: the clock is read only after the device
has finished (CUDA runs kernels asynchronously). Used by the compression speed figures and
the benchmarks; torch only."""

from __future__ import annotations

import time
from collections.abc import Callable

import torch


def synchronize(device: torch.device) -> None:
    """Wait until ``device`` has finished its queued work (a no-op off CUDA): call it before
    reading a clock, or a GPU timing measures only the kernel launches."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed_calls(run: Callable[[], object], device: torch.device, repeats: int) -> list[float]:
    """Seconds of each of ``repeats`` calls of ``run`` after one untimed warm-up call; on a
    GPU the clock stops only when ``device`` has finished the call's work."""
    run()
    times = []
    for _ in range(repeats):
        synchronize(device)
        start = time.perf_counter()
        run()
        synchronize(device)
        times.append(time.perf_counter() - start)
    return times
