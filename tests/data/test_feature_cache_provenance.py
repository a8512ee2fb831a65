"""Frozen features remember what their stage-1 model was trained on: no look-ahead, and a
replaced data file never reuses a model trained on the old one."""

from __future__ import annotations

import numpy as np
import pytest

from quantray.config import DataConfig
from quantray.data import DataError, load_task
from quantray.data.synthetic import generate, write_bars
from quantray.features.cache import write_cache
from quantray.features.store import small_stage1_spec, spec_key


@pytest.fixture(scope="module")
def bars():
    return {s: f.drop(columns="regime") for s, f in generate(2, 900, seed=11).items()}


def _cache(tmp_path, bars, period, **meta) -> str:
    task = load_task(bars=bars)
    meta = {"data_hash": task.panel.data_hash, "trained_period": period, **meta}
    table = np.zeros((task.panel.n_rows, 4), dtype=np.float32)
    name = f"cache-{period[1]}-{meta.get('window')}"
    return str(write_cache(tmp_path / name, table, meta))


def test_cache_trained_on_the_test_period_is_refused(tmp_path, bars):
    task = load_task(bars=bars)
    train_first, train_last = (str(d) for d in task.splits.ranges["train"])
    ok = load_task(bars=bars, features=_cache(tmp_path, bars, [train_first, train_last]))
    assert ok.dim == 4
    test_last = str(task.splits.ranges["test"][1])
    with pytest.raises(DataError, match="overlaps this task's valid period") as err:
        load_task(bars=bars, features=_cache(tmp_path, bars, [train_first, test_last]))
    assert "fix:" in str(err.value).lower() or "fix" in str(err.value)
    # One day into validation is already look-ahead.
    valid_first = str(task.splits.ranges["valid"][0])
    with pytest.raises(DataError, match="overlaps"):
        load_task(bars=bars, features=_cache(tmp_path, bars, [train_first, valid_first]))


def test_replacing_the_data_file_changes_the_stage1_key(tmp_path, bars):
    path = write_bars(bars, tmp_path / "bars.parquet")
    spec = small_stage1_spec(path, smoke=True)
    before = spec_key(spec)
    assert spec_key(small_stage1_spec(path, smoke=True)) == before, "same content, same key"
    changed = {s: f.assign(volume=f["volume"] + 1.0) for s, f in bars.items()}
    write_bars(changed, path)  # same path, new content
    assert spec_key(small_stage1_spec(path, smoke=True)) != before


def test_a_task_window_shorter_than_the_stage1_window_is_refused(tmp_path, bars):
    """Rows before a full stage-1 window have no features (NaN): a task with a shorter window
    would start episodes on them, so it is refused, naming the window to use."""
    task = load_task(bars=bars, data_config=DataConfig(window=60))
    period = [str(d) for d in task.splits.ranges["train"]]
    cache = _cache(tmp_path, bars, period, window=90)
    for ok in (90, 120):
        assert load_task(bars=bars, features=cache, data_config=DataConfig(window=ok)).dim == 4
    with pytest.raises(DataError, match=r"(?s)reads 90-day windows.*DataConfig\(window=90\)"):
        load_task(bars=bars, features=cache, data_config=DataConfig(window=60))
