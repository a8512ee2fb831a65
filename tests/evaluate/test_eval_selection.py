"""Significance after a search: DSR by hand and from the paper, T = distinct days, SPA."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from quantray.evaluate.selection import SearchEvidence, deflate, spa_pvalue
from quantray.evaluate.stats import SharpeMoments, deflated_sharpe_ratio


def test_dsr_reproduces_bailey_lopez_de_prado_numerical_example():
    # The paper's example: N = 100 trials, annualised SR variance 0.5, best annualised SR 2.5,
    # T = 1250 daily observations, skew -3, kurtosis 10 (250 days a year) -> DSR = 0.9004.
    a = math.sqrt(0.25 / 250)  # [-a, a] has sample variance (ddof=1) 2a^2 = 0.5 / 250
    selected = SharpeMoments(2.5 / math.sqrt(250), n_obs=1250, skew=-3.0, kurtosis=10.0)
    dsr, expected_max = deflated_sharpe_ratio(selected, [-a, a], n_trials=100)
    assert expected_max * math.sqrt(250) == pytest.approx(1.7894, abs=1e-3)
    assert dsr == pytest.approx(0.9004, abs=1e-4)


def test_deflate_hand_example_and_distinct_days():
    # 100 validation days alternating +1.1% / -0.9%: mean 0.001, skew 0, kurtosis 1,
    # std (ddof=1) = 0.01 * sqrt(100/99) -> daily SR 0.0994987. Trials' annualised scores
    # 1, 2, 3 -> per day / sqrt(252), variance 1/252, E[max] for N = 3 = 0.053722 per day.
    # DSR = Phi((0.0994987 - 0.053722) * sqrt(99)) = Phi(0.455463) = 0.67562.
    path = np.tile([0.011, -0.009], 50)
    d = deflate(path, [1.0, 2.0, 3.0], n_days=100)
    assert d.n_obs == 100 and d.n_trials == 3
    assert d.observed_daily == pytest.approx(0.0994987, abs=1e-6)
    assert d.expected_max_daily == pytest.approx(0.053722, abs=2e-6)
    assert d.dsr == pytest.approx(0.67562, abs=1e-4)
    # Three symbols on the same 100 days are 300 symbol-days but still T = 100 days of
    # evidence: the DSR must not grow with copies.
    copies = deflate(np.tile(path, (3, 1)), [1.0, 2.0, 3.0], n_days=100)
    assert copies.dsr == pytest.approx(d.dsr, abs=5e-3)  # ddof over 300 vs 100 values
    symbol_days = deflate(np.tile(path, (3, 1)), [1.0, 2.0, 3.0], n_days=300)
    assert symbol_days.dsr > d.dsr + 0.05, "counting symbol-days would overstate the evidence"


def _market(days: int, seed: int) -> pd.Series:
    rng = np.random.default_rng(seed)
    index = pd.bdate_range("2010-01-01", periods=days)
    return pd.Series(rng.normal(1e-3, 0.01, days), index=index)


def _evidence(market: pd.Series, trials: pd.DataFrame, selected: str) -> SearchEvidence:
    active = trials.sub(market, axis=0)
    ir = active.mean() / active.std(ddof=1).replace(0, np.inf) * math.sqrt(252)
    sharpe = trials.mean() / trials.std(ddof=1) * math.sqrt(252)
    n = len(market)
    return SearchEvidence(
        sharpe=deflate(trials[selected].to_numpy(), sharpe.to_numpy(), n),
        active=deflate(active[selected].to_numpy(), ir.to_numpy(), n),
        spa_pvalue=spa_pvalue(market, trials, seed=0),
        n_trials=trials.shape[1],
    )


def test_trials_that_hold_the_market_show_no_skill():
    market = _market(750, seed=1)
    rng = np.random.default_rng(2)
    # 30 trials that all end up fully invested, give or take a little noise.
    trials = pd.DataFrame({f"t{i}": market + rng.normal(0, 5e-4, len(market)) for i in range(30)})
    ir = trials.sub(market, axis=0).mean()
    evidence = _evidence(market, trials, selected=str(ir.idxmax()))
    assert evidence.sharpe.dsr > 0.5, "their Sharpe vs zero looks fine (the market rose)"
    assert evidence.active.dsr < 0.9, "but the best edge over the market is selection luck"
    assert evidence.spa_pvalue > 0.1
    assert not evidence.skill and "No evidence of skill" in evidence.verdict()


def test_a_real_edge_is_found():
    market = _market(750, seed=3)
    rng = np.random.default_rng(4)
    trials = pd.DataFrame({f"t{i}": market + rng.normal(0, 5e-4, len(market)) for i in range(10)})
    trials["edge"] = market + 1.5e-3 + rng.normal(0, 5e-4, len(market))
    evidence = _evidence(market, trials, selected="edge")
    assert evidence.active.dsr > 0.99 and evidence.spa_pvalue < 0.05
    assert evidence.skill and "Evidence of skill" in evidence.verdict()


def test_spa_of_exact_copies_of_the_benchmark_is_one():
    market = _market(200, seed=5)
    trials = pd.DataFrame({"a": market, "b": market})
    assert spa_pvalue(market, trials) == 1.0
