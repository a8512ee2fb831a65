"""Splits never let a label or episode cross a boundary; windows are gathers, not copies."""

from __future__ import annotations

import numpy as np
import pytest

from quantray.config import ConfigError, DataConfig, SplitConfig
from quantray.data import (
    Episodes,
    FeatureNormalizer,
    Panel,
    WindowDataset,
    episode_rows,
    make_splits,
    sample_rows,
)
from quantray.data.synthetic import generate


@pytest.fixture(scope="module")
def panel():
    bars = generate(n_symbols=3, n_days=900, seed=11)
    # Different start dates per symbol: the union calendar matters.
    bars["SYN001"] = bars["SYN001"].iloc[100:]
    bars["SYN002"] = bars["SYN002"].iloc[:700]
    return Panel.from_bars(bars)


def test_random_split_configs_never_cross(panel):
    rng = np.random.default_rng(1)
    for _ in range(20):
        data = DataConfig(
            window=int(rng.integers(5, 60)),
            horizon=int(rng.integers(1, 10)),
            episode_len=int(rng.integers(5, 25)),
        )
        need = data.horizon + data.episode_len
        split = SplitConfig(
            train_frac=float(rng.uniform(0.4, 0.6)),
            valid_frac=float(rng.uniform(0.15, 0.25)),
            embargo=int(rng.integers(need, need + 15)),
        )
        splits = make_splits(panel, split, data)
        sym = panel.symbol_id
        for code, name in enumerate(("train", "valid", "test")):
            lo, hi = splits.ranges[name]
            t = sample_rows(panel, splits, name, data)
            assert len(t) > 0
            end = t + data.horizon
            assert (sym[end] == sym[t]).all()
            assert (panel.dates[t] >= lo).all() and (panel.dates[end] <= hi).all()
            assert (splits.row_split[t] == code).all()
            s = episode_rows(panel, splits, name, data)
            last = s + data.episode_len
            assert (sym[last] == sym[s]).all()
            assert (panel.dates[s] >= lo).all() and (panel.dates[last] <= hi).all()
            # every window's input is full of finite features
            first = t - data.window + 1
            assert (sym[first] == sym[t]).all()
            assert np.isfinite(panel.features[first]).all()
        # embargo: at least `embargo` trading days between periods
        cal = np.unique(panel.dates)
        tr_end = np.searchsorted(cal, splits.ranges["train"][1])
        va_start = np.searchsorted(cal, splits.ranges["valid"][0])
        assert va_start - tr_end - 1 == split.embargo


def test_split_by_dates(panel):
    split = SplitConfig(valid_start="2002-01-02", test_start="2002-08-01")
    splits = make_splits(panel, split)
    assert str(splits.ranges["valid"][0]) == "2002-01-02"
    assert str(splits.ranges["test"][0]) == "2002-08-01"
    assert splits.ranges["train"][1] < splits.ranges["valid"][0]


def test_embargo_too_short_is_rejected(panel):
    with pytest.raises(ConfigError, match="embargo"):
        make_splits(panel, SplitConfig(embargo=5))


def test_window_equals_hand_slice(panel):
    data = DataConfig()
    splits = make_splits(panel, SplitConfig(), data)
    ends = sample_rows(panel, splits, "train", data)
    norm = FeatureNormalizer.fit(panel.features, splits.row_split == 0)
    ds = WindowDataset.build(panel, ends, norm, data)
    i = len(ds) // 2
    x, y = ds[i]
    t = ends[i]
    z = norm.transform(panel.features)
    np.testing.assert_array_equal(x, z[t - 179 : t + 1])
    np.testing.assert_allclose(y, panel.close[t + 1 : t + 8] / panel.close[t] - 1, rtol=1e-6)
    xb, yb = ds.batch(np.array([0, i, len(ds) - 1]))
    assert xb.shape == (3, 180, 11) and yb.shape == (3, 7)
    np.testing.assert_array_equal(xb[1], x)


def test_memory_does_not_grow_with_window_count(panel):
    splits = make_splits(panel, SplitConfig(), DataConfig())
    norm = FeatureNormalizer.fit(panel.features, splits.row_split == 0)
    sizes = []
    for window in (30, 180):
        data = DataConfig(window=window)
        ends = sample_rows(panel, splits, "train", data)
        ds = WindowDataset.build(panel, ends, norm, data)
        # Every array the dataset holds: O(rows x F) features + O(rows) closes and indices.
        held = sum(v.nbytes for v in vars(ds).values() if isinstance(v, np.ndarray))
        sizes.append(held)
        assert held <= panel.n_rows * (11 * 4 + 8 + 8)
    # 6x longer windows, (almost) the same memory: no [n, L, F] materialisation.
    assert sizes[1] <= sizes[0]


def test_episodes_gather_and_non_overlap(panel):
    data = DataConfig()
    splits = make_splits(panel, SplitConfig(), data)
    starts = episode_rows(panel, splits, "test", data, stride=data.episode_len)
    ep = Episodes.build(panel, starts, data.episode_len)
    assert ep.next_returns.shape == (len(starts), 20)
    s = starts[0]
    np.testing.assert_allclose(
        ep.next_returns[0], panel.close[s + 1 : s + 21] / panel.close[s : s + 20] - 1
    )
    np.testing.assert_allclose(
        ep.prev_returns[0], panel.close[s : s + 20] / panel.close[s - 1 : s + 19] - 1
    )
    assert np.isfinite(ep.next_returns).all() and np.isfinite(ep.prev_returns).all()
    sym = panel.symbol_id[starts]
    same = sym[1:] == sym[:-1]
    assert (np.diff(starts)[same] >= data.episode_len).all()
    assert ep.features(panel.features).shape == (len(starts), 20, 11)
