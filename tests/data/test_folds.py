"""Walk-forward folds: blocks tile the span, each after its own training window + embargo."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from quantray.config import ConfigError, DataConfig, SplitConfig, WalkForwardConfig
from quantray.data import Panel, episode_rows, make_splits, sample_rows
from quantray.data.folds import make_folds
from quantray.data.synthetic import generate

CALENDAR = pd.bdate_range("2000-01-03", "2015-06-30").values.astype("datetime64[D]")


def _random_config(rng: np.random.Generator, data: DataConfig) -> WalkForwardConfig:
    need = data.horizon + data.episode_len
    min_train, valid = int(rng.integers(50, 300)), int(rng.integers(30, 300))
    embargo = int(rng.integers(need, need + 20))
    return WalkForwardConfig(
        window=str(rng.choice(["expanding", "rolling"])),
        # a rolling fit part is rolling_days - embargo - valid_days long
        rolling_days=min_train + embargo + valid + int(rng.integers(0, 800)),
        block_months=int(rng.integers(2, 25)),
        first_test=str(CALENDAR[int(rng.integers(1200, 2000))]),
        end=None if rng.random() < 0.5 else str(CALENDAR[int(rng.integers(2500, len(CALENDAR)))]),
        min_train_days=min_train,
        valid_days=valid,
        embargo=embargo,
        replay_days=int(rng.integers(0, 400)),
    )


def test_random_folds_tile_the_span_in_order_with_embargo():
    rng = np.random.default_rng(0)
    checked = 0
    for _ in range(200):
        data = DataConfig(horizon=int(rng.integers(1, 10)), episode_len=int(rng.integers(2, 30)))
        config = _random_config(rng, data)
        folds = make_folds(CALENDAR, config, data)
        pos = np.array([f.positions for f in folds])  # [K, 7]
        train, fit_end, v0, v1, a, b, update = pos.T
        # tiling: first block at first_test, each next block starts the day after the last
        # ends, the last ends at `end` (or the last day): no gap, no overlap
        assert a[0] == np.searchsorted(CALENDAR, np.datetime64(config.first_test))
        assert (a[1:] == b[:-1] + 1).all()
        last = (
            len(CALENDAR) - 1
            if config.end is None
            else CALENDAR.searchsorted(np.datetime64(config.end), "right") - 1
        )
        assert b[-1] == last
        assert (b - a + 1 >= data.episode_len + 1).all()
        # ordering + embargo: fit part | embargo | validation | embargo | block
        assert (train <= fit_end).all() and (fit_end - train + 1 >= config.min_train_days).all()
        assert (v0 - fit_end - 1 == config.embargo).all()
        assert (v1 - v0 + 1 == config.valid_days).all()
        assert (a - v1 - 1 == config.embargo).all()
        if config.window == "expanding":
            assert (train == 0).all()
        else:
            assert (train == np.maximum(0, a - config.embargo - config.rolling_days)).all()
        # incremental updates start after the previous fit part, minus the replay window
        assert update[0] == train[0]
        assert (update[1:] == np.maximum(train[1:], fit_end[:-1] + 1 - config.replay_days)).all()
        # the dates are the calendar at those positions
        for f in folds:
            assert f.test_start == str(CALENDAR[f.positions[4]])
            assert f.test_end == str(CALENDAR[f.positions[5]])
        checked += len(folds)
    assert checked > 500


def test_default_one_year_blocks():
    folds = make_folds(CALENDAR, WalkForwardConfig(first_test="2006-01-02"))
    starts = [f.test_start for f in folds]
    assert starts[:3] == ["2006-01-02", "2007-01-02", "2008-01-02"]
    assert folds[-1].test_end == "2015-06-30"
    assert len(folds) == 10  # 2006..2014 whole years + 2015H1


def test_short_remainder_joins_the_previous_block():
    # 2015-01-02..2015-01-15 is 10 trading days < E + 1 = 21: it cannot hold an episode.
    folds = make_folds(CALENDAR, WalkForwardConfig(first_test="2013-01-02", end="2015-01-15"))
    assert [f.test_start for f in folds] == ["2013-01-02", "2014-01-02"]
    assert folds[-1].test_end == "2015-01-15"


def test_fold_is_a_split_whose_periods_hold_only_its_dates():
    bars = generate(n_symbols=2, n_days=1400, seed=4)
    panel = Panel.from_bars(bars)
    calendar = np.unique(panel.dates)
    data = DataConfig(window=30)
    config = WalkForwardConfig(
        window="rolling",
        rolling_days=500,
        block_months=6,
        min_train_days=200,
        valid_days=100,
        first_test=str(calendar[900]),
    )
    folds = make_folds(calendar, config, data)
    assert len(folds) >= 2
    for fold in folds:
        for incremental in (False, True):
            split = fold.split_config(config.embargo, incremental)
            splits = make_splits(panel, split, data)
            first = fold.update_start if incremental else fold.train_start
            assert str(splits.ranges["train"][0]) == first
            assert str(splits.ranges["train"][1]) == fold.fit_end
            assert str(splits.ranges["valid"]) == str(
                (np.datetime64(fold.valid_start), np.datetime64(fold.valid_end))
            )
            assert str(splits.ranges["test"][1]) == fold.test_end
            # nothing of the fold reaches past its block; no training sample past fit_end
            used = splits.row_split >= 0
            assert panel.dates[used].max() <= np.datetime64(fold.test_end)
            assert panel.dates[used].min() >= np.datetime64(first)
            t = sample_rows(panel, splits, "train", data)
            assert panel.dates[t + data.horizon].max() <= np.datetime64(fold.fit_end)
            s = episode_rows(panel, splits, "test", data)
            assert panel.dates[s].min() >= np.datetime64(fold.test_start)
            assert panel.dates[s + data.episode_len].max() <= np.datetime64(fold.test_end)


def test_bad_geometry_is_a_clear_error():
    with pytest.raises(ConfigError, match="embargo=10 is shorter"):
        make_folds(CALENDAR, WalkForwardConfig(embargo=10))
    with pytest.raises(ConfigError, match="fewer than min_train_days"):
        make_folds(CALENDAR, WalkForwardConfig(first_test="2001-06-01"))
    with pytest.raises(ConfigError, match="cannot hold one episode"):
        make_folds(
            CALENDAR,
            WalkForwardConfig(first_test="2006-01-02", block_months=1, embargo=40),
            DataConfig(episode_len=25),
        )
    with pytest.raises(ConfigError, match="window must be one of"):
        WalkForwardConfig(window="sliding")
    with pytest.raises(ConfigError, match="test_end needs valid_start"):
        SplitConfig(test_end="2010-01-01")
