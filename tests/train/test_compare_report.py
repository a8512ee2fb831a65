"""compare.py on the bundled data: report, CSV and plots, every method on the same episodes."""

from __future__ import annotations

import numpy as np
import pandas as pd

from quantray.evaluate.metrics import Backtest
from quantray.evaluate.report import MethodResult, write_report


def test_compare_smoke_writes_report_csv_and_plots(tmp_path, run_script):
    out = tmp_path / "compare"
    proc = run_script(
        "experiments/compare.py", "--smoke-test", "--features", "raw", "--out", out, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = (out / "report.md").read_text()
    for needle in (
        "| gru |",
        "| ppo |",
        "| sac |",
        "| buy_and_hold |",
        "| perfect_foresight |",
        "Pairwise",
        "bull (n=",
        "IR vs buy&hold",
        "calendar blocks",
    ):
        assert needle in report
    episodes = pd.read_csv(out / "episodes.csv")
    # identical episode list for every method
    per_method = episodes.groupby("method")["episode"].apply(lambda s: tuple(sorted(set(s))))
    assert per_method.nunique() == 1
    for png in ("equity.png", "positions.png", "regimes.png"):
        assert (out / png).stat().st_size > 1000


def test_pairwise_verdict_follows_the_ci(tmp_path):
    rng = np.random.default_rng(0)
    n, e = 60, 20
    base = rng.normal(0.0, 0.01, n)
    dates = np.arange("2010-01-01", n * e, dtype="datetime64[D]").reshape(n, e)  # [n*E] -> [n, E]

    def method(name, values):
        net = np.zeros((n, e))
        net[:, 0] = values  # the whole episode return on its first day
        zeros = np.zeros((n, e))
        backtest = Backtest(
            net=net, costs=zeros, executed=zeros, next_returns=zeros, prev_position=0.0
        )
        rows = backtest.episode_metrics()
        rows.insert(0, "episode", np.arange(n))
        rows.insert(0, "method", name)
        return MethodResult(name, rows.assign(seed=0), zeros, backtest)

    methods = [
        method("gru", base + 0.01),
        method("worse", base),
        method("same", base + 0.01 + rng.normal(0, 1e-3, n)),
    ]
    path = write_report(methods, np.zeros(n, dtype=int), dates, tmp_path, header=["- test"])
    text = path.read_text()
    # The verdict sits on its own method's row: gru beats "worse", and ties with "same".
    pairwise = text.split("## Pairwise")[1].split("\n## ")[0].splitlines()
    worse = next(line for line in pairwise if line.startswith("| worse | +0.0100"))
    same = next(line for line in pairwise if line.startswith("| same |"))
    assert worse.rstrip().endswith("| better |"), worse
    assert "no clear difference" in same and "better" not in same, same
