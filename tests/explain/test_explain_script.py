"""experiments/explain.py runs end to end as a user runs it, and rejects bad input with exit 2."""

from __future__ import annotations

import pandas as pd


def test_explain_smoke(run_script, tmp_path):
    out = tmp_path / "explain"
    proc = run_script("experiments/explain.py", "--smoke-test", "--out", out, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    for name in ("attention.png", "attention_by_lag.png", "decision.png", "regimes.png"):
        assert (out / name).stat().st_size > 1000, name
    report = (out / "explain.md").read_text()
    assert "the position" in report and "largest contributions" in report
    table = pd.read_csv(out / "regimes.csv", index_col=0)
    assert {"ret_1d", "previous position", "cumulative return"} <= set(table.index)

    # The same models, asked about a day that has no bar: a clear message, exit 2.
    smoke = out / "smoke"
    args = ["--checkpoint", smoke / "stage1", "--strategy", smoke / "strategy.pt"]
    bad = run_script(
        "experiments/explain.py", *args, "--data", smoke / "smoke_bars.parquet",
        "--symbol", "SP500", "--date", "2018-12-25", "--out", out / "bad",
    )  # fmt: skip
    assert bad.returncode == 2, bad.stderr[-2000:]
    assert "no bar on 2018-12-25" in bad.stderr and "Traceback" not in bad.stderr
