"""The comparison report: every method on the identical fixed list of held-out episodes.

Input: each method's backtest on the test episodes (learned methods: their training seeds
averaged per episode-day), per-seed rows from ``evaluate_positions``, the positions each
method took, the episodes' dates and market regimes and each method's cost (wall-clock,
training samples). Output: ``report.md`` (the one results table of ``evaluate.table``:
pooled Sharpe, information ratio and active return vs buy-and-hold with date-block
intervals; pairwise differences on the same episodes with date-block intervals; the mean by
market regime; spread over training seeds; cost per method), ``episodes.csv`` and PNG plots
(calendar-time equity and drawdown, positions by date, per-regime bars, learning curves).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from quantray.config import REGIMES
from quantray.evaluate.backtest import Backtest
from quantray.evaluate.blocks import paired_mean_ci
from quantray.evaluate.calendar import calendar_summary
from quantray.evaluate.plots import (
    plot_calendar,
    plot_learning_curves,
    plot_positions,
    save_figure,
)
from quantray.evaluate.table import Scored, format_ci, verdict

CEILING = "perfect_foresight"


@dataclass
class MethodResult:
    """One method's evaluation: per-episode rows (all seeds stacked) and how it was trained."""

    name: str
    rows: pd.DataFrame
    """evaluate_positions output with an extra integer column ``seed``."""
    positions: np.ndarray
    """[n, E] positions of the first seed (for plots)."""
    backtest: Backtest
    """The test backtest, training seeds averaged per episode-day (``mean_backtest``)."""
    seconds: float = 0.0
    """Wall-clock of training, all seeds (validations included)."""
    samples: int = 0
    """Env-days seen in training, all seeds (RL env steps; GRU episodes x E)."""
    notes: dict[str, str] = field(default_factory=dict)
    train_seconds: float = 0.0
    """Seconds of training steps alone, all seeds (what a seconds budget counts)."""
    daily: pd.Series | None = None
    """Equal-weight daily net returns over the held-out dates (``evaluate.calendar``)."""
    daily_position: pd.Series | None = None
    """Equal-weight mean position per held-out date."""


def _seed_mean(rows: pd.DataFrame, metric: str) -> np.ndarray:
    """Per-episode metric averaged over seeds: [n] in episode order."""
    return rows.groupby("episode", sort=True)[metric].mean().to_numpy()


def write_report(
    methods: list[MethodResult],
    regimes: np.ndarray,
    dates: np.ndarray,
    out: str | Path,
    *,
    header: list[str],
    reference: str = "gru",
    seed: int = 0,
    regime_by_date: pd.Series | None = None,
    curves: pd.DataFrame | None = None,
    curve_metric: str = "valid_ir",
) -> Path:
    """Write report.md, episodes.csv and the PNGs into ``out``; returns the report path.

    Methods with a ``daily`` series get the calendar-time table and figures (equity and
    drawdown, positions; shaded by ``regime_by_date``); ``curves`` (method, seed, samples,
    train_seconds, ``curve_metric``) becomes learning_curves.csv / .png."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    episodes = pd.concat([m.rows for m in methods], ignore_index=True)
    regime_of = dict(enumerate(regimes.tolist()))
    episodes["regime"] = episodes["episode"].map(lambda e: REGIMES[regime_of[int(e)]])
    episodes.to_csv(out / "episodes.csv", index=False)

    scored = Scored.build({m.name: m.backtest for m in methods}, dates)
    lines = ["# Strategy comparison on held-out episodes", "", *header, ""]
    lines += [
        "Learned methods: their training seeds' daily returns averaged per episode-day.",
        "",
        *scored.markdown(seed=seed),
    ]

    by_name = {m.name: m for m in methods}
    if reference in by_name:
        ref = _seed_mean(by_name[reference].rows, "total_return")
        lines += [
            "",
            f"## Pairwise: {reference} minus each method (episode total return, paired on the "
            "same episodes, date-block 95% intervals)",
            "",
            "| versus | difference [95% CI] | verdict |",
            "|---|---|---|",
        ]
        for m in methods:
            if m.name == reference:
                continue
            other = _seed_mean(m.rows, "total_return")
            ci = paired_mean_ci(ref, other, scored.blocks, seed=seed)
            lines.append(f"| {m.name} | {format_ci(ci)} | {verdict(ci)} |")

    lines += ["", "## By market regime (mean episode total return; n episodes)", ""]
    counts = {r: int((regimes == i).sum()) for i, r in enumerate(REGIMES)}
    lines.append("| method | " + " | ".join(f"{r} (n={counts[r]})" for r in REGIMES) + " |")
    lines.append("|---|" + "---|" * len(REGIMES))
    regime_table = {}
    for m in methods:
        per_ep = _seed_mean(m.rows, "total_return")
        means = [
            float(per_ep[regimes == i].mean()) if counts[r] else np.nan
            for i, r in enumerate(REGIMES)
        ]
        regime_table[m.name] = means
        lines.append(f"| {m.name} | " + " | ".join(f"{v:+.4f}" for v in means) + " |")

    lines += [
        "",
        "## Spread over training seeds and cost",
        "",
        "| method | seeds | mean return per seed | training env-days | training s | wall-clock s |",
        "|---|---|---|---|---|---|",
    ]
    for m in methods:
        per_seed = m.rows.groupby("seed")["total_return"].mean()
        spread = ", ".join(f"{v:+.4f}" for v in per_seed.to_numpy())
        lines.append(
            f"| {m.name} | {len(per_seed)} | {spread} | {m.samples:,} | {m.train_seconds:.1f} "
            f"| {m.seconds:.1f} |"
        )

    daily = {m.name: m.daily for m in methods if m.daily is not None and m.name != CEILING}
    figures = []
    if daily:
        lines += [
            "",
            "## Over calendar time (equal weight across the symbols traded each day)",
            "",
            "Each method's held-out positions applied on their own dates (a return is booked on "
            "the day it is earned); a day's return is the mean over the symbols with an open "
            f"episode that day (learned methods: over their seeds too). {CEILING} is left out "
            "(it would flatten every curve).",
            "",
            "| method | days | first | last | total return | CAGR | Sharpe | max drawdown |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for name, series in daily.items():
            c = calendar_summary(series)
            lines.append(
                f"| {name} | {c['n_days']:.0f} | {c['first']} | {c['last']} | "
                f"{c['total_return']:+.4f} | {c['cagr']:+.4f} | {c['sharpe']:.3f} | "
                f"{c['max_drawdown']:.4f} |"
            )
        plot_calendar(daily, out / "equity.png", regime=regime_by_date)
        positions = {
            m.name: m.daily_position
            for m in methods
            if m.daily_position is not None and m.name not in (CEILING, "buy_and_hold", "cash")
        }
        plot_positions(positions, out / "positions.png", regime=regime_by_date)
        figures += ["equity", "positions"]
    _plot_regimes(regime_table, out / "regimes.png")
    figures.append("regimes")
    if curves is not None and not curves.empty:
        curves.to_csv(out / "learning_curves.csv", index=False)
        plot_learning_curves(curves, out / "learning_curves.png", metric=curve_metric)
        lines += [
            "",
            "## Learning curves",
            "",
            f"Validation {curve_metric} of every method and seed against env-days and "
            "training seconds used (learning_curves.csv); the kept checkpoint is each run's "
            "best point.",
        ]
        figures.append("learning_curves")
    lines.append("")
    for name in figures:
        lines += [f"![{name}]({name}.png)", ""]
    path = out / "report.md"
    path.write_text("\n".join(lines))
    return path


def _plot_regimes(table: dict[str, list[float]], path: Path) -> None:
    fig, ax = plt.subplots(figsize=(9, 4))
    width = 0.8 / max(1, len(table))
    x = np.arange(len(REGIMES))
    for i, (name, means) in enumerate(table.items()):
        ax.bar(x + i * width, np.nan_to_num(means), width, label=name)
    ax.set_xticks(x + 0.4 - width / 2, REGIMES)
    ax.set_ylabel("mean episode total return")
    ax.axhline(0, color="black", lw=0.8)
    ax.legend(fontsize=8)
    save_figure(fig, path)
