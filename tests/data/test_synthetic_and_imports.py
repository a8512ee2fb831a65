"""Synthetic regimes are seeded and recorded; the data layer imports without Ray."""

from __future__ import annotations

import subprocess
import sys

import numpy as np

from quantray.config import BEAR, BULL
from quantray.data import load_bars
from quantray.data.synthetic import generate, write_bars


def test_seeded_and_regime_drifts():
    a = generate(n_symbols=5, n_days=3000, seed=42)
    b = generate(n_symbols=5, n_days=3000, seed=42)
    for s in a:
        np.testing.assert_array_equal(a[s].to_numpy(), b[s].to_numpy())
    regimes = np.concatenate([f["regime"].to_numpy()[1:] for f in a.values()])
    rets = np.concatenate([np.diff(np.log(f["close"].to_numpy())) for f in a.values()])
    assert set(np.unique(regimes)) == {0, 1, 2}
    assert rets[regimes == BULL].mean() > 0.0005
    assert rets[regimes == BEAR].mean() < -0.0005


def test_written_bars_pass_validation(tmp_path):
    bars = generate(n_symbols=2, n_days=300, seed=3)
    path = write_bars(bars, tmp_path / "syn.csv", layout="long", fmt="csv")
    loaded = load_bars(path)
    np.testing.assert_allclose(
        loaded["SYN001"]["close"].to_numpy(), bars["SYN001"]["close"].to_numpy()
    )


def test_data_and_config_import_without_ray():
    code = "import sys, quantray.data, quantray.config; print('ray' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
