"""Deflated Sharpe of the selected trial: annualised -> daily conversion and T, by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from quantray.tune.report import deflated_sharpe_of_search


def test_deflated_sharpe_hand_example():
    # Selected trial: 100 validation days alternating +1.1% / -0.9%: mean 0.001, skew 0,
    # kurtosis 1 (two-point), std (ddof=1) = 0.01 * sqrt(100/99) -> daily SR 0.0994987.
    returns = np.tile([0.011, -0.009], 50)
    # All trials' ANNUALISED validation Sharpes 1, 2, 3: per day / sqrt(252), variance
    # (ddof=1) 1/252. E[max SR] for N = 3: sqrt(1/252) * ((1-g) * z(2/3) + g * z(1-1/(3e)))
    # = 0.0629941 * (0.4227843 * 0.4307273 + 0.5772157 * 1.1619...) = 0.053722 per day.
    # DSR = Phi((0.0994987 - 0.053722) * sqrt(99) / sqrt(1 - 0 + (1-1)/4 * SR^2))
    #     = Phi(0.455463) = 0.67562.
    dsr = deflated_sharpe_of_search(returns, np.array([1.0, 2.0, 3.0]))
    assert dsr.n_obs == 100 and dsr.n_trials == 3
    assert dsr.observed_daily == pytest.approx(0.0994987, abs=1e-6)
    assert dsr.observed_annual == pytest.approx(0.0994987 * math.sqrt(252), abs=1e-5)
    assert dsr.skew == pytest.approx(0.0, abs=1e-9)
    assert dsr.kurtosis == pytest.approx(1.0, abs=1e-9)
    assert dsr.expected_max_daily == pytest.approx(0.053722, abs=2e-6)
    assert dsr.dsr == pytest.approx(0.67562, abs=1e-4)


def test_more_days_and_fewer_trials_raise_the_dsr():
    base = deflated_sharpe_of_search(np.tile([0.011, -0.009], 50), np.array([1.0, 2.0, 3.0]))
    longer = deflated_sharpe_of_search(np.tile([0.011, -0.009], 200), np.array([1.0, 2.0, 3.0]))
    more_trials = deflated_sharpe_of_search(np.tile([0.011, -0.009], 50), np.linspace(1.0, 3.0, 30))
    assert longer.n_obs == 400 and longer.dsr > base.dsr
    assert more_trials.expected_max_daily > base.expected_max_daily
    assert more_trials.dsr < base.dsr


def test_all_cash_selection_has_no_dsr():
    dsr = deflated_sharpe_of_search(np.zeros(40), np.array([0.0, 1.0]))
    assert math.isnan(dsr.dsr) and dsr.n_obs == 40
