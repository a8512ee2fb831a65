"""Backtest metrics per episode, and the one evaluation path every strategy goes through.

``evaluate_positions`` is THE single path: GRU, PPO, SAC and the baselines all hand it their
positions [N, E] on the same test episodes (through ``evaluate.backtest_episodes``, which
adds the episodes' own trade permissions); it runs ``accounting.net_returns_np`` (the one
definition of position -> PnL -> costs, exit sale included) and then the metrics below, one
row per episode.

Conventions (matching empyrical-reloaded, which the tests check to 1e-8):

- Daily net return of day t: ``p_t * r_{t+1} - cost_t`` (design.md section 3).
- Annualisation: 252 trading days per year; risk-free rate 0.
- total_return: compounded, ``prod(1 + r) - 1``.
- annual_return: CAGR, ``(1 + total_return) ** (252 / E) - 1``. Over a 20-day episode this
  compounds a month into a year, so it is noisy; prefer pooled metrics for headline numbers.
- annual_volatility: ``std(r, ddof=1) * sqrt(252)``.
- sharpe: ``mean(r) / std(r, ddof=1) * sqrt(252)``.
- sortino: ``mean(r) * 252 / (sqrt(mean(min(r, 0)**2)) * sqrt(252))``; the downside
  deviation averages over ALL days (non-negative days count as 0), as empyrical does.
- max_drawdown: a POSITIVE fraction, ``max_t (1 - equity_t / max_{s<=t} equity_s)`` over the
  compounded equity path that starts at 1 before the first day (so a first-day loss counts).
- calmar: ``annual_return / max_drawdown``.
- turnover: mean over days of ``|p_t - p_{t-1}|`` with ``p_{-1} = prev_position`` (the entry
  trade counts; the exit sale does not), computed on the EXECUTED positions (after blocked
  trades).
- hit_rate: among days with a non-zero executed position, the fraction whose net return is
  strictly positive.

NaN rules (a metric is NaN when it is undefined, never a made-up 0 or +-inf):
sharpe and annual_volatility need >= 2 days; sharpe is 0 for an all-cash path (no risk, no
return) and NaN for a constant non-zero return (``sharpe_from_moments``, the one rule); sortino is NaN with < 2 days or when no day is negative;
calmar is NaN when max_drawdown is 0; hit_rate is NaN when the position was 0 on every day.
Aggregations over episodes should drop NaN explicitly (``stats.bootstrap_ci(...,
nan_policy="omit")``) and say how many were dropped.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypedDict

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

if TYPE_CHECKING:
    from typing_extensions import Unpack

TRADING_DAYS_PER_YEAR: int = 252
"""Annualisation factor for daily returns (empyrical's DAILY convention)."""

METRIC_COLUMNS: tuple[str, ...] = (
    "total_return",
    "annual_return",
    "benchmark_return",
    "excess_return",
    "annual_volatility",
    "sharpe",
    "sortino",
    "max_drawdown",
    "calmar",
    "turnover",
    "hit_rate",
    "mean_position",
    "total_cost",
    "n_days",
)
"""Columns of ``episode_metrics`` / ``evaluate_positions`` (after ``method``, ``episode``)."""

Array = NDArray[np.float64]


# --------------------------------------------------------------------------------------------
# Single metrics. Each reduces the LAST axis (days) of an array [..., E] and returns [...].
# --------------------------------------------------------------------------------------------


def total_return(net: ArrayLike) -> Array:
    """Compounded return over the last axis: ``prod(1 + r) - 1``. [..., E] -> [...]."""
    r = np.asarray(net, dtype=np.float64)
    return np.prod(1.0 + r, axis=-1) - 1.0


def annual_return(net: ArrayLike, periods_per_year: int = TRADING_DAYS_PER_YEAR) -> Array:
    """CAGR: ``(1 + total_return) ** (periods_per_year / E) - 1``. [..., E] -> [...].

    NaN when the equity ends at or below 0 (a fractional power of a non-positive number).
    """
    r = np.asarray(net, dtype=np.float64)
    ending = 1.0 + total_return(r)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(ending > 0, np.abs(ending) ** (periods_per_year / r.shape[-1]) - 1.0, np.nan)
    return out


def annual_volatility(net: ArrayLike, periods_per_year: int = TRADING_DAYS_PER_YEAR) -> Array:
    """``std(r, ddof=1) * sqrt(periods_per_year)``; NaN with fewer than 2 days. [..., E] -> [...]."""
    r = np.asarray(net, dtype=np.float64)
    if r.shape[-1] < 2:
        return np.full(r.shape[:-1], np.nan)
    return _std(r) * np.sqrt(periods_per_year)


def _std(r: Array) -> Array:
    """Sample std (ddof=1) that is exactly 0 for constant rows.

    The mean of identical floats can differ from them in the last bit, leaving a ~1e-18
    residue that would turn an undefined 0/0 Sharpe into a huge finite number.
    """
    std = np.std(r, axis=-1, ddof=1)
    constant = np.max(r, axis=-1) == np.min(r, axis=-1)
    return np.where(constant, 0.0, std)


def sharpe_from_moments(
    mean: ArrayLike, std: ArrayLike, periods_per_year: int = TRADING_DAYS_PER_YEAR
) -> Array:
    """THE Sharpe rule, from a mean and a std (ddof=1) of period returns, risk-free 0.

    ``mean / std * sqrt(periods_per_year)``; a series with no dispersion is 0 when its mean
    is 0 (cash: no risk, no return — every report, plot and search objective counts an
    all-cash path as Sharpe 0) and NaN otherwise (a constant non-zero return: undefined).
    Works elementwise on arrays."""
    m = np.asarray(mean, dtype=np.float64)
    s = np.asarray(std, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = m / s * np.sqrt(periods_per_year)
    return np.where(s > 0, ratio, np.where(m == 0, 0.0, np.nan))


def sharpe_ratio(net: ArrayLike, periods_per_year: int = TRADING_DAYS_PER_YEAR) -> Array:
    """Annualised Sharpe, risk-free 0: ``mean / std(ddof=1) * sqrt(periods_per_year)``.

    0 for an all-zero (cash) row, NaN with fewer than 2 days or for a constant non-zero
    return (``sharpe_from_moments``). [..., E] -> [...].
    """
    r = np.asarray(net, dtype=np.float64)
    if r.shape[-1] < 2:
        return np.full(r.shape[:-1], np.nan)
    return sharpe_from_moments(np.mean(r, axis=-1), _std(r), periods_per_year)


def pooled_sharpe(net: ArrayLike, periods_per_year: int = TRADING_DAYS_PER_YEAR) -> float:
    """The headline Sharpe: annualised Sharpe of ALL daily values of [n, E] pooled together.

    Not the mean of per-episode Sharpes (20-day Sharpes are noisy and their mean is biased
    upwards for a trending asset). Strategy minus buy-and-hold daily returns give the
    information ratio."""
    return float(sharpe_ratio(np.asarray(net, dtype=np.float64).reshape(-1), periods_per_year))


def downside_deviation(net: ArrayLike, periods_per_year: int = TRADING_DAYS_PER_YEAR) -> Array:
    """Annualised downside deviation below 0: ``sqrt(mean(min(r, 0)**2)) * sqrt(ppy)``.

    The mean runs over all days, so non-negative days pull it towards 0 (empyrical's
    convention, the one in Sortino's own papers). [..., E] -> [...].
    """
    r = np.asarray(net, dtype=np.float64)
    downside = np.minimum(r, 0.0)
    return np.sqrt(np.mean(downside * downside, axis=-1)) * np.sqrt(periods_per_year)


def sortino_ratio(net: ArrayLike, periods_per_year: int = TRADING_DAYS_PER_YEAR) -> Array:
    """Annualised Sortino: ``mean(r) * ppy / downside_deviation``, required return 0.

    NaN with fewer than 2 days or when no day is negative (no downside). [..., E] -> [...].
    """
    r = np.asarray(net, dtype=np.float64)
    if r.shape[-1] < 2:
        return np.full(r.shape[:-1], np.nan)
    dd = downside_deviation(r, periods_per_year)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.mean(r, axis=-1) * periods_per_year / dd
    return np.where(dd > 0, out, np.nan)


def equity_curve(net: ArrayLike) -> Array:
    """Compounded equity including the starting value 1: [..., E] -> [..., E + 1]."""
    r = np.asarray(net, dtype=np.float64)
    start = np.ones((*r.shape[:-1], 1))
    return np.concatenate([start, np.cumprod(1.0 + r, axis=-1)], axis=-1)


def max_drawdown(net: ArrayLike) -> Array:
    """Largest peak-to-trough fall of the equity path, as a positive fraction. [..., E] -> [...].

    The path starts at equity 1 before day 0, so a loss on the first day is a drawdown.
    0 when the equity never falls below a previous peak.
    """
    equity = equity_curve(net)  # [..., E + 1]
    peak = np.maximum.accumulate(equity, axis=-1)
    return np.max(1.0 - equity / peak, axis=-1)


def calmar_ratio(net: ArrayLike, periods_per_year: int = TRADING_DAYS_PER_YEAR) -> Array:
    """``annual_return / max_drawdown``; NaN when there is no drawdown. [..., E] -> [...]."""
    mdd = max_drawdown(net)
    ann = annual_return(net, periods_per_year)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = ann / mdd
    return np.where((mdd > 0) & np.isfinite(out), out, np.nan)


def prev_column(prev_position: float | ArrayLike, batch_shape: tuple[int, ...]) -> Array:
    """Broadcast a scalar or [...] previous position to [..., 1]."""
    prev = np.asarray(prev_position, dtype=np.float64)
    if prev.ndim > 0 and prev.shape != batch_shape:
        raise ValueError(
            f"prev_position: expected a scalar or shape {batch_shape} (one per episode), got "
            f"shape {prev.shape}."
        )
    return np.broadcast_to(prev, batch_shape)[..., None]  # [...] -> [..., 1]


def turnover(positions: ArrayLike, prev_position: float | ArrayLike = 0.0) -> Array:
    """Mean daily ``|p_t - p_{t-1}|`` including the entry from ``prev_position``. [..., E] -> [...]."""
    p = np.asarray(positions, dtype=np.float64)
    prev = prev_column(prev_position, p.shape[:-1])
    trades = np.diff(p, axis=-1, prepend=prev)  # [..., E]
    return np.mean(np.abs(trades), axis=-1)


def hit_rate(net: ArrayLike, positions: ArrayLike) -> Array:
    """Fraction of days with net return > 0 among days whose position is non-zero.

    Day t's position p_t earns day t's net return (``p_t * r_{t+1} - cost_t``), so the two
    arrays align index by index. NaN when the position is 0 on every day. [..., E] -> [...].
    """
    r = np.asarray(net, dtype=np.float64)
    invested = np.asarray(positions, dtype=np.float64) != 0.0
    n_invested = invested.sum(axis=-1)
    n_hits = (invested & (r > 0.0)).sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = n_hits / n_invested
    return np.where(n_invested > 0, out, np.nan)


# --------------------------------------------------------------------------------------------
# Tables
# --------------------------------------------------------------------------------------------


def check_2d(name: str, array: ArrayLike, shape: tuple[int, ...] | None = None) -> Array:
    a = np.asarray(array, dtype=np.float64)
    if a.ndim != 2:
        raise ValueError(
            f"{name}: expected a 2-D array [N episodes, E days], got shape {a.shape}. "
            "Stack episodes along axis 0."
        )
    if shape is not None and a.shape != shape:
        raise ValueError(f"{name}: expected shape {shape} (same as the returns), got {a.shape}.")
    if not np.isfinite(a).all():
        bad = np.argwhere(~np.isfinite(a))[0]
        raise ValueError(
            f"{name}: found a non-finite value at episode {bad[0]}, day {bad[1]}; expected "
            "finite numbers. Fill or drop suspended days before evaluating."
        )
    return a


def _metric_columns(
    net: Array,
    positions: Array,
    prev_position: float | ArrayLike,
    benchmark_returns: Array,
    costs: Array,
    periods_per_year: int,
) -> dict[str, Array]:
    """All metrics over the last axis of [..., E] arrays, as a dict of [...] arrays."""
    total = total_return(net)
    bench = total_return(benchmark_returns)
    return {
        "total_return": total,
        "annual_return": annual_return(net, periods_per_year),
        "benchmark_return": bench,
        "excess_return": total - bench,
        "annual_volatility": annual_volatility(net, periods_per_year),
        "sharpe": sharpe_ratio(net, periods_per_year),
        "sortino": sortino_ratio(net, periods_per_year),
        "max_drawdown": max_drawdown(net),
        "calmar": calmar_ratio(net, periods_per_year),
        "turnover": turnover(positions, prev_position),
        "hit_rate": hit_rate(net, positions),
        "mean_position": np.mean(positions, axis=-1),
        "total_cost": np.sum(costs, axis=-1),
        "n_days": np.full(net.shape[:-1], net.shape[-1], dtype=np.int64),
    }


class MetricInputs(TypedDict, total=False):
    """The optional inputs of ``episode_metrics`` and ``pooled_metrics``."""

    prev_position: float | ArrayLike
    """Scalar or [N], the position held before day 0 (entry trade counts); 0.0 when omitted."""
    benchmark_returns: ArrayLike | None
    """[N, E] returns of the benchmark for ``excess_return``; normally the asset's own
    next-day returns (buy-and-hold without costs). Zeros when omitted."""
    costs: ArrayLike | None
    """[N, E] daily costs for ``total_cost``; zeros when omitted."""
    periods_per_year: int
    """Annualisation factor; ``TRADING_DAYS_PER_YEAR`` when omitted."""


def _episode_inputs(
    net: ArrayLike,
    positions: ArrayLike,
    *,
    prev_position: float | ArrayLike = 0.0,
    benchmark_returns: ArrayLike | None = None,
    costs: ArrayLike | None = None,
    periods_per_year: int = TRADING_DAYS_PER_YEAR,
) -> tuple[Array, Array, float | ArrayLike, Array, Array, int]:
    """``MetricInputs`` with their defaults: [N, E] net, positions, benchmark and costs,
    shape-checked (zeros for omitted ones), with prev_position and periods_per_year."""
    r = check_2d("net", net)
    p = check_2d("positions", positions, r.shape)
    bench = (
        np.zeros_like(r)
        if benchmark_returns is None
        else check_2d("benchmark_returns", benchmark_returns, r.shape)
    )
    c = np.zeros_like(r) if costs is None else check_2d("costs", costs, r.shape)
    return r, p, prev_position, bench, c, periods_per_year


def episode_metrics(
    net: ArrayLike, positions: ArrayLike, **inputs: Unpack[MetricInputs]
) -> pd.DataFrame:
    """Metrics of each episode, vectorised over episodes.

    Args:
        net: [N, E] daily net returns (after costs).
        positions: [N, E] executed positions p_t (position held from close t to close t+1).
        inputs: keyword-only ``prev_position``, ``benchmark_returns``, ``costs``,
            ``periods_per_year`` (``MetricInputs``).

    Returns:
        DataFrame with N rows and ``METRIC_COLUMNS`` (see the module docstring for formulas).
    """
    return pd.DataFrame(_metric_columns(*_episode_inputs(net, positions, **inputs)))


def pooled_metrics(
    net: ArrayLike, positions: ArrayLike, **inputs: Unpack[MetricInputs]
) -> dict[str, float]:
    """The same metrics over the concatenated daily returns of all episodes, in episode order.

    Pooling N episodes of E days gives one N*E-day series: its Sharpe / volatility / Sortino
    are far less noisy than per-episode ones. Return and drawdown figures compound across
    episodes as if they were traded back to back. Turnover still counts each episode's entry
    from its own ``prev_position`` (the episodes are separate trades), so it equals the mean
    of the per-episode turnovers; hit_rate pools the counts of all days.
    Arguments as in ``episode_metrics``; returns ``{column: float}`` with ``METRIC_COLUMNS``.
    """
    r, p, prev_position, bench, c, periods_per_year = _episode_inputs(net, positions, **inputs)
    n_episodes, n_days = r.shape
    columns = _metric_columns(
        r.reshape(-1),  # [N, E] -> [N*E]
        p.reshape(-1),  # [N, E] -> [N*E]
        0.0,
        bench.reshape(-1),  # [N, E] -> [N*E]
        c.reshape(-1),  # [N, E] -> [N*E]
        periods_per_year,
    )
    pooled = {name: float(value) for name, value in columns.items()}
    # Turnover must restart at each episode's own prev_position, not at the previous episode's
    # last position, so take it per episode and average (all episodes have E days).
    pooled["turnover"] = float(np.mean(turnover(p, prev_position)))
    pooled["n_days"] = float(n_episodes * n_days)
    return pooled


__all__ = [
    "METRIC_COLUMNS",
    "TRADING_DAYS_PER_YEAR",
    "annual_return",
    "annual_volatility",
    "calmar_ratio",
    "downside_deviation",
    "episode_metrics",
    "equity_curve",
    "hit_rate",
    "max_drawdown",
    "pooled_metrics",
    "pooled_sharpe",
    "sharpe_from_moments",
    "sharpe_ratio",
    "sortino_ratio",
    "total_return",
    "turnover",
]
