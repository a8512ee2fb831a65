"""The 11 features: hand-computed values, warm-up, and causality."""

from __future__ import annotations

import numpy as np
import pytest

from quantray.data import FEATURE_NAMES, FEATURE_WARMUP, FeatureNormalizer, make_features
from quantray.data.synthetic import generate


@pytest.fixture(scope="module")
def bars():
    return generate(n_symbols=1, n_days=400, seed=7)["SYN000"].drop(columns="regime")


def test_shape_dtype_and_warmup(bars):
    feats = make_features(bars)
    assert feats.shape == (400, 11)
    assert list(feats.columns) == list(FEATURE_NAMES)
    assert (feats.dtypes == np.float32).all()
    assert feats.iloc[:FEATURE_WARMUP].isna().any(axis=1).all()
    assert np.isfinite(feats.iloc[FEATURE_WARMUP:].to_numpy()).all()


def test_hand_computed_values(bars):
    feats = make_features(bars)
    c, o, h, lo, v = (bars[k].to_numpy() for k in ("close", "open", "high", "low", "volume"))
    t = 123
    r1 = np.log(c[1:] / c[:-1])  # r1[i] is the return into day i+1
    window = r1[t - 20 : t]  # ret_1d of days t-19..t
    gains, losses = np.maximum(window[-14:], 0), np.maximum(-window[-14:], 0)
    expected = {
        "ret_1d": np.log(c[t] / c[t - 1]),
        "ret_5d": np.log(c[t] / c[t - 5]),
        "ret_20d": np.log(c[t] / c[t - 20]),
        "range_hl": np.log(h[t] / lo[t]),
        "body_oc": np.log(c[t] / o[t]),
        "gap_open": np.log(o[t] / c[t - 1]),
        "vol_20d": window.std(),
        "ma_gap_20d": np.log(c[t] / c[t - 19 : t + 1].mean()),
        "rsi_14": (gains.mean() / (gains.mean() + losses.mean()) - 0.5) * 2,
        "volume_ratio_20d": np.log1p(v[t]) - np.log1p(v[t - 19 : t + 1]).mean(),
        "value_ratio_20d": np.log1p(c[t] * v[t])
        - np.log1p(c[t - 19 : t + 1] * v[t - 19 : t + 1]).mean(),
    }
    for name, value in expected.items():
        assert feats[name].iloc[t] == pytest.approx(value, rel=1e-5, abs=1e-6), name


def test_causality_future_changes_leave_past_bit_identical(bars):
    rng = np.random.default_rng(0)
    base = make_features(bars).to_numpy()
    for _ in range(10):
        t = int(rng.integers(FEATURE_WARMUP, len(bars) - 2))
        changed = bars.copy()
        scale = rng.uniform(0.5, 2.0, size=(len(bars) - t - 1, 1))
        cols = ["open", "high", "low", "close"]
        changed.iloc[t + 1 :, [changed.columns.get_loc(c) for c in cols]] *= scale
        changed.iloc[t + 1 :, changed.columns.get_loc("volume")] *= rng.uniform(0, 3)
        after = make_features(changed).to_numpy()
        np.testing.assert_array_equal(after[: t + 1], base[: t + 1])
        assert not np.array_equal(after[t + 1 :], base[t + 1 :])


def test_normalizer_fits_training_rows_only(bars):
    feats = make_features(bars).to_numpy()
    train = np.zeros(len(feats), dtype=bool)
    train[:200] = True
    norm = FeatureNormalizer.fit(feats, train)
    feats_changed = feats.copy()
    feats_changed[200:] *= 50.0  # later periods must not move the statistics
    assert FeatureNormalizer.fit(feats_changed, train) == norm
    z = norm.transform(feats)[FEATURE_WARMUP:200]
    np.testing.assert_allclose(z.mean(axis=0), 0, atol=1e-4)
    assert FeatureNormalizer.from_dict(norm.to_dict()) == norm
