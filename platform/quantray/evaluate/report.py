"""The comparison report: every method on the identical fixed list of held-out episodes.

Input: each method's backtest on the test episodes (learned methods: their training seeds
averaged per episode-day), per-seed rows from ``evaluate_positions``, the positions each
method took, the episodes' dates and market regimes and each method's cost (wall-clock,
training samples). Output: ``report.md`` (the one results table of ``evaluate.table``:
pooled Sharpe, information ratio and active return vs buy-and-hold with date-block
intervals; pairwise differences on the same episodes with date-block intervals; the mean by
market regime; spread over training seeds; cost per method), ``episodes.csv`` and PNG plots
(equity curves, positions by day, per-regime bars).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from quantray.evaluate.blocks import paired_mean_ci
from quantray.evaluate.metrics import Backtest
from quantray.evaluate.table import Scored, format_ci, verdict

REGIME_NAMES = ("bull", "bear", "sideways")
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
    samples: int = 0
    notes: dict[str, str] = field(default_factory=dict)


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
) -> Path:
    """Write report.md, episodes.csv and the PNGs into ``out``; returns the report path."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    episodes = pd.concat([m.rows for m in methods], ignore_index=True)
    regime_of = dict(enumerate(regimes.tolist()))
    episodes["regime"] = episodes["episode"].map(lambda e: REGIME_NAMES[regime_of[int(e)]])
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
    counts = {r: int((regimes == i).sum()) for i, r in enumerate(REGIME_NAMES)}
    lines.append("| method | " + " | ".join(f"{r} (n={counts[r]})" for r in REGIME_NAMES) + " |")
    lines.append("|---|" + "---|" * len(REGIME_NAMES))
    regime_table = {}
    for m in methods:
        per_ep = _seed_mean(m.rows, "total_return")
        means = [
            float(per_ep[regimes == i].mean()) if counts[r] else np.nan
            for i, r in enumerate(REGIME_NAMES)
        ]
        regime_table[m.name] = means
        lines.append(f"| {m.name} | " + " | ".join(f"{v:+.4f}" for v in means) + " |")

    lines += [
        "",
        "## Spread over training seeds and cost",
        "",
        "| method | seeds | mean return per seed | wall-clock (s) | training samples |",
        "|---|---|---|---|---|",
    ]
    for m in methods:
        per_seed = m.rows.groupby("seed")["total_return"].mean()
        spread = ", ".join(f"{v:+.4f}" for v in per_seed.to_numpy())
        lines.append(f"| {m.name} | {len(per_seed)} | {spread} | {m.seconds:.1f} | {m.samples:,} |")

    _plot_equity(methods, out / "equity.png")
    _plot_positions(methods, out / "positions.png")
    _plot_regimes(regime_table, out / "regimes.png")
    lines += [
        "",
        "![equity](equity.png)",
        "",
        "![positions](positions.png)",
        "",
        "![regimes](regimes.png)",
        "",
    ]
    path = out / "report.md"
    path.write_text("\n".join(lines))
    return path


def _plot_equity(methods: list[MethodResult], path: Path) -> None:
    fig, ax = plt.subplots(figsize=(9, 4.5))
    for m in methods:
        if m.name == CEILING:
            continue  # the oracle grows so fast it would flatten every other curve
        first = m.rows[m.rows["seed"] == m.rows["seed"].min()].sort_values("episode")
        curve = np.cumprod(1.0 + first["total_return"].to_numpy())
        ax.plot(curve, label=m.name)
    ax.set_xlabel("episode (held-out, in date order per symbol)")
    ax.set_ylabel("growth of 1, episodes traded back to back")
    ax.set_title(f"held-out episodes ({CEILING} omitted: see the table)", fontsize=9)
    ax.set_yscale("log")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _plot_positions(methods: list[MethodResult], path: Path) -> None:
    fig, ax = plt.subplots(figsize=(9, 4))
    for m in methods:
        ax.plot(m.positions.mean(axis=0), marker="o", ms=3, label=m.name)
    ax.set_xlabel("day in episode")
    ax.set_ylabel("mean position (0 = cash, 1 = fully invested)")
    ax.set_ylim(-0.05, 1.05)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _plot_regimes(table: dict[str, list[float]], path: Path) -> None:
    fig, ax = plt.subplots(figsize=(9, 4))
    width = 0.8 / max(1, len(table))
    x = np.arange(len(REGIME_NAMES))
    for i, (name, means) in enumerate(table.items()):
        ax.bar(x + i * width, np.nan_to_num(means), width, label=name)
    ax.set_xticks(x + 0.4 - width / 2, REGIME_NAMES)
    ax.set_ylabel("mean episode total return")
    ax.axhline(0, color="black", lw=0.8)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
