"""Statistics for comparing strategies: bootstrap confidence intervals and the deflated Sharpe.

Everything here works on plain numpy arrays of per-episode values (one number per test
episode, from ``metrics.evaluate_positions``) or on per-period return series.

- ``bootstrap_ci``: a confidence interval for one strategy's statistic over episodes.
- ``paired_difference_ci``: a confidence interval for the difference between two strategies
  evaluated on the SAME episodes (resampling episode pairs keeps the pairing, which removes
  the shared market noise and gives much tighter intervals than two separate CIs).
- ``deflated_sharpe_ratio``: Bailey & López de Prado (2014), "The Deflated Sharpe Ratio:
  Correcting for Selection Bias, Backtest Overfitting and Non-Normality". The probability that
  the selected trial's true Sharpe ratio is above the best Sharpe one would expect from the
  same number of trials by luck alone.

Sharpe ratios in the DSR functions are PER PERIOD (daily, not annualised): mean / std of the
period returns. Divide an annualised Sharpe by sqrt(252) to get a daily one.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, TypedDict

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats as sps

from quantray.evaluate.metrics import sharpe_from_moments

if TYPE_CHECKING:
    from typing_extensions import Unpack

Statistic = Callable[..., float | NDArray[np.float64]]
"""A reduction that accepts an ``axis`` keyword, like ``np.mean`` or ``np.median``."""

EULER_GAMMA: float = float(np.euler_gamma)
"""γ ≈ 0.5772, the Euler–Mascheroni constant used by the expected-maximum approximation."""

# Cap on resamples x observations held in memory at once by scipy.stats.bootstrap; its BCa
# jackknife is n x (n - 1), so without a batch size 10k episodes would need ~800 MB.
_MAX_BATCH_ELEMENTS = 10_000_000


class ConfidenceInterval(NamedTuple):
    """A point estimate with its two-sided confidence bounds (unpacks as a 3-tuple)."""

    estimate: float
    low: float
    high: float


class SharpeMoments(NamedTuple):
    """Per-period Sharpe ratio of a return series and the moments the PSR/DSR need
    (``sharpe_moments`` measures them; the defaults, skew 0 and kurtosis 3, are a normal
    distribution's)."""

    sharpe: float
    """mean / std (ddof=1) of the period returns; not annualised."""
    n_obs: int
    """Number of return observations T."""
    skew: float = 0.0
    """Sample skewness (biased estimator, as in the paper)."""
    kurtosis: float = 3.0
    """Sample kurtosis, NON-excess (3.0 for a normal distribution)."""


def _as_1d(values: ArrayLike, name: str, nan_policy: Literal["raise", "omit"]) -> NDArray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1:
        raise ValueError(
            f"{name}: expected a 1-D array of per-episode values [N], got shape {array.shape}. "
            "Pass one metric column, e.g. frame['sharpe'].to_numpy()."
        )
    finite = np.isfinite(array)
    if not finite.all():
        if nan_policy == "raise":
            raise ValueError(
                f"{name}: found {int((~finite).sum())} non-finite value(s) among {array.size}; "
                "expected only finite numbers. Metrics such as Sharpe are NaN on episodes with "
                "no dispersion; pass nan_policy='omit' to drop them (and report how many)."
            )
        array = array[finite]
    return array


def _interval(
    result: Any,  # scipy.stats BootstrapResult (no public type to import)
    estimate: float,
    confidence: float,
) -> ConfidenceInterval:
    """Turn a scipy bootstrap result into our interval, falling back when BCa is undefined.

    BCa returns NaN when the bootstrap distribution is degenerate (e.g. every resample gives
    the same value, or the acceleration's denominator is zero). Then: a constant distribution
    gives a zero-width interval at the estimate, anything else the percentile interval.
    """
    low = float(result.confidence_interval.low)
    high = float(result.confidence_interval.high)
    if np.isfinite(low) and np.isfinite(high):
        return ConfidenceInterval(estimate, low, high)
    distribution = np.asarray(result.bootstrap_distribution, dtype=np.float64)
    distribution = distribution[np.isfinite(distribution)]
    if distribution.size == 0 or np.ptp(distribution) == 0:
        return ConfidenceInterval(estimate, estimate, estimate)
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(distribution, [tail, 1.0 - tail])
    return ConfidenceInterval(estimate, float(low), float(high))


def _check_confidence(confidence: float, n_resamples: int) -> None:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}; e.g. 0.95.")
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be >= 1, got {n_resamples}; e.g. 9999.")


class BootstrapOptions(TypedDict, total=False):
    """The keyword options of ``bootstrap_ci`` and ``paired_difference_ci``."""

    confidence: float
    """Two-sided confidence level in (0, 1); 0.95 when omitted."""
    n_resamples: int
    """Bootstrap resamples; 9999 when omitted."""
    seed: int
    """Seeds the resampling; the same seed gives the same interval. 0 when omitted."""
    method: Literal["BCa", "percentile", "basic"]
    """scipy.stats.bootstrap method; BCa (bias-corrected and accelerated) when omitted."""
    nan_policy: Literal["raise", "omit"]
    """'raise' on non-finite values (the default), or 'omit' to drop them first (for a paired
    interval: every pair where either value is non-finite)."""


_BOOTSTRAP_DEFAULTS: BootstrapOptions = {
    "confidence": 0.95,
    "n_resamples": 9999,
    "seed": 0,
    "method": "BCa",
    "nan_policy": "raise",
}


def _with_defaults(name: str, options: BootstrapOptions) -> BootstrapOptions:
    """``options`` over ``_BOOTSTRAP_DEFAULTS``, checked."""
    unknown = sorted(set(options) - set(_BOOTSTRAP_DEFAULTS))
    if unknown:
        raise TypeError(
            f"{name}() got unexpected keyword argument(s) {unknown}; expected some of "
            f"{sorted(_BOOTSTRAP_DEFAULTS)}."
        )
    full: BootstrapOptions = {**_BOOTSTRAP_DEFAULTS, **options}
    _check_confidence(full["confidence"], full["n_resamples"])
    return full


def bootstrap_ci(
    values: ArrayLike, statistic: Statistic = np.mean, **options: Unpack[BootstrapOptions]
) -> ConfidenceInterval:
    """Bootstrap confidence interval of ``statistic`` over per-episode values.

    Args:
        values: [N] one value per episode (e.g. each episode's Sharpe).
        statistic: reduction accepting ``axis`` (np.mean, np.median, ...).
        options: ``confidence``, ``n_resamples``, ``seed``, ``method``, ``nan_policy``
            (``BootstrapOptions``).

    Returns:
        ``(estimate, low, high)`` where estimate = statistic(values). Degenerate cases are
        handled without warnings: constant data gives ``(c, c, c)``; fewer than two values
        give NaN bounds (one observation says nothing about spread); where BCa is undefined
        the percentile interval is used.
    """
    opts = _with_defaults("bootstrap_ci", options)
    data = _as_1d(values, "bootstrap_ci", opts["nan_policy"])
    if data.size == 0:
        raise ValueError("bootstrap_ci: no finite values to bootstrap; expected at least one.")
    estimate = float(statistic(data, axis=-1))
    if data.size < 2:
        return ConfidenceInterval(estimate, math.nan, math.nan)
    if np.ptp(data) == 0:
        return ConfidenceInterval(estimate, estimate, estimate)
    return _bootstrap((data,), statistic, estimate, opts)


def paired_difference_ci(
    a: ArrayLike,
    b: ArrayLike,
    statistic: Statistic = np.mean,
    **options: Unpack[BootstrapOptions],
) -> ConfidenceInterval:
    """Bootstrap CI of ``statistic(a) - statistic(b)`` for two strategies on the same episodes.

    ``a[i]`` and ``b[i]`` must come from the same episode i; resampling draws episode indices
    and keeps both values of a pair together. An interval that excludes 0 says strategy a
    differs from b on this statistic at the given confidence.

    Args:
        a, b: [N] per-episode values of the two strategies, aligned by episode.
        statistic, options: as in ``bootstrap_ci``.

    Returns:
        ``(estimate, low, high)`` with estimate = statistic(a) - statistic(b).
    """
    opts = _with_defaults("paired_difference_ci", options)
    a_arr = np.asarray(a, dtype=np.float64)
    b_arr = np.asarray(b, dtype=np.float64)
    if a_arr.ndim != 1 or a_arr.shape != b_arr.shape:
        raise ValueError(
            f"paired_difference_ci: expected two 1-D arrays of the same length [N] (one value "
            f"per shared episode), got shapes {a_arr.shape} and {b_arr.shape}. Evaluate both "
            "strategies on the same episode list."
        )
    finite = np.isfinite(a_arr) & np.isfinite(b_arr)
    if not finite.all():
        if opts["nan_policy"] == "raise":
            raise ValueError(
                f"paired_difference_ci: found {int((~finite).sum())} pair(s) with a non-finite "
                f"value among {a_arr.size}; expected finite numbers. Pass nan_policy='omit' to "
                "drop those pairs."
            )
        a_arr, b_arr = a_arr[finite], b_arr[finite]
    if a_arr.size == 0:
        raise ValueError("paired_difference_ci: no finite pairs; expected at least one.")
    estimate = float(statistic(a_arr, axis=-1) - statistic(b_arr, axis=-1))
    if a_arr.size < 2:
        return ConfidenceInterval(estimate, math.nan, math.nan)
    if np.ptp(a_arr) == 0 and np.ptp(b_arr) == 0:
        return ConfidenceInterval(estimate, estimate, estimate)

    def difference(x: NDArray, y: NDArray, axis: int = -1) -> NDArray:
        return statistic(x, axis=axis) - statistic(y, axis=axis)

    return _bootstrap((a_arr, b_arr), difference, estimate, opts, paired=True, vectorized=True)


def _bootstrap(
    samples: tuple[NDArray, ...],
    statistic: Statistic,
    estimate: float,
    opts: BootstrapOptions,
    **scipy_options: Any,
) -> ConfidenceInterval:
    """scipy.stats.bootstrap over ``samples`` in memory-bounded batches, seeded, quiet;
    ``opts`` with every key set (``_with_defaults``)."""
    with warnings.catch_warnings():
        # The degenerate-BCa warning is handled by _interval's fallback.
        warnings.simplefilter("ignore", sps.DegenerateDataWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        result = sps.bootstrap(
            samples,
            statistic,
            n_resamples=opts["n_resamples"],
            batch=max(1, _MAX_BATCH_ELEMENTS // sum(x.size for x in samples)),
            confidence_level=opts["confidence"],
            method=opts["method"],
            rng=np.random.default_rng(opts["seed"]),
            **scipy_options,
        )
    return _interval(result, estimate, opts["confidence"])


def sharpe_moments(returns: ArrayLike) -> SharpeMoments:
    """Per-period Sharpe ratio (risk-free 0, ddof=1), skewness and NON-excess kurtosis.

    Feed the selected strategy's daily net returns (e.g. the pooled test returns); the result
    is what ``probabilistic_sharpe_ratio`` and ``deflated_sharpe_ratio`` take. With no
    dispersion the Sharpe follows ``metrics.sharpe_from_moments``: 0 for
    an all-zero (cash) series, NaN for a constant non-zero one.
    """
    r = np.asarray(returns, dtype=np.float64).ravel()
    if r.size < 2 or not np.isfinite(r).all():
        raise ValueError(
            f"sharpe_moments: expected at least 2 finite returns, got {r.size} values "
            f"({int((~np.isfinite(r)).sum())} non-finite)."
        )
    std = float(np.std(r, ddof=1))
    constant = np.ptp(r) == 0
    mean = float(np.mean(r))
    sharpe = float(sharpe_from_moments(mean, 0.0 if constant else std, periods_per_year=1))
    skew = 0.0 if constant else float(sps.skew(r, bias=True))
    kurt = 3.0 if constant else float(sps.kurtosis(r, fisher=False, bias=True))
    return SharpeMoments(sharpe, int(r.size), skew, kurt)


def _check_moments(observed: object, name: str) -> SharpeMoments:
    """``observed`` if it is a ``SharpeMoments``, else a TypeError saying how to build one."""
    if not isinstance(observed, SharpeMoments):
        raise TypeError(
            f"{name}: observed must be the SharpeMoments of the returns (sharpe_moments(returns),"
            f" or SharpeMoments(sharpe, n_obs, skew, kurtosis) per period), got "
            f"{type(observed).__name__} {observed!r}"
        )
    return observed


def probabilistic_sharpe_ratio(observed: SharpeMoments, benchmark_sr: float) -> float:
    """Probabilistic Sharpe ratio: P(true SR > benchmark_sr) given the observed one.

    PSR = Φ( (SR* - SR_0) sqrt(T - 1) / sqrt(1 - γ3 SR* + (γ4 - 1)/4 SR*²) )
    (Bailey & López de Prado 2012), which accounts for the sample length T and for the skew γ3
    and NON-excess kurtosis γ4 of the returns: SR*, T, γ3 and γ4 are ``observed``'s. All
    Sharpe ratios are per period.
    """
    observed_sr, n_obs, skew, kurtosis = _check_moments(observed, "probabilistic_sharpe_ratio")
    if n_obs < 2:
        raise ValueError(f"n_obs must be >= 2 return observations, got {n_obs}.")
    variance_term = 1.0 - skew * observed_sr + (kurtosis - 1.0) / 4.0 * observed_sr**2
    if not variance_term > 0.0:
        raise ValueError(
            f"PSR is undefined: 1 - skew*SR + (kurtosis-1)/4*SR^2 = {variance_term:.4g} <= 0 "
            f"for SR={observed_sr:.4g}, skew={skew:.4g}, kurtosis={kurtosis:.4g}. Check that "
            "SR is per period (not annualised) and kurtosis is non-excess (3 for normal)."
        )
    z = (observed_sr - benchmark_sr) * math.sqrt(n_obs - 1) / math.sqrt(variance_term)
    return float(sps.norm.cdf(z))


def expected_max_sharpe(sr_variance: float, n_trials: int) -> float:
    """Expected maximum Sharpe among ``n_trials`` independent zero-skill trials.

    E[max SR] ≈ sqrt(V[SR_n]) ((1 - γ) Φ⁻¹(1 - 1/N) + γ Φ⁻¹(1 - 1/(N e))), γ the
    Euler–Mascheroni constant (Bailey & López de Prado 2014, eq. for SR_0). One trial has no
    selection bias, so N = 1 gives 0.
    """
    if n_trials < 1:
        raise ValueError(f"n_trials must be >= 1, got {n_trials}.")
    if not sr_variance >= 0.0:
        raise ValueError(f"sr_variance must be >= 0, got {sr_variance}.")
    if n_trials == 1:
        return 0.0
    z = (1.0 - EULER_GAMMA) * sps.norm.ppf(1.0 - 1.0 / n_trials) + EULER_GAMMA * sps.norm.ppf(
        1.0 - 1.0 / (n_trials * math.e)
    )
    return float(math.sqrt(sr_variance) * z)


def deflated_sharpe_ratio(
    observed: SharpeMoments, sr_trials: ArrayLike, n_trials: int | None = None
) -> tuple[float, float]:
    """Deflated Sharpe ratio of the selected trial, accounting for how many trials were tried.

    Args:
        observed: the selected trial's PER-PERIOD (daily, not annualised) Sharpe ratio, the
            number of return observations T behind it, and its returns' skewness and
            NON-excess kurtosis (``sharpe_moments`` of its returns).
        sr_trials: [N] per-period Sharpe ratios of ALL trials tried (including the selected
            one); their sample variance (ddof=1) estimates V[SR_n].
        n_trials: effective number of independent trials; defaults to len(sr_trials). Pass a
            smaller number when trials are strongly correlated (e.g. clustered).

    Returns:
        ``(dsr, expected_max_sr)``: dsr = PSR(observed, benchmark = E[max SR]) in [0, 1],
        and E[max SR] (per period). With one trial E[max SR] = 0, so DSR equals PSR against 0.
    """
    _check_moments(observed, "deflated_sharpe_ratio")
    trials = np.asarray(sr_trials, dtype=np.float64).ravel()
    if trials.size == 0 or not np.isfinite(trials).all():
        raise ValueError(
            f"sr_trials: expected a non-empty array of finite per-period Sharpe ratios, got "
            f"{trials.size} values ({int((~np.isfinite(trials)).sum())} non-finite). Drop "
            "failed trials or give them their realised Sharpe."
        )
    n = trials.size if n_trials is None else n_trials
    variance = float(np.var(trials, ddof=1)) if trials.size > 1 else 0.0
    expected_max = expected_max_sharpe(variance, n)
    dsr = probabilistic_sharpe_ratio(observed, expected_max)
    return dsr, expected_max


__all__ = [
    "ConfidenceInterval",
    "SharpeMoments",
    "bootstrap_ci",
    "deflated_sharpe_ratio",
    "expected_max_sharpe",
    "paired_difference_ci",
    "probabilistic_sharpe_ratio",
    "sharpe_moments",
]
