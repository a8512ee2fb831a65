"""Date-block intervals: copies add no information, independent symbols do; pooled Sharpe."""

from __future__ import annotations

import math

import empyrical
import numpy as np
import pytest

from quantray.evaluate import pooled_sharpe
from quantray.evaluate.blocks import DateBlocks, mean_ci, paired_mean_ci, pooled_sharpe_ci
from quantray.evaluate.daily import distinct_days, equal_weight_daily

E = 20


def _dates(n_episodes: int, n_symbols: int) -> np.ndarray:
    """[S * n, E] non-overlapping episodes of each symbol on one shared calendar."""
    calendar = np.arange("2010-01-01", n_episodes * E, dtype="datetime64[D]")
    one = calendar.reshape(n_episodes, E)  # [n * E] -> [n, E]
    return np.tile(one, (n_symbols, 1))  # [S * n, E]


def _width(ci) -> float:
    return ci.high - ci.low


def test_date_blocks_group_same_dated_episodes():
    dates = _dates(5, 3)
    blocks = DateBlocks.from_dates(dates)
    assert blocks.n_blocks == 5 and blocks.block_days == E
    assert (blocks.block == np.tile(np.arange(5), 3)).all()
    # An episode shifted by 3 days still starts in the block of its first day.
    shifted = dates.copy()
    shifted[0] = shifted[0] + np.timedelta64(3, "D")
    assert DateBlocks.from_dates(shifted).block[0] == 0


def test_copies_of_one_symbol_do_not_narrow_the_interval_independent_symbols_do():
    n, k = 120, 6
    rng = np.random.default_rng(0)
    single = rng.normal(0.01, 0.05, n)
    one = mean_ci(single, DateBlocks.from_dates(_dates(n, 1)))
    copies = mean_ci(np.tile(single, k), DateBlocks.from_dates(_dates(n, k)))
    assert copies.estimate == pytest.approx(one.estimate)
    assert _width(copies) == pytest.approx(_width(one), rel=1e-9), "copies add no information"
    independent = rng.normal(0.01, 0.05, (k, n)).reshape(-1)
    wide = np.mean([_width(mean_ci(rng.normal(0.01, 0.05, n), DateBlocks.independent(n)))
                    for _ in range(5)])  # fmt: skip
    narrow = _width(mean_ci(independent, DateBlocks.from_dates(_dates(n, k))))
    assert narrow / wide == pytest.approx(1 / math.sqrt(k), rel=0.3)
    # Resampling episodes one by one (the old way) would have narrowed the copies' interval.
    naive = mean_ci(np.tile(single, k), DateBlocks.independent(n * k))
    assert _width(naive) < 0.6 * _width(one)


def test_pooled_sharpe_by_hand_and_against_empyrical():
    net = np.array([[0.01, -0.02, 0.03], [0.00, 0.01, -0.01]])
    flat = net.reshape(-1)
    hand = flat.mean() / flat.std(ddof=1) * math.sqrt(252)
    assert pooled_sharpe(net) == pytest.approx(hand, rel=1e-12)
    assert pooled_sharpe(net) == pytest.approx(empyrical.sharpe_ratio(flat), rel=1e-9)
    ci = pooled_sharpe_ci(net, DateBlocks.independent(2))
    assert ci.estimate == pytest.approx(hand, rel=1e-12)
    assert pooled_sharpe(np.zeros((4, E))) == 0.0, "all cash: Sharpe 0"
    # Not the mean of per-episode Sharpes.
    per_episode = [r.mean() / r.std(ddof=1) * math.sqrt(252) for r in net]
    assert abs(np.mean(per_episode) - hand) > 0.5


def test_paired_interval_and_coverage_on_a_known_difference():
    rng = np.random.default_rng(1)
    n = 200
    market = rng.normal(0.0, 0.05, n)
    a, b = market + 0.01 + rng.normal(0, 0.002, n), market
    ci = paired_mean_ci(a, b, DateBlocks.independent(n))
    assert ci.low > 0.0 and ci.low < 0.01 < ci.high
    with pytest.raises(ValueError, match="expected \\[n\\]"):
        mean_ci(a[:10], DateBlocks.independent(n))


def test_equal_weight_daily_by_hand():
    d = np.array(["2020-01-01", "2020-01-02", "2020-01-02", "2020-01-03"], dtype="datetime64[D]")
    dates = d.reshape(2, 2)
    values = np.array([[0.01, 0.02], [0.04, -0.01]])
    series = equal_weight_daily(values, dates)
    assert list(series.to_numpy()) == pytest.approx([0.01, 0.03, -0.01])
    assert distinct_days(dates) == 3
