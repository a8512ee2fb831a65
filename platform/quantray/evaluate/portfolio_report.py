"""The portfolio report: every method on the same episode list, as Markdown, CSV and PNGs.

Rows come from ``evaluate.portfolio.evaluate_weights``. The evaluation list is the split's
non-overlapping stride-E episodes on the shared calendar, so every episode is its own block
of dates (no two episodes share a day): resampling episodes is resampling date blocks, and
the bootstrap CIs here (``evaluate.stats``) respect the dependence of days within a block.
The headline Sharpe is the annualised Sharpe of the pooled daily net returns (all-cash = 0).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from quantray.evaluate.metrics import equity_curve
from quantray.evaluate.portfolio import pooled_summary
from quantray.evaluate.stats import bootstrap_ci, paired_difference_ci

BENCHMARK = "equal_weight"
N_RESAMPLES = 2000


def _ci(values: np.ndarray, seed: int) -> str:
    values = values[np.isfinite(values)]
    if len(values) < 2:
        return "n/a"
    est, lo, hi = bootstrap_ci(values, n_resamples=N_RESAMPLES, seed=seed, method="percentile")
    return f"{est:+.4f} [{lo:+.4f}, {hi:+.4f}]"


def write_portfolio_report(
    rows: pd.DataFrame,
    paths: dict[str, dict[str, np.ndarray]],
    symbols: tuple[str, ...],
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
        header: Markdown lines describing data, splits, seeds and config.
        reference: the method whose weights are plotted and compared pairwise.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rows.to_csv(out / "episodes.csv", index=False)
    n_episodes = int(rows["episode"].nunique())
    lines = ["# Portfolio strategies on the same episodes", "", *header, ""]
    lines += [
        f"{n_episodes} non-overlapping 20-day episodes (each its own block of dates). Pooled "
        "Sharpe: annualised, of all daily net returns back to back. Other columns: mean per "
        "episode with a 95% bootstrap CI over episodes; excess is against 1/N rebalanced "
        "daily through the same accounting; concentration is the effective number of "
        "holdings 1 / sum w^2.",
        "",
        "| method | pooled Sharpe | return | excess vs 1/N | max drawdown | turnover "
        "| concentration | cash |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, frame in rows.groupby("method", sort=False):
        pooled = pooled_summary(paths[str(name)])
        cells = [
            f"{pooled['pooled_sharpe']:.3f}",
            _ci(frame["total_return"].to_numpy(), seed),
            _ci(frame["excess_return"].to_numpy(), seed),
            _ci(frame["max_drawdown"].to_numpy(), seed),
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
            est, lo, hi = paired_difference_ci(
                ref, other, n_resamples=N_RESAMPLES, seed=seed, method="percentile"
            )
            verdict = "better" if lo > 0 else "worse" if hi < 0 else "no clear difference"
            lines.append(f"| {name} | {est:+.4f} [{lo:+.4f}, {hi:+.4f}] | {verdict} |")

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
