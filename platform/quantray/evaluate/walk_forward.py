"""The walk-forward report: per-fold out-of-sample positions stitched into one record per
method, scored through the one accounting path, with date-block intervals.

Input: for each update mode ('retrain', 'incremental'), the folds' ``result.json`` dicts and
their ``oos.parquet`` frames (one row per episode day: fold, symbol, episode, date, day,
next_return, prev_return, can_buy, can_sell and one position column per method). Every day
of the record was decided by the model of the fold whose out-of-sample block holds it, and is
re-scored with the trade permissions the fold's accounting used (``Episodes.trade_flags``:
suspensions, exchange price limits with the unadjusted close where the data has it).

Statistics are those of every other report (``evaluate.table.Scored``): the headline Sharpe
is the annualised Sharpe of the pooled daily net returns (cash = 0); skill is judged against
buy-and-hold (information ratio of the daily active return, paired active return per
episode); intervals resample whole calendar blocks (``evaluate.blocks``), so episodes of
several symbols on the same dates count once.
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

from quantray.config import REGIMES, CostConfig
from quantray.evaluate.backtest import run_backtest
from quantray.evaluate.daily import distinct_days, equal_weight_daily
from quantray.evaluate.metrics import pooled_sharpe
from quantray.evaluate.plots import save_figure
from quantray.evaluate.stats import ConfidenceInterval
from quantray.evaluate.table import Scored, exit_cost_note, format_ci
from quantray.losses.market import classify_market

CEILING = "perfect_foresight"
KEY_COLUMNS = (
    "fold",
    "symbol",
    "episode",
    "date",
    "day",
    "next_return",
    "prev_return",
    "can_buy",
    "can_sell",
)
LEARNED = ("gru", "ppo", "sac")
"""Learned methods a record may hold (the other position columns are baselines)."""


def method_names(record: pd.DataFrame) -> list[str]:
    """Position columns of a stitched record, learned methods first."""
    return [c for c in record.columns if c not in KEY_COLUMNS]


def learned_names(record: pd.DataFrame) -> list[str]:
    """The learned methods' position columns of a record, in ``LEARNED`` order."""
    return [m for m in LEARNED if m in record.columns]


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
    return record[column].to_numpy().reshape(-1, e)  # [n*E] -> [n, E]


def score_record(record: pd.DataFrame, cost: CostConfig) -> Scored:
    """Every method of a stitched record through the one accounting, with the trade flags the
    folds' accounting used (``can_buy`` / ``can_sell`` columns) and the date blocks of its
    episodes (``evaluate.table``: the same table and intervals as every report)."""
    missing = [c for c in ("can_buy", "can_sell") if c not in record.columns]
    if missing:
        raise ValueError(
            f"score_record: the record lacks {missing}; expected the trade flags every fold "
            "writes (Episodes.trade_flags). Rerun the walk-forward with this version to "
            "rewrite its folds (records written before it kept returns only)"
        )
    e = int(record["day"].max()) + 1
    r = _episodes(record, "next_return", e).astype(np.float64)
    can_buy = _episodes(record, "can_buy", e).astype(bool)
    can_sell = _episodes(record, "can_sell", e).astype(bool)
    backtests = {
        name: run_backtest(
            _episodes(record, name, e).astype(np.float64),
            r,
            cost,
            can_buy=can_buy,
            can_sell=can_sell,
        )
        for name in method_names(record)
    }
    return Scored.build(backtests, _episodes(record, "date", e).astype("datetime64[D]"))


def record_metrics(scored: Scored, seed: int = 0) -> pd.DataFrame:
    """One row per method: ``Scored.table`` flattened (estimate, low, high per interval), plus
    the equal-weight daily portfolio's total return and mean position."""
    rows = []
    for _, r in scored.table(seed=seed).iterrows():
        row: dict[str, Any] = {"method": r.method}
        for key in ("sharpe", "ir", "return", "active"):
            ci = r[key] if r[key] is not None else ConfidenceInterval(math.nan, math.nan, math.nan)
            row.update({key: ci.estimate, f"{key}_low": ci.low, f"{key}_high": ci.high})
        b = scored.backtests[r.method]
        daily = equal_weight_daily(b.net, scored.dates)
        row.update(
            verdict=r.verdict,
            total_return=float(np.prod(1.0 + daily.to_numpy()) - 1.0),
            max_drawdown=r.max_drawdown,
            turnover=r.turnover,
            mean_position=float(b.executed.mean()),
            days=distinct_days(scored.dates),
        )
        rows.append(row)
    return pd.DataFrame(rows)


def fold_metrics(scored: Scored, fold: np.ndarray) -> pd.DataFrame:
    """Per fold ([n] fold of each episode) and method: pooled Sharpe, mean episode return."""
    rows = []
    for name, b in scored.backtests.items():
        for k in np.unique(fold):
            net = b.net[fold == k]
            rows.append(
                {
                    "fold": int(k),
                    "method": name,
                    "sharpe": pooled_sharpe(net),
                    "episode_return": float(np.prod(1.0 + net, axis=1).mean() - 1.0),
                }
            )
    return pd.DataFrame(rows)


def regime_metrics(scored: Scored) -> pd.DataFrame:
    """Per market regime (three-voter classifier on each episode's realised returns) and
    method: pooled Sharpe, mean episode return and the number of episodes."""
    any_bt = next(iter(scored.backtests.values()))
    regime = classify_market(torch.from_numpy(any_bt.next_returns.copy())).numpy()  # [n]
    rows = []
    for name, b in scored.backtests.items():
        for code, label in enumerate(REGIMES):
            part = b.net[regime == code]
            if part.size == 0:
                continue
            rows.append(
                {
                    "regime": label,
                    "method": name,
                    "episodes": len(part),
                    "sharpe": pooled_sharpe(part),
                    "episode_return": float(np.prod(1.0 + part, axis=1).mean() - 1.0),
                }
            )
    return pd.DataFrame(rows)


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
    all_metrics, all_folds, all_regimes, costs, scored_of = [], [], [], [], {}
    for update, (results, record) in runs.items():
        scored = score_record(record, cost)
        scored_of[update] = scored
        record.to_csv(out / f"record_{update}.csv", index=False)
        e = int(record["day"].max()) + 1
        fold = record["fold"].to_numpy()[::e]  # [n*E] -> [n] fold of each episode
        metrics = record_metrics(scored, seed=seed).assign(update=update)
        per_fold = fold_metrics(scored, fold).assign(update=update)
        regimes = regime_metrics(scored).assign(update=update)
        all_metrics.append(metrics)
        all_folds.append(per_fold)
        all_regimes.append(regimes)
        info = pd.DataFrame(results).sort_values("fold")
        costs.append(info.assign(update=update))

        lines += [
            f"## `{update}`: stitched out-of-sample record",
            "",
            f"{len(info)} folds, out-of-sample {info.test_start.iloc[0]}.."
            f"{info.test_end.iloc[-1]}. Each block is played as consecutive whole episodes per "
            "symbol; the few days at a block's end that do not fill one are left out. "
            + exit_cost_note(cost),
            "",
            *scored.markdown(seed=seed),
            "",
            "Equal-weight daily portfolio over the symbols (total return over the span): "
            + ", ".join(f"{m.method} {m.total_return:+.3f}" for m in metrics.itertuples()),
        ]
        wide = per_fold.pivot(index="fold", columns="method", values="sharpe")
        rl = [m for m in learned_names(record) if m != "gru"]
        lines += [
            "",
            "Per fold (out-of-sample pooled Sharpe per method, point estimates: the intervals "
            "are those of the stitched record above; training samples = stage-1 windows, GRU "
            "episodes"
            + "".join(f", {m} env-days" for m in rl)
            + "; valid = the selected validation score):",
            "",
            "| fold | train from | OOS block | stage-1 samples | GRU samples | "
            + "".join(f"{m} samples | " for m in rl)
            + "seconds | "
            + f"valid {info.selected_by.iloc[0].removeprefix('valid_')} "
            + f"({' / '.join(['gru', *rl])}) | "
            + " | ".join(wide.columns)
            + " |",
            "|---|---|---|---|---|---|---|" + "---|" * (len(rl) + len(wide.columns)),
        ]
        for r in info.itertuples():
            cells = " | ".join(f"{wide.loc[r.fold, c]:+.2f}" for c in wide.columns)
            rl_cells = "".join(f"{int(getattr(r, f'{m}_samples')):,} | " for m in rl)
            valid = " / ".join(
                f"{v:+.2f}" for v in [r.valid_score, *(getattr(r, f"{m}_valid_score") for m in rl)]
            )
            lines.append(
                f"| {r.fold} | {r.update_start} | {r.test_start}..{r.test_end} | "
                f"{r.stage1_samples:,} | {r.strategy_samples:,} | {rl_cells}{r.seconds:.1f} | "
                f"{valid} | {cells} |"
            )
        lines += ["", "By market regime (pooled Sharpe; mean episode return; episodes):", ""]
        lines += ["| method | " + " | ".join(REGIMES) + " |", "|---|---|---|---|"]
        for name, part in regimes.groupby("method", sort=False):
            by = {r.regime: r for r in part.itertuples()}
            cells = [
                f"{by[g].sharpe:+.2f}; {by[g].episode_return:+.4f}; {by[g].episodes}"
                if g in by
                else "—"
                for g in REGIMES
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
            "| update | method | Sharpe [95% CI] | IR vs buy&hold [95% CI] | verdict vs "
            "buy&hold | mean seconds per fold (all methods) | total seconds | mean training "
            "samples per fold |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for update, (_, record) in runs.items():
            c = cost_frame[cost_frame["update"] == update]
            for method in learned_names(record):
                m = metrics[(metrics["update"] == update) & (metrics["method"] == method)].iloc[0]
                samples = (
                    f"{c.stage1_samples.mean():,.0f} stage-1 windows + "
                    f"{c.strategy_samples.mean():,.0f} episodes"
                    if method == "gru"
                    else f"{c[f'{method}_samples'].mean():,.0f} env-days"
                )
                lines.append(
                    f"| {update} | {method} | {_ci(m, 'sharpe')} | {_ci(m, 'ir')} | "
                    f"{m.verdict} | {c.seconds.mean():.1f} | {c.seconds.sum():.1f} | {samples} |"
                )
        lines += [
            "",
            "Intervals: 95% date-block bootstrap of the stitched record (as in the tables "
            "above). Seconds are each fold's own wall-clock (stage 1 + features + every "
            "method's training); retrain folds run in parallel, incremental folds one after "
            "another.",
            "",
        ]
    _plot_equity(scored_of, runs, out / "equity.png")
    lines += ["![stitched equity](equity.png)", ""]
    path = out / "walk_forward.md"
    path.write_text("\n".join(lines))
    return path


def _ci(row: pd.Series, key: str) -> str:
    return format_ci(ConfidenceInterval(row[key], row[f"{key}_low"], row[f"{key}_high"]), 2, "")


def _plot_equity(
    scored_of: dict[str, Scored],
    runs: dict[str, tuple[list[dict[str, Any]], pd.DataFrame]],
    path: Path,
) -> None:
    fig, axes = plt.subplots(len(scored_of), 1, figsize=(10, 4 * len(scored_of)), squeeze=False)
    for ax, (update, scored) in zip(axes[:, 0], scored_of.items(), strict=True):
        for name, b in scored.backtests.items():
            if name == CEILING:
                continue  # the oracle would flatten every other curve
            daily = equal_weight_daily(b.net, scored.dates)
            ax.plot(daily.index, np.cumprod(1.0 + daily.to_numpy()), label=name)
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
    save_figure(fig, path)
