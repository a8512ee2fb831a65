"""Significance after a search: the deflated Sharpe ratio and Hansen's SPA test.

A search that tries many configurations and keeps the best validation score reports a
number inflated by the selection itself. Two corrections, both judged on VALIDATION (the data
the selection used), and both against buy-and-hold as well as against zero:

- Deflated Sharpe ratio (Bailey & López de Prado 2014): the probability that the selected
  configuration's true Sharpe exceeds the expected maximum of N skill-less configurations.
  The observed Sharpe, skew and kurtosis are those of the selected configuration's pooled
  daily returns (the same statistic as the search objective and the report tables); T is the
  number of DISTINCT trading days behind them (episodes of several symbols on the same days
  are not independent observations); N counts every configuration whose validation score
  could have been selected: every (trial, epoch) evaluated, ASHA-stopped trials included, and
  V[SR] is the variance of those scores. Epochs of one trial are correlated, so this N is
  conservative (it deflates more than the effective number of independent trials would).
  ``active`` applies the same to the daily active return (strategy minus buy-and-hold), whose
  Sharpe is the information ratio: skill beyond holding the market.
- Hansen's Superior Predictive Ability test (``arch.bootstrap.SPA``, stationary bootstrap of
  the daily series): the p-value of "no trial beats buy-and-hold" over ALL trials' selected
  validation paths, each as the equal-weight daily series across symbols.

``SearchEvidence.verdict`` says "evidence of skill beyond buy-and-hold" only when both the
active DSR and the SPA test clear their 5% thresholds, and says plainly when they do not.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from quantray.evaluate.metrics import TRADING_DAYS_PER_YEAR
from quantray.evaluate.stats import deflated_sharpe_ratio, sharpe_moments

SIGNIFICANCE: float = 0.05
"""A search shows evidence when DSR >= 1 - SIGNIFICANCE and the SPA p-value <= SIGNIFICANCE."""
SPA_RESAMPLES: int = 1000
"""Stationary-bootstrap resamples of Hansen's SPA test."""


class DeflatedSharpe(NamedTuple):
    """The deflated Sharpe ratio of a selection and the numbers that went into it."""

    dsr: float
    """P(true Sharpe > expected max of N zero-skill configurations), in [0, 1]."""
    observed_daily: float
    """Selected configuration's per-period Sharpe (pooled daily returns)."""
    observed_annual: float
    """The same, annualised (x sqrt(periods_per_year))."""
    expected_max_daily: float
    """E[max Sharpe] of N zero-skill configurations with the scores' variance, per period."""
    n_trials: int
    """N: configurations whose validation score could have been selected."""
    n_obs: int
    """T: distinct trading days behind the observed Sharpe."""
    skew: float
    kurtosis: float


def deflate(
    selected_returns: ArrayLike,
    scores_annual: ArrayLike,
    n_days: int,
    periods_per_year: int = TRADING_DAYS_PER_YEAR,
) -> DeflatedSharpe:
    """DSR of the selected configuration.

    Args:
        selected_returns: its daily returns on validation, any shape (pooled: flattened).
        scores_annual: [N] annualised validation scores of EVERY configuration that could
            have been selected (the same statistic, on the same data); non-finite dropped.
        n_days: T, distinct trading days behind ``selected_returns``.
    """
    moments = sharpe_moments(np.asarray(selected_returns, dtype=np.float64).ravel())
    scores = np.asarray(scores_annual, dtype=np.float64).ravel()
    daily = scores[np.isfinite(scores)] / math.sqrt(periods_per_year)
    if n_days < 2:
        raise ValueError(f"n_days must be >= 2 distinct trading days, got {n_days}.")
    if not math.isfinite(moments.sharpe) or daily.size == 0:
        return DeflatedSharpe(
            math.nan, moments.sharpe, math.nan, math.nan, int(daily.size), n_days,
            moments.skew, moments.kurtosis,
        )  # fmt: skip
    # T is n_days, the distinct trading days, not the count of return values.
    dsr, expected_max = deflated_sharpe_ratio(moments._replace(n_obs=n_days), daily)
    return DeflatedSharpe(
        dsr,
        moments.sharpe,
        moments.sharpe * math.sqrt(periods_per_year),
        expected_max,
        int(daily.size),
        n_days,
        moments.skew,
        moments.kurtosis,
    )


def spa_pvalue(
    benchmark: pd.Series,
    trials: pd.DataFrame,
    *,
    seed: int = 0,
    reps: int = SPA_RESAMPLES,
) -> float:
    """Hansen's SPA p-value (consistent) of "no trial's mean daily return beats the benchmark".

    Args:
        benchmark: [T] the benchmark's daily returns (buy-and-hold, equal weight), by date.
        trials: [T, M] every trial's daily returns on the same dates, one column per trial.

    Trials whose daily returns equal the benchmark's on every day cannot beat it and have a
    zero-variance loss differential (arch's studentised statistic is undefined for them):
    they are left out; if no trial differs from the benchmark the p-value is 1.
    """
    from arch.bootstrap import SPA

    if not trials.index.equals(benchmark.index):
        raise ValueError(
            "spa_pvalue: trials and benchmark must share one date index (the same validation "
            f"days); got {len(trials)} and {len(benchmark)} dates that differ."
        )
    diff = trials.to_numpy() - benchmark.to_numpy()[:, None]  # [T, M]
    differs = np.ptp(diff, axis=0) > 0
    if not differs.any():
        return 1.0
    spa = SPA(
        -benchmark.to_numpy(),
        -trials.to_numpy()[:, differs],
        reps=reps,
        bootstrap="stationary",
        seed=np.random.default_rng(seed),
    )
    spa.compute()
    return float(spa.pvalues["consistent"])


@dataclass(frozen=True)
class SearchEvidence:
    """The significance of a search's selection, on validation."""

    sharpe: DeflatedSharpe
    """Deflated Sharpe of the selected configuration's net returns (vs zero)."""
    active: DeflatedSharpe
    """Deflated information ratio: its active return vs buy-and-hold."""
    spa_pvalue: float
    """Hansen's SPA p-value over all trials against buy-and-hold."""
    n_trials: int
    """Trials in the SPA test."""
    benchmark: str = "buy-and-hold"
    """What the active return and the SPA test are measured against, as the text names it
    (the portfolio search passes its 1/N benchmark)."""

    @property
    def skill(self) -> bool:
        """Evidence of skill beyond the benchmark: both tests clear SIGNIFICANCE."""
        return bool(
            math.isfinite(self.active.dsr)
            and self.active.dsr >= 1.0 - SIGNIFICANCE
            and self.spa_pvalue <= SIGNIFICANCE
        )

    def verdict(self) -> str:
        """One plain sentence a reader can act on."""
        if self.skill:
            return (
                f"**Evidence of skill beyond {self.benchmark}** on validation after the search: "
                f"deflated information ratio {self.active.dsr:.3f} >= {1 - SIGNIFICANCE:.2f} and "
                f"SPA p = {self.spa_pvalue:.3f} <= {SIGNIFICANCE:.2f}."
            )
        return (
            f"**No evidence of skill beyond {self.benchmark}**: after accounting for the "
            f"{self.active.n_trials} configurations tried, the selected strategy's edge over "
            f"{self.benchmark} on validation is what luck alone would produce (deflated information "
            f"ratio {self.active.dsr:.3f}, needs >= {1 - SIGNIFICANCE:.2f}; SPA p = "
            f"{self.spa_pvalue:.3f}, needs <= {SIGNIFICANCE:.2f})."
        )

    def markdown(self) -> list[str]:
        """The report section: both deflated ratios, the SPA test and the verdict."""
        rows = []
        for label, d in (
            ("Sharpe (vs 0)", self.sharpe),
            (f"information ratio (vs {self.benchmark})", self.active),
        ):
            rows.append(
                f"| {label} | {d.observed_annual:.3f} | "
                f"{d.expected_max_daily * math.sqrt(TRADING_DAYS_PER_YEAR):.3f} | "
                f"{d.n_trials} | {d.n_obs} | {d.skew:.2f} / {d.kurtosis:.2f} | **{d.dsr:.3f}** |"
            )
        return [
            "| selected on validation | observed (annualised) | E[max] of N skill-less | N "
            "configurations | T distinct days | skew / kurtosis | deflated (DSR) |",
            "|---|---|---|---|---|---|---|",
            *rows,
            "",
            f"Hansen's SPA test over all {self.n_trials} trials (equal-weight daily validation "
            f"returns vs {self.benchmark}, stationary bootstrap): **p = {self.spa_pvalue:.3f}**.",
            "",
            self.verdict(),
        ]


__all__ = [
    "SIGNIFICANCE",
    "SPA_RESAMPLES",
    "DeflatedSharpe",
    "SearchEvidence",
    "deflate",
    "spa_pvalue",
]
