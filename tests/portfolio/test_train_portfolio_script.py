"""experiments/train_portfolio.py run as a user does: smoke run writes a readable report;
user mistakes exit 2 with a message, not a traceback."""

from __future__ import annotations

import pandas as pd


def test_smoke_run_writes_report(tmp_path, run_script) -> None:
    out = tmp_path / "pf"
    proc = run_script("experiments/train_portfolio.py", "--smoke-test", "--out", out, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = (out / "report.md").read_text()
    for method in ("strategy", "equal_weight", "minimum_variance", "momentum_top_k"):
        assert f"| {method} |" in report
    assert "Sharpe (pooled daily)" in report and "concentration" in report
    assert "IR vs equal_weight" in report and "Exit costs are charged" in report
    metrics = pd.read_csv(out / "metrics.csv").set_index("method")
    assert metrics.loc["equal_weight", "ir"] != metrics.loc["equal_weight", "ir"]  # NaN
    assert metrics.loc["strategy", "verdict"] in ("better", "worse", "no clear difference")
    assert (metrics["sharpe_low"] <= metrics["sharpe"]).all()
    assert (metrics["sharpe"] <= metrics["sharpe_high"]).all()
    rows = pd.read_csv(out / "episodes.csv")
    assert rows.groupby("method").size().nunique() == 1  # every method on the same episodes
    assert (out / "weights.png").stat().st_size > 0 and (out / "portfolio.pt").exists()


def test_user_mistakes_exit_2(tmp_path, run_script) -> None:
    proc = run_script(
        "experiments/train_portfolio.py", "--universe", "SP500,NOPE", "--out", tmp_path
    )
    assert proc.returncode == 2 and "NOPE" in proc.stderr and "Traceback" not in proc.stderr
