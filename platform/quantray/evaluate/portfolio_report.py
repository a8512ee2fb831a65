"""The portfolio report: every method on the same episode list, as Markdown, CSV and PNGs.

Rows come from ``evaluate.portfolio.evaluate_weights``. Intervals are the date-block
bootstrap of ``evaluate.blocks`` (episodes grouped by the calendar block of their first day,
runs of consecutive blocks resampled). The headline Sharpe is the annualised Sharpe of the
pooled daily net returns (all-cash = 0), with its date-block CI.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from quantray.evaluate.blocks import DateBlocks, mean_ci, paired_mean_ci, pooled_sharpe_ci
from quantray.evaluate.metrics import equity_curve
from quantray.evaluate.table import format_ci, verdict


def write_portfolio_report(
    rows: pd.DataFrame,
    paths: dict[str, dict[str, np.ndarray]],
    symbols: tuple[str, ...],
    dates: np.ndarray,
    out: str | Path,
    *,
    header: list[str],
    reference: str = "strategy",
    seed: int = 0,
) -> Path:
    """Write ``report.md``, ``episodes.csv``, ``weights.png`` and ``equity.png`` into ``out``.

    Args:
        rows: per-episode rows of every method (``evaluate_weights`` frames concatenated).
        paths: method -> {"net": [n, E], "executed": [n, E, N]} from ``evaluate_weights``.
        symbols: asset names (N) for the weights plot.
        dates: [n, E] datetime64 decision days of the episodes (the date blocks).
        header: Markdown lines describing data, splits, seeds and config.
        reference: the method whose weights are plotted and compared pairwise.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rows.to_csv(out / "episodes.csv", index=False)
    blocks = DateBlocks.from_dates(dates)
    lines = ["# Portfolio strategies on the same episodes", "", *header, ""]
    lines += [
        f"{len(blocks)} non-overlapping episodes in {blocks.n_blocks} date blocks. Pooled "
        "Sharpe: annualised, of all daily net returns back to back. Return, excess and "
        "drawdown: mean per episode. Brackets: 95% date-block bootstrap CIs "
        "(quantray.evaluate.blocks). Excess is against 1/N rebalanced daily through the same "
        "accounting; concentration is the effective number of holdings 1 / sum w^2. Exit "
        "costs are not charged in the portfolio task: an episode's final weights are not sold "
        "at its end (the same for every method and baseline).",
        "",
        "| method | pooled Sharpe | return | excess vs 1/N | max drawdown | turnover "
        "| concentration | cash |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, frame in rows.groupby("method", sort=False):
        cells = [
            format_ci(pooled_sharpe_ci(paths[str(name)]["net"], blocks, seed=seed), 3, ""),
            *(
                format_ci(mean_ci(frame[k].to_numpy(), blocks, seed=seed))
                for k in ("total_return", "excess_return", "max_drawdown")
            ),
            f"{frame['turnover'].mean():.3f}",
            f"{frame['concentration'].mean():.2f}",
            f"{round(frame['mean_cash'].mean(), 2) + 0.0:.2f}",  # no '-0.00' from rounding
        ]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")

    methods = list(dict.fromkeys(rows["method"]))
    if reference in methods:
        ref = rows.loc[rows["method"] == reference, "total_return"].to_numpy()
        lines += [
            "",
            f"## Pairwise: {reference} minus each method (episode return, same episodes)",
            "",
            "| versus | difference [95% CI] | verdict |",
            "|---|---|---|",
        ]
        for name in methods:
            if name == reference:
                continue
            other = rows.loc[rows["method"] == name, "total_return"].to_numpy()
            ci = paired_mean_ci(ref, other, blocks, seed=seed)
            lines.append(f"| {name} | {format_ci(ci)} | {verdict(ci)} |")

    _plot_weights(paths.get(reference, paths[methods[0]])["executed"], symbols, out / "weights.png")
    _plot_equity(paths, out / "equity.png")
    lines += ["", f"![{reference} weights over time](weights.png)", "", "![equity](equity.png)", ""]
    path = out / "report.md"
    path.write_text("\n".join(lines))
    return path


def _plot_weights(executed: np.ndarray, symbols: tuple[str, ...], path: Path) -> None:
    """Stacked executed weights of the episodes played back to back (cash on top)."""
    flat = executed.reshape(-1, executed.shape[-1])  # [n, E, N] -> [n*E, N]
    stack = np.concatenate([flat, 1.0 - flat.sum(-1, keepdims=True)], axis=-1).T  # [N+1, n*E]
    fig, ax = plt.subplots(figsize=(9, 4))
    ax.stackplot(np.arange(flat.shape[0]), np.clip(stack, 0, 1), labels=[*symbols, "cash"])
    ax.set_xlabel("evaluation day (episodes back to back)")
    ax.set_ylabel("weight")
    ax.set_ylim(0, 1)
    ax.legend(loc="upper left", fontsize=7, ncol=min(len(symbols) + 1, 6))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _plot_equity(paths: dict[str, dict[str, np.ndarray]], path: Path) -> None:
    fig, ax = plt.subplots(figsize=(9, 4))
    for name, p in paths.items():
        ax.plot(equity_curve(p["net"].reshape(-1)), label=name)  # [n, E] -> [n*E]
    ax.set_xlabel("evaluation day (episodes back to back)")
    ax.set_ylabel("equity")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
