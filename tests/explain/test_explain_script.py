"""experiments/explain.py runs end to end as a user runs it, and rejects bad input with exit 2."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from quantray.config import ExplainSettings
from quantray.config.flags import from_flags


def test_flags_come_from_the_settings_and_unset_ones_keep_the_defaults(load_script):
    script = load_script("explain")
    assert from_flags(script.parse_args([]), ExplainSettings) == ExplainSettings()
    assert (ExplainSettings().episodes, ExplainSettings().ig_steps) == (20, 32)  # as before
    args = script.parse_args(
        ["--symbol", "SP500", "--date", "2015-08-24", "--episodes", "40", "--ig-steps", "2",
         "--lag-windows", "8"]
    )  # fmt: skip
    assert from_flags(args, ExplainSettings) == ExplainSettings(
        symbol="SP500", date="2015-08-24", episodes=40, ig_steps=2, lag_windows=8
    )


def test_a_new_setting_needs_no_flag_code_in_the_script(monkeypatch, load_script):
    @dataclass(frozen=True)
    class Extended(ExplainSettings):
        baseline: str = "mean"
        """A brand-new attribution baseline."""

    script = load_script("explain")
    monkeypatch.setattr(script, "ExplainSettings", Extended)
    args = script.parse_args(["--baseline", "zero", "--episodes", "3"])
    assert from_flags(args, Extended) == Extended(baseline="zero", episodes=3)


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
