"""The walk-forward report: per-fold out-of-sample positions stitched into one record per
method, scored through the one accounting path, with date-block intervals.

Input: for each update mode ('retrain', 'incremental'), the folds' ``result.json`` dicts and
their ``oos.parquet`` frames (one row per episode day: fold, symbol, episode, date, day,
next_return, prev_return and one position column per method). Every day of the record was
decided by the model of the fold whose out-of-sample block holds it.

Statistics follow the rules of the other reports: the headline Sharpe is the annualised
Sharpe of the pooled daily net returns (``pooled_metrics``: all episodes back to back;
all-cash = 0 here, not NaN); skill is judged on the difference to buy-and-hold on the same
days; intervals resample whole calendar months of the record (every symbol's days of a month
together, so episodes that share dates are never treated as independent) with
``stats.bootstrap_ci``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from quantray.accounting import limit_flags
from quantray.config import CostConfig
from quantray.evaluate.metrics import TRADING_DAYS_PER_YEAR, run_backtest
from quantray.evaluate.report import REGIME_NAMES
from quantray.evaluate.stats import ConfidenceInterval, bootstrap_ci
from quantray.losses.market import classify_market

BENCHMARK = "buy_and_hold"
CEILING = "perfect_foresight"
KEY_COLUMNS = ("fold", "symbol", "episode", "date", "day", "next_return", "prev_return")


def method_names(record: pd.DataFrame) -> list[str]:
    """Position columns of a stitched record, learned methods first."""
    return [c for c in record.columns if c not in KEY_COLUMNS]


def stitch(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Concatenate the folds' out-of-sample frames in date order; raises if two folds claim
    the same (symbol, date): blocks must not overlap."""
    record = pd.concat(frames, ignore_index=True)
    record = record.sort_values(["symbol", "episode", "day"], kind="stable").reset_index(drop=True)
    dup = record.duplicated(["symbol", "date"])
    if dup.any():
        row = record[dup].iloc[0]
        raise ValueError(
            f"stitch: {row.symbol} {row.date} is claimed by more than one fold; out-of-sample "
            "blocks must not overlap"
        )
    return record


def _episodes(record: pd.DataFrame, column: str, e: int) -> np.ndarray:
    return record[column].to_numpy(np.float64).reshape(-1, e)  # [n*E] -> [n, E]


def backtest_record(record: pd.DataFrame, cost: CostConfig) -> dict[str, pd.DataFrame]:
    """Per method: the record's rows with ``net`` (daily net return) and ``executed``."""
    e = int(record["day"].max()) + 1
    r = _episodes(record, "next_return", e)
    up, down = limit_flags(_episodes(record, "prev_return", e), cost.price_limit)
    out = {}
    for name in method_names(record):
        bt = run_backtest(_episodes(record, name, e), r, cost, limit_up=up, limit_down=down)
        out[name] = record[list(KEY_COLUMNS)].assign(
            net=bt.net.reshape(-1),  # [n, E] -> [n*E]
            executed=bt.executed.reshape(-1),  # [n, E] -> [n*E]
            cost=bt.costs.reshape(-1),  # [n, E] -> [n*E]
        )
    return out


def _sharpe(s1: np.ndarray, s2: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Annualised Sharpe (ddof=1) from sums of returns, of squares and counts; 0 when the
    returns do not vary (all cash)."""
    mean = s1 / n
    var = (s2 - n * mean**2) / np.maximum(n - 1, 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        sharpe = mean / np.sqrt(var) * math.sqrt(TRADING_DAYS_PER_YEAR)
    return np.where(var > 1e-30, sharpe, 0.0)


def month_block_ci(
    net: pd.DataFrame, benchmark: pd.DataFrame | None = None, seed: int = 0
) -> ConfidenceInterval:
    """Pooled annualised Sharpe of ``net`` (minus the benchmark's Sharpe on the same days when
    given) with a 95% interval from resampling calendar months of the record."""
    month = pd.to_datetime(net["date"]).dt.to_period("M").to_numpy()
    blocks, block = np.unique(month, return_inverse=True)  # block id of every row [rows]
    sums = []
    for frame in (net,) if benchmark is None else (net, benchmark):
        x = frame["net"].to_numpy(np.float64)
        sums.append(
            (
                np.bincount(block, x, len(blocks)),
                np.bincount(block, x * x, len(blocks)),
                np.bincount(block, minlength=len(blocks)).astype(np.float64),
            )
        )

    def statistic(ids: np.ndarray, axis: int = -1) -> np.ndarray:
        i = ids.astype(np.int64)
        values = [_sharpe(*(s[i].sum(axis=axis) for s in triple)) for triple in sums]
        return values[0] if len(values) == 1 else values[0] - values[1]

    return bootstrap_ci(
        np.arange(len(blocks), dtype=np.float64),
        statistic,
        n_resamples=2000,
        seed=seed,
        method="percentile",
    )


def record_metrics(books: dict[str, pd.DataFrame], seed: int = 0) -> pd.DataFrame:
    """One row per method: pooled Sharpe [CI], Sharpe minus buy-and-hold [CI], total return
    of the equal-weight daily portfolio, max drawdown, turnover, mean position, days."""
    rows = []
    bench = books.get(BENCHMARK)
    for name, book in books.items():
        sharpe = month_block_ci(book, seed=seed)
        active = (
            month_block_ci(book, bench, seed=seed)
            if bench is not None
            else ConfidenceInterval(math.nan, math.nan, math.nan)
        )
        daily = book.groupby("date")["net"].mean()
        equity = np.cumprod(1.0 + daily.to_numpy())
        peak = np.maximum.accumulate(np.concatenate([[1.0], equity]))[1:]
        e = int(book["day"].max()) + 1
        p = book["executed"].to_numpy().reshape(-1, e)  # [n*E] -> [n, E]
        entry = np.abs(np.diff(p, axis=1, prepend=0.0))  # [n, E], entry trade counted
        rows.append(
            {
                "method": name,
                "sharpe": sharpe.estimate,
                "sharpe_low": sharpe.low,
                "sharpe_high": sharpe.high,
                "sharpe_vs_bh": active.estimate,
                "sharpe_vs_bh_low": active.low,
                "sharpe_vs_bh_high": active.high,
                "total_return": float(equity[-1] - 1.0),
                "annual_return": float(
                    equity[-1] ** (TRADING_DAYS_PER_YEAR / max(len(equity), 1)) - 1.0
                ),
                "max_drawdown": float((1.0 - equity / peak).max()),
                "turnover": float(entry.mean()),
                "mean_position": float(p.mean()),
                "days": len(daily),
                "months": int(pd.to_datetime(book["date"]).dt.to_period("M").nunique()),
            }
        )
    return pd.DataFrame(rows)


def fold_metrics(books: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Per fold and method: pooled Sharpe and the mean episode return of the block."""
    rows = []
    for name, book in books.items():
        for fold, part in book.groupby("fold"):
            e = int(part["day"].max()) + 1
            net = part["net"].to_numpy().reshape(-1, e)  # [n*E] -> [n, E]
            s1, s2, n = net.sum(), (net**2).sum(), float(net.size)
            rows.append(
                {
                    "fold": int(fold),
                    "method": name,
                    "sharpe": float(_sharpe(np.array(s1), np.array(s2), np.array(n))),
                    "episode_return": float(np.prod(1.0 + net, axis=1).mean() - 1.0),
                }
            )
    return pd.DataFrame(rows)


def regime_metrics(books: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Per market regime (three-voter classifier on each episode's realised returns) and
    method: pooled Sharpe, mean episode return and the number of episodes."""
    any_book = next(iter(books.values()))
    e = int(any_book["day"].max()) + 1
    r = any_book["next_return"].to_numpy(np.float64, copy=True).reshape(-1, e)  # [n*E] -> [n, E]
    regime = classify_market(torch.from_numpy(r)).numpy()  # [n]
    rows = []
    for name, book in books.items():
        net = book["net"].to_numpy().reshape(-1, e)  # [n*E] -> [n, E]
        for code, label in enumerate(REGIME_NAMES):
            part = net[regime == code]
            if part.size == 0:
                continue
            s1, s2, n = part.sum(), (part**2).sum(), float(part.size)
            rows.append(
                {
                    "regime": label,
                    "method": name,
                    "episodes": len(part),
                    "sharpe": float(_sharpe(np.array(s1), np.array(s2), np.array(n))),
                    "episode_return": float(np.prod(1.0 + part, axis=1).mean() - 1.0),
                }
            )
    return pd.DataFrame(rows)


def _ci(est: float, low: float, high: float) -> str:
    return f"{est:+.3f} [{low:+.3f}, {high:+.3f}]"


def write_walk_forward_report(
    runs: dict[str, tuple[list[dict[str, Any]], pd.DataFrame]],
    cost: CostConfig,
    out: str | Path,
    *,
    header: list[str],
    seed: int = 0,
) -> Path:
    """Write walk_forward.md, the CSVs and PNGs for ``runs`` = {update: (fold results,
    stitched record)}; returns the report path."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    lines = ["# Walk-forward evaluation", "", *header, ""]
    all_metrics, all_folds, all_regimes, costs, books_of = [], [], [], [], {}
    for update, (results, record) in runs.items():
        books = backtest_record(record, cost)
        books_of[update] = books
        record.to_csv(out / f"record_{update}.csv", index=False)
        metrics = record_metrics(books, seed=seed).assign(update=update)
        per_fold = fold_metrics(books).assign(update=update)
        regimes = regime_metrics(books).assign(update=update)
        all_metrics.append(metrics)
        all_folds.append(per_fold)
        all_regimes.append(regimes)
        info = pd.DataFrame(results).sort_values("fold")
        costs.append(info.assign(update=update))

        lines += [f"## `{update}`: stitched out-of-sample record", ""]
        lines += [
            f"{len(info)} folds, out-of-sample {info.test_start.iloc[0]}..{info.test_end.iloc[-1]}"
            f" ({int(metrics.days.iloc[0])} trading days, {int(metrics.months.iloc[0])} months, "
            f"{len(record) // (int(record.day.max()) + 1)} episodes). Sharpe: annualised, of "
            "the pooled daily net returns; 95% CIs resample calendar months. Each block is "
            "played as consecutive whole episodes per symbol; the few days at a block's end "
            "that do not fill one are left out.",
            "",
            "| method | Sharpe [95% CI] | Sharpe minus buy&hold [95% CI] | verdict | total return "
            "(equal-weight) | max drawdown | turnover | mean position |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for m in metrics.itertuples():
            verdict = (
                "—"
                if m.method == BENCHMARK
                else "beats buy&hold"
                if m.sharpe_vs_bh_low > 0
                else "worse than buy&hold"
                if m.sharpe_vs_bh_high < 0
                else "no clear difference"
            )
            lines.append(
                f"| {m.method} | {_ci(m.sharpe, m.sharpe_low, m.sharpe_high)} | "
                f"{_ci(m.sharpe_vs_bh, m.sharpe_vs_bh_low, m.sharpe_vs_bh_high)} | {verdict} | "
                f"{m.total_return:+.3f} | {m.max_drawdown:.3f} | {m.turnover:.3f} | "
                f"{m.mean_position:.2f} |"
            )
        wide = per_fold.pivot(index="fold", columns="method", values="sharpe")
        lines += [
            "",
            "Per fold (out-of-sample pooled Sharpe per method; training samples = stage-1 "
            "windows + stage-2 episodes):",
            "",
            "| fold | train from | OOS block | stage-1 samples | stage-2 samples | seconds | "
            "valid Sharpe | " + " | ".join(wide.columns) + " |",
            "|---|---|---|---|---|---|---|" + "---|" * len(wide.columns),
        ]
        for r in info.itertuples():
            cells = " | ".join(f"{wide.loc[r.fold, c]:+.2f}" for c in wide.columns)
            lines.append(
                f"| {r.fold} | {r.update_start} | {r.test_start}..{r.test_end} | "
                f"{r.stage1_samples:,} | {r.strategy_samples:,} | {r.seconds:.1f} | "
                f"{r.valid_sharpe:+.2f} | {cells} |"
            )
        lines += ["", "By market regime (pooled Sharpe; mean episode return; episodes):", ""]
        lines += ["| method | " + " | ".join(REGIME_NAMES) + " |", "|---|---|---|---|"]
        for name, part in regimes.groupby("method", sort=False):
            by = {r.regime: r for r in part.itertuples()}
            cells = [
                f"{by[g].sharpe:+.2f}; {by[g].episode_return:+.4f}; {by[g].episodes}"
                if g in by
                else "—"
                for g in REGIME_NAMES
            ]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        lines.append("")

    metrics = pd.concat(all_metrics, ignore_index=True)
    cost_frame = pd.concat(costs, ignore_index=True)
    metrics.to_csv(out / "metrics.csv", index=False)
    pd.concat(all_folds, ignore_index=True).to_csv(out / "fold_metrics.csv", index=False)
    pd.concat(all_regimes, ignore_index=True).to_csv(out / "regimes.csv", index=False)
    cost_frame.to_csv(out / "folds.csv", index=False)
    if len(runs) > 1:
        lines += [
            "## Retrain vs incremental: quality and cost",
            "",
            "| update | GRU Sharpe [95% CI] | GRU minus buy&hold [95% CI] | mean seconds per "
            "fold | total seconds | mean stage-1 samples per fold | mean stage-2 samples per fold |",
            "|---|---|---|---|---|---|---|",
        ]
        for update in runs:
            m = metrics[(metrics["update"] == update) & (metrics["method"] == "gru")].iloc[0]
            c = cost_frame[cost_frame["update"] == update]
            lines.append(
                f"| {update} | {_ci(m.sharpe, m.sharpe_low, m.sharpe_high)} | "
                f"{_ci(m.sharpe_vs_bh, m.sharpe_vs_bh_low, m.sharpe_vs_bh_high)} | "
                f"{c.seconds.mean():.1f} | {c.seconds.sum():.1f} | "
                f"{c.stage1_samples.mean():,.0f} | {c.strategy_samples.mean():,.0f} |"
            )
        lines += [
            "",
            "Seconds are each fold's own wall-clock (stage 1 + features + stage 2); retrain "
            "folds run in parallel, incremental folds one after another.",
            "",
        ]
    _plot_equity(books_of, runs, out / "equity.png")
    lines += ["![stitched equity](equity.png)", ""]
    path = out / "walk_forward.md"
    path.write_text("\n".join(lines))
    return path


def _plot_equity(
    books_of: dict[str, dict[str, pd.DataFrame]],
    runs: dict[str, tuple[list[dict[str, Any]], pd.DataFrame]],
    path: Path,
) -> None:
    fig, axes = plt.subplots(len(books_of), 1, figsize=(10, 4 * len(books_of)), squeeze=False)
    for ax, (update, books) in zip(axes[:, 0], books_of.items(), strict=True):
        for name, book in books.items():
            if name == CEILING:
                continue  # the oracle would flatten every other curve
            daily = book.groupby("date")["net"].mean()
            ax.plot(pd.to_datetime(daily.index), np.cumprod(1.0 + daily.to_numpy()), label=name)
        for result in runs[update][0]:
            ax.axvline(pd.Timestamp(result["test_start"]), color="grey", lw=0.5, ls=":")
        ax.set_title(
            f"{update}: stitched out-of-sample equity (equal weight over symbols; dotted = "
            f"fold starts; {CEILING} omitted)",
            fontsize=9,
        )
        ax.set_ylabel("growth of 1")
        ax.set_yscale("log")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, ncol=3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
