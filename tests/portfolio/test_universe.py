"""The point-in-time universe over uneven histories: union calendar, availability, features
without forward-filling, marks across holidays, episodes where some assets are absent."""

from __future__ import annotations

import numpy as np
import pytest

from quantray.data import DataError
from quantray.data.features import FEATURE_WARMUP
from quantray.data.universe import PortfolioTask, select_universe

from .conftest import WINDOW, uneven_bars, uneven_task

FIRST_FULL = FEATURE_WARMUP + WINDOW - 1  # own rows needed before an asset is in the universe


def test_union_calendar_and_availability(uneven: PortfolioTask) -> None:
    assert uneven.symbols == ("SYN000", "SYN001", "SYN002", "SYN003")
    assert len(uneven.calendar) == 700  # the union, not the shortest history
    avail = uneven.available
    assert not avail[:FIRST_FULL, 0].any() and avail[FIRST_FULL:, 0].all()
    # SYN001 lists on day 200 and needs a full window of its OWN bars.
    assert not avail[: 200 + FIRST_FULL, 1].any() and avail[200 + FIRST_FULL :, 1].all()
    # SYN002 delists after day 450.
    assert avail[FIRST_FULL:451, 2].all() and not avail[451:, 2].any()
    # SYN003 is out on its holidays (and has no bar: cell_row -1).
    holidays = np.flatnonzero(np.arange(700) % 7 == 3)
    assert not avail[holidays, 3].any() and (uneven.cell_row[holidays, 3] == -1).all()
    late = np.arange(150, 700)
    assert avail[late[late % 7 != 3], 3].all()


def test_features_are_the_assets_own_rows_never_filled(uneven: PortfolioTask) -> None:
    eps = uneven.episodes("train")
    feats = eps.features(uneven.task.table)  # [n, E, N, D]
    assert feats.shape == (len(eps), uneven.episode_len, 4, uneven.dim)
    np.testing.assert_array_equal(feats[eps.mask], uneven.task.table[eps.rows[eps.mask]])
    assert (feats[~eps.mask] == 0).all()
    assert np.isfinite(feats).all()


def test_mark_across_a_holiday(uneven: PortfolioTask) -> None:
    close = uneven_bars()["SYN003"]["close"].to_numpy()  # its own bars only
    h = 7 * 40 + 3  # a holiday of SYN003; its own bar index for day h+1 is h+1 - (holidays <= h)
    own = lambda day: day - (day // 7 + (day % 7 > 3))  # noqa: E731
    assert uneven.next_returns[h - 1, 3] == 0.0  # held across the holiday: no move
    expected = close[own(h + 1)] / close[own(h - 1)] - 1.0
    assert uneven.next_returns[h, 3] == pytest.approx(expected, abs=1e-12)
    # Before listing and after delisting nothing moves.
    assert (uneven.next_returns[:199, 1] == 0).all() and (uneven.next_returns[451:, 2] == 0).all()


def test_episodes_cover_days_where_some_assets_are_absent(uneven: PortfolioTask) -> None:
    for split in ("train", "valid", "test"):
        eps = uneven.episodes(split)
        assert len(eps) > 0
        assert eps.mask[:, 0].any(axis=-1).all()  # first day has an asset
    train = uneven.episodes("train")
    # Some train episodes run before SYN001 lists (not truncated to the shortest history) ...
    assert (~train.mask[..., 1]).all(axis=1).any()
    # ... and the test period, after SYN002 delisted, still has episodes without it.
    test = uneven.episodes("test")
    assert not test.mask[..., 2].any()
    stride = uneven.episodes("valid", stride=uneven.episode_len)
    assert (np.diff(stride.starts) >= uneven.episode_len).all()


def test_changing_the_future_leaves_the_past(uneven: PortfolioTask) -> None:
    bars = uneven_bars()
    cut = 560  # after the train split: the normaliser (fitted on train) stays the same
    for symbol in ("SYN000", "SYN003"):
        frame = bars[symbol].copy()
        late = frame.index >= frame.index[0] + (uneven.calendar[cut] - uneven.calendar[0])
        frame.loc[late, ["open", "high", "low", "close"]] *= 1.7
        bars[symbol] = frame
    changed = uneven_task(bars)
    assert (uneven.day_split[cut:] != 0).all()
    rows_a, rows_b = uneven.cell_row[:cut], changed.cell_row[:cut]
    np.testing.assert_array_equal(rows_a, rows_b)
    ok = rows_a >= 0
    np.testing.assert_array_equal(uneven.available[:cut], changed.available[:cut])
    np.testing.assert_allclose(
        uneven.task.table[rows_a[ok]], changed.task.table[rows_b[ok]], atol=1e-6
    )
    np.testing.assert_allclose(uneven.next_returns[: cut - 1], changed.next_returns[: cut - 1])


def test_universe_selection_errors() -> None:
    bars = uneven_bars()
    assert list(select_universe(bars, ["SYN003", "SYN000"])) == ["SYN003", "SYN000"]
    with pytest.raises(DataError, match="SYNX"):
        select_universe(bars, ["SYN000", "SYNX"])
    with pytest.raises(DataError, match="at least 2"):
        select_universe(bars, ["SYN000"])


def test_bundled_us_stocks_are_an_uneven_real_universe() -> None:
    from quantray.data import US_STOCKS_PATH
    from quantray.data.universe import load_portfolio_task

    task = load_portfolio_task(US_STOCKS_PATH)
    assert task.symbols == ("AAPL", "GOOG", "IBM", "MSFT")
    goog = task.available[:, task.symbols.index("GOOG")]
    first = task.calendar[np.argmax(goog)]
    assert first > np.datetime64("2004-08-19")  # listed 2004-08-19, then a full window
    assert task.available[0].sum() == 0 and task.available[-1].all()
    assert len(task.episodes("test", stride=task.episode_len)) > 0
    # Splits are back-adjusted: no daily move of -50% on AAPL's 2005 2:1 split day.
    aapl = task.next_returns[:, 0]
    split_day = np.flatnonzero(task.calendar == np.datetime64("2005-02-28"))[0]
    assert abs(aapl[split_day - 1]) < 0.1
