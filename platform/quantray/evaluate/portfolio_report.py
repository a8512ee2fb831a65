"""The portfolio report: every method on the same episode list, as Markdown, CSV and PNGs.

Rows come from ``evaluate.portfolio.evaluate_weights``. The results table is the shared one
(``evaluate.table.Scored`` via ``evaluate.portfolio.scored``): the headline Sharpe is the
annualised Sharpe of the pooled daily net returns (all-cash = 0); skill is judged against the
portfolio benchmark (``evaluate.portfolio.BENCHMARK``, 1/N rebalanced daily) as the
single-asset reports judge it against buy-and-hold: information ratio of the daily active
return and paired active return per episode with a verdict. Every interval is the date-block
bootstrap of ``evaluate.blocks`` (episodes grouped by the calendar block of their first day,
runs of consecutive blocks resampled). Turnover, concentration and cash are the portfolio's
own columns (means over episodes).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from quantray.config import CostConfig
from quantray.data.universe import PortfolioEpisodes, PortfolioTask
from quantray.evaluate.blocks import paired_mean_ci
from quantray.evaluate.metrics import equity_curve
from quantray.evaluate.plots import save_figure
from quantray.evaluate.portfolio import BENCHMARK, baseline_weights, evaluate_all, scored
from quantray.evaluate.table import exit_cost_note, format_ci, verdict


def write_portfolio_report(
    rows: pd.DataFrame,
    paths: dict[str, dict[str, np.ndarray]],
    symbols: tuple[str, ...],
    dates: np.ndarray,
    out: str | Path,
    *,
    header: list[str],
    cost: CostConfig,
    reference: str = "strategy",
    seed: int = 0,
    extra: list[str] | None = None,
) -> Path:
    """Write ``report.md``, ``episodes.csv``, ``metrics.csv``, ``weights.png`` and
    ``equity.png`` into ``out``.

    Args:
        rows: per-episode rows of every method (``evaluate_weights`` frames concatenated).
        paths: method -> {"net", "costs": [n, E], "executed": [n, E, N]} (``evaluate_weights``).
        symbols: asset names (N) for the weights plot.
        dates: [n, E] datetime64 decision days of the episodes (the date blocks).
        header: Markdown lines describing data, splits, seeds and config.
        cost: the cost model the paths were scored with (its exit rule is stated).
        reference: the method whose weights are plotted and compared pairwise.
        extra: Markdown lines appended after the tables (e.g. a search's evidence).
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rows.to_csv(out / "episodes.csv", index=False)
    table = scored(paths, dates)
    stats = table.table(seed=seed)
    means = rows.groupby("method", sort=False)[["turnover", "concentration", "mean_cash"]].mean()
    lines = ["# Portfolio strategies on the same episodes", "", *header, ""]
    lines += [
        f"{table.describe()}. Benchmark: `{BENCHMARK}` (1/N over the assets in the universe "
        "each day, rebalanced daily, through the same accounting); the IR is the annualised "
        "Sharpe of the daily active return against it. Concentration is the effective number "
        "of holdings 1 / sum w^2; turnover the mean daily traded fraction of equity. "
        + exit_cost_note(cost),
        "",
        f"| method | Sharpe (pooled daily) | IR vs {BENCHMARK} | return / episode | active vs "
        f"{BENCHMARK} / episode | verdict | max drawdown | turnover | concentration | cash |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    flat = []
    for _, r in stats.iterrows():
        m = means.loc[r.method]
        lines.append(
            f"| {r.method} | {format_ci(r.sharpe, 2, '')} | {format_ci(r.ir, 2, '')} | "
            f"{format_ci(r['return'])} | {format_ci(r.active)} | {r.verdict or '—'} | "
            f"{r.max_drawdown:.3f} | {m.turnover:.3f} | {m.concentration:.2f} | "
            f"{round(m.mean_cash, 2) + 0.0:.2f} |"  # no '-0.00' from rounding
        )
        row = {"method": r.method}
        for key, ci in (
            ("sharpe", r.sharpe),
            ("ir", r.ir),
            ("return", r["return"]),
            ("active", r.active),
        ):
            row.update(
                {key: getattr(ci, "estimate", np.nan)}
                | {f"{key}_low": getattr(ci, "low", np.nan)}
                | {f"{key}_high": getattr(ci, "high", np.nan)}
            )
        flat.append(row | {"verdict": r.verdict, "max_drawdown": r.max_drawdown, **m.to_dict()})
    pd.DataFrame(flat).to_csv(out / "metrics.csv", index=False)

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
            ci = paired_mean_ci(ref, other, table.blocks, seed=seed)
            lines.append(f"| {name} | {format_ci(ci)} | {verdict(ci)} |")

    lines += ["", *(extra or [])]
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
    save_figure(fig, path)


def _plot_equity(paths: dict[str, dict[str, np.ndarray]], path: Path) -> None:
    fig, ax = plt.subplots(figsize=(9, 4))
    for name, p in paths.items():
        ax.plot(equity_curve(p["net"].reshape(-1)), label=name)  # [n, E] -> [n*E]
    ax.set_xlabel("evaluation day (episodes back to back)")
    ax.set_ylabel("equity")
    ax.legend(fontsize=7)
    save_figure(fig, path)


def report_with_baselines(
    task: PortfolioTask,
    episodes: PortfolioEpisodes,
    weights: dict[str, np.ndarray],
    cost: CostConfig,
    out: str | Path,
    *,
    header: list[str],
    **report: Any,
) -> Path:
    """Play the learned ``weights`` (name -> target weights [n, E, N] on ``episodes``) and
    every portfolio baseline through the same accounting and write the portfolio report
    into ``out`` (``write_portfolio_report``; ``report``: its
    reference / seed / extra arguments). Returns the report's path."""
    rows, paths = evaluate_all(
        {**weights, **baseline_weights(task, episodes, cost)}, episodes, cost
    )
    return write_portfolio_report(
        rows,
        paths,
        task.symbols,
        task.episode_dates(episodes),
        out,
        header=header,
        cost=cost,
        **report,
    )
