"""quantray.models must stay importable on a bare-PyTorch machine (no Ray)."""

from __future__ import annotations

import subprocess
import sys


def test_import_models_does_not_import_ray() -> None:
    code = (
        "import sys, quantray.models, quantray.losses.price, quantray.config\n"
        "bad = sorted(m for m in sys.modules if m == 'ray' or m.startswith('ray.'))\n"
        "print(bad)\n"
        "raise SystemExit(1 if bad else 0)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"Ray modules imported: {proc.stdout} {proc.stderr}"
