"""Stage-2 modules are pure PyTorch/NumPy: importing them must not import Ray."""

from __future__ import annotations

import subprocess
import sys


def test_stage2_imports_do_not_pull_in_ray() -> None:
    code = (
        "import sys\n"
        "import quantray.accounting, quantray.losses.strategy, quantray.models.strategy_gru\n"
        "print(sorted(m for m in sys.modules if m == 'ray' or m.startswith('ray.')))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert result.stdout.strip() == "[]", result.stdout
