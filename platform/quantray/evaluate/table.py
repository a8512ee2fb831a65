"""THE per-method results table: every report (compare, the search summary, train_strategy,
train_rl) prints its methods through this one formatter, with the same statistics.

Input: each method's ``Backtest`` on ONE fixed episode list (same episodes, same accounting)
and the episodes' decision dates. Columns:

- Sharpe: annualised Sharpe of the pooled daily net returns (cash = 0), date-block CI.
- IR vs buy&hold: the same of the daily active return (method minus buy-and-hold): skill
  beyond holding the market.
- return / episode: mean 20-day compounded return, date-block CI.
- active / episode: mean of (method's episode return - buy-and-hold's), paired date-block
  CI, and the verdict "better" / "worse" only when that interval excludes 0.
- max drawdown (mean over episodes), turnover (mean daily |Δ position|).

Every interval resamples whole calendar blocks (``evaluate.blocks``): episodes that share
dates move together and are never counted as independent evidence.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from quantray.config import CostConfig
from quantray.evaluate.backtest import Backtest
from quantray.evaluate.blocks import (
    BLOCK_RESAMPLES,
    CONFIDENCE,
    DateBlocks,
    mean_ci,
    paired_mean_ci,
    pooled_sharpe_ci,
)
from quantray.evaluate.stats import ConfidenceInterval

BENCHMARK = "buy_and_hold"
"""The method skill is judged against."""


def verdict(ci: ConfidenceInterval) -> str:
    """'better' / 'worse' when the interval of a difference excludes 0, else no verdict."""
    if not (np.isfinite(ci.low) and np.isfinite(ci.high)):
        return "n/a"
    return "better" if ci.low > 0 else "worse" if ci.high < 0 else "no clear difference"


def mean_backtest(backtests: list[Backtest]) -> Backtest:
    """Several training seeds of one method as one: the seeds' daily values averaged per
    episode-day (capital split equally across the seeds' models)."""
    if not backtests:
        raise ValueError("mean_backtest: expected at least one backtest, got none.")
    first = backtests[0]
    return Backtest(
        net=np.mean([b.net for b in backtests], axis=0),
        costs=np.mean([b.costs for b in backtests], axis=0),
        executed=np.mean([b.executed for b in backtests], axis=0),
        next_returns=first.next_returns,
        prev_position=first.prev_position,
    )


@dataclass(frozen=True)
class Scored:
    """Methods' backtests on one fixed episode list, and the date blocks of its episodes."""

    backtests: Mapping[str, Backtest]
    """{method: Backtest [n, E]} on the same episodes, in display order."""
    dates: np.ndarray
    """[n, E] datetime64 decision dates of the episode-days."""
    blocks: DateBlocks
    benchmark: str = BENCHMARK
    """The method skill is judged against (IR, active return, verdict): buy-and-hold for one
    asset; the portfolio task passes its equal-weight benchmark."""

    @classmethod
    def build(
        cls, backtests: Mapping[str, Backtest], dates: np.ndarray, benchmark: str = BENCHMARK
    ) -> Scored:
        d = np.asarray(dates)
        for name, b in backtests.items():
            if b.net.shape != d.shape:
                raise ValueError(
                    f"Scored: method {name!r} has results of shape {b.net.shape} but the "
                    f"episode dates are {d.shape}; every method must play the same episodes."
                )
        return cls(dict(backtests), d, DateBlocks.from_dates(d), benchmark)

    def rows(self) -> pd.DataFrame:
        """Per-(method, episode) metrics with each episode's first date (episodes.csv)."""
        frames = []
        for name, b in self.backtests.items():
            frame = b.episode_metrics()
            frame.insert(0, "start", pd.DatetimeIndex(self.dates[:, 0]))
            frame.insert(0, "episode", np.arange(len(frame)))
            frame.insert(0, "method", name)
            frames.append(frame)
        return pd.concat(frames, ignore_index=True)

    def table(self, *, seed: int = 0, n_resamples: int = BLOCK_RESAMPLES) -> pd.DataFrame:
        """One row per method: the intervals and the verdict against ``benchmark``."""
        bench = self.backtests.get(self.benchmark)
        bench_episode = None if bench is None else bench.episode_metrics()["total_return"]
        rows = []
        for name, b in self.backtests.items():
            per_episode = b.episode_metrics()
            ret = per_episode["total_return"].to_numpy()
            row = {
                "method": name,
                "sharpe": pooled_sharpe_ci(b.net, self.blocks, seed=seed, n_resamples=n_resamples),
                "return": mean_ci(ret, self.blocks, seed=seed, n_resamples=n_resamples),
                "max_drawdown": float(per_episode["max_drawdown"].mean()),
                "turnover": float(per_episode["turnover"].mean()),
                "ir": None,
                "active": None,
                "verdict": "",
            }
            if bench is not None and name != self.benchmark:
                row["ir"] = pooled_sharpe_ci(
                    b.net - bench.net, self.blocks, seed=seed, n_resamples=n_resamples
                )
                row["active"] = paired_mean_ci(
                    ret, bench_episode.to_numpy(), self.blocks, seed=seed, n_resamples=n_resamples
                )
                row["verdict"] = verdict(row["active"])
            rows.append(row)
        return pd.DataFrame(rows)

    def describe(self) -> str:
        """What the intervals are, in one line for the report."""
        n, e = self.dates.shape
        days = int(np.unique(self.dates).size)
        return (
            f"{n} episodes of {e} days on {days} distinct trading days, in "
            f"{self.blocks.n_blocks} calendar blocks of {self.blocks.block_days} days; "
            f"{CONFIDENCE:.0%} intervals resample whole date blocks (circular block "
            "bootstrap, percentile), so episodes that share dates count once"
        )

    def markdown(self, *, seed: int = 0) -> list[str]:
        """The table as Markdown lines (with its one-line description above it)."""
        table = self.table(seed=seed)
        return [
            f"{self.describe()}.",
            "",
            "| method | Sharpe (pooled daily) | IR vs buy&hold | return / episode | "
            "active vs buy&hold / episode | verdict vs buy&hold | max drawdown | turnover |",
            "|---|---|---|---|---|---|---|---|",
            *[
                f"| {r.method} | {format_ci(r.sharpe, 2, '')} | {format_ci(r.ir, 2, '')} | "
                f"{format_ci(r['return'])} | {format_ci(r.active)} | {r.verdict or '—'} | "
                f"{r.max_drawdown:.3f} | {r.turnover:.3f} |"
                for _, r in table.iterrows()
            ],
        ]


def exit_cost_note(cost: CostConfig) -> str:
    """The sentence every report states about the cost of closing the final position."""
    if cost.charge_exit:
        return (
            "Exit costs are charged: each episode's final position is sold at its end "
            "(the same for every method and baseline)."
        )
    return (
        "Exit costs are not charged: an episode's final position is not sold at its end "
        "(the same for every method and baseline)."
    )


def format_ci(c: ConfidenceInterval | None, digits: int = 4, sign: str = "+") -> str:
    """``estimate [low, high]``, the estimate alone without bounds, '—' for None."""
    if c is None:
        return "—"
    fmt = f"{{:{sign}.{digits}f}}"
    if not np.isfinite(c.estimate):
        return "n/a"
    if not (np.isfinite(c.low) and np.isfinite(c.high)):
        return fmt.format(c.estimate)
    return f"{fmt.format(c.estimate)} [{fmt.format(c.low)}, {fmt.format(c.high)}]"


__all__ = ["BENCHMARK", "Scored", "exit_cost_note", "format_ci", "mean_backtest", "verdict"]
