"""Bootstrap CIs, paired comparisons, PSR and the deflated Sharpe ratio."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from scipy import stats as sps

from quantray.evaluate import (
    SharpeMoments,
    bootstrap_ci,
    deflated_sharpe_ratio,
    expected_max_sharpe,
    paired_difference_ci,
    probabilistic_sharpe_ratio,
    sharpe_moments,
)


def test_bootstrap_ci_of_the_mean_is_about_normal_theory() -> None:
    x = np.random.default_rng(0).normal(1.0, 2.0, size=400)
    est, low, high = bootstrap_ci(x, n_resamples=4000, seed=1)
    assert est == pytest.approx(x.mean())
    assert low < est < high
    # Normal theory: half-width 1.96 * s / sqrt(n) ~ 0.196; BCa should be within 15%.
    half = 1.96 * x.std(ddof=1) / math.sqrt(x.size)
    assert (high - low) / 2 == pytest.approx(half, rel=0.15)
    assert bootstrap_ci(x, n_resamples=4000, seed=1) == (est, low, high), "seeded"
    assert bootstrap_ci(x, np.median, n_resamples=2000, seed=1).estimate == np.median(x)


def test_bootstrap_ci_degenerate_inputs_are_graceful() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert bootstrap_ci(np.full(50, 0.25)) == (0.25, 0.25, 0.25)
        est, low, high = bootstrap_ci([0.3])
        assert est == 0.3 and math.isnan(low) and math.isnan(high)
        # Nearly constant data where BCa's acceleration is undefined still gives an interval.
        est, low, high = bootstrap_ci(np.r_[np.zeros(40), 1.0], n_resamples=2000)
        assert low <= est <= high and math.isfinite(low)


def test_bootstrap_ci_nan_policy() -> None:
    x = np.r_[np.arange(10.0), np.nan]
    with pytest.raises(ValueError, match="nan_policy='omit'"):
        bootstrap_ci(x)
    assert bootstrap_ci(x, nan_policy="omit", n_resamples=500).estimate == pytest.approx(4.5)


def test_paired_difference_removes_shared_noise() -> None:
    rng = np.random.default_rng(3)
    market = rng.normal(0, 0.05, size=200)  # shared by both strategies on each episode
    a = market + 0.004 + rng.normal(0, 0.002, size=200)
    b = market + rng.normal(0, 0.002, size=200)
    est, low, high = paired_difference_ci(a, b, n_resamples=3000, seed=0)
    assert est == pytest.approx(a.mean() - b.mean())
    assert 0 < low < est < high, "paired CI must detect the 0.004 edge"
    # Separate CIs are swamped by the market noise and overlap.
    _, a_low, a_high = bootstrap_ci(a, n_resamples=3000)
    _, b_low, b_high = bootstrap_ci(b, n_resamples=3000)
    assert a_low < b_high and b_low < a_high
    # Order matters: the difference flips sign.
    assert paired_difference_ci(b, a, n_resamples=3000, seed=0).high < 0


def test_paired_difference_degenerate_and_errors() -> None:
    x = np.random.default_rng(4).normal(size=30)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert paired_difference_ci(x, x) == (0.0, 0.0, 0.0)
        assert paired_difference_ci(x + 1.0, x) == pytest.approx((1.0, 1.0, 1.0))
    with pytest.raises(ValueError, match="same length"):
        paired_difference_ci(x, x[:-1])
    y = x.copy()
    y[0] = np.nan
    assert paired_difference_ci(y, x, nan_policy="omit", n_resamples=200).estimate == 0.0


def test_deflated_sharpe_paper_example() -> None:
    # Bailey & López de Prado (2014), numerical example: N = 100 trials whose annualised SRs
    # have variance 1/2, the best annualised SR is 2.5 over 5 years of daily data (T = 1250,
    # 250 days a year), skew -3, kurtosis 10. Per period: V = 0.5 / 250, SR* = 2.5/sqrt(250).
    # Φ⁻¹(1 - 1/100) = 2.3263479, Φ⁻¹(1 - 1/(100 e)) = Φ⁻¹(0.9963212) = 2.6802104,
    # E[max] = sqrt(0.002) * (0.4227843 * 2.3263479 + 0.5772157 * 2.6802104) = 0.1131720.
    assert sps.norm.ppf(0.99) == pytest.approx(2.3263479, abs=1e-7)
    assert sps.norm.ppf(1 - 1 / (100 * math.e)) == pytest.approx(2.6802104, abs=1e-7)
    expected_max = expected_max_sharpe(0.5 / 250, 100)
    assert expected_max == pytest.approx(0.1131720, abs=1e-7)
    # SR* = 0.1581139; denominator sqrt(1 + 3 * 0.1581139 + 9/4 * 0.1581139^2) = 1.2371708;
    # z = (0.1581139 - 0.1131720) * sqrt(1249) / 1.2371708 = 1.2838160; Φ(z) = 0.9004 (paper).
    observed = 2.5 / math.sqrt(250)
    # Trials with exactly that sample variance (ddof=1), the selected one among them.
    z = np.random.default_rng(5).normal(size=100)
    trials = (z - z.mean()) / z.std(ddof=1) * math.sqrt(0.5 / 250)
    selected = SharpeMoments(observed, n_obs=1250, skew=-3.0, kurtosis=10.0)
    dsr, e_max = deflated_sharpe_ratio(selected, trials)
    assert e_max == pytest.approx(expected_max, rel=1e-12)
    assert dsr == pytest.approx(sps.norm.cdf(1.2838160), abs=1e-7)
    assert dsr == pytest.approx(0.9004, abs=5e-5)


def test_deflated_sharpe_invariants() -> None:
    observed, n_obs = 0.1, 500
    moments = SharpeMoments(observed, n_obs, skew=0.5, kurtosis=4.0)
    dsrs = []
    for n_trials in [1, 2, 5, 20, 100, 1000]:
        z = np.random.default_rng(n_trials).normal(size=max(n_trials, 2))
        trials = (z - z.mean()) / z.std(ddof=1) * 0.05
        dsr, _ = deflated_sharpe_ratio(moments, trials, n_trials=n_trials)
        dsrs.append(dsr)
    assert (np.diff(dsrs) < 0).all(), dsrs
    # One trial: no selection bias, DSR == PSR against a zero benchmark.
    dsr1, e_max1 = deflated_sharpe_ratio(moments, [observed])
    assert e_max1 == 0.0
    assert dsr1 == pytest.approx(probabilistic_sharpe_ratio(moments, 0.0))
    assert dsrs[0] == pytest.approx(dsr1)
    # More spread among trials -> higher luck bar -> lower DSR.
    normal = SharpeMoments(observed, n_obs)
    wide, _ = deflated_sharpe_ratio(normal, [0.0, 0.2, -0.2])
    narrow, _ = deflated_sharpe_ratio(normal, [0.0, 0.02, -0.02])
    assert wide < narrow


def test_psr_basic_properties() -> None:
    assert probabilistic_sharpe_ratio(SharpeMoments(0.05, 252), 0.05) == pytest.approx(0.5)
    # Normal returns: z = SR sqrt(T-1) / sqrt(1 + SR^2 / 2).
    sr = 0.1
    z = sr * math.sqrt(251) / math.sqrt(1 + sr**2 / 2)
    assert probabilistic_sharpe_ratio(SharpeMoments(sr, 252), 0.0) == pytest.approx(sps.norm.cdf(z))
    # Negative skew and fat tails make the same SR less convincing.
    fat_left_tail = SharpeMoments(sr, 252, skew=-2.0, kurtosis=9.0)
    assert probabilistic_sharpe_ratio(fat_left_tail, 0.0) < sps.norm.cdf(z)
    with pytest.raises(ValueError, match="non-excess"):
        probabilistic_sharpe_ratio(SharpeMoments(1.0, 252, skew=3.0, kurtosis=1.0), 0.0)
    # The pre-SharpeMoments call (SR, benchmark, T) is refused, saying what to pass instead.
    with pytest.raises(TypeError, match=r"observed must be the SharpeMoments.*got float 0\.1"):
        probabilistic_sharpe_ratio(0.1, 0.0)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"deflated_sharpe_ratio: observed must be"):
        deflated_sharpe_ratio(0.1, [0.0, 0.1], 500)  # type: ignore[arg-type]


def test_sharpe_moments() -> None:
    r = np.random.default_rng(6).normal(0.001, 0.01, size=20000)
    m = sharpe_moments(r)
    assert m.sharpe == pytest.approx(r.mean() / r.std(ddof=1))
    assert m.n_obs == 20000
    assert m.kurtosis == pytest.approx(3.0, abs=0.15), "non-excess kurtosis of normal ~3"
    assert m.skew == pytest.approx(0.0, abs=0.1)
    assert sharpe_moments(np.zeros(10)).sharpe == 0.0, "all cash: Sharpe 0 (the one rule)"
    assert math.isnan(sharpe_moments(np.full(10, 0.01)).sharpe)
