"""Read (and atomically write) the frozen-feature cache; needs neither Ray nor a model.

A cache is a directory holding ``features.npy`` ([N, D] float32, row-aligned with
``Panel.from_bars(bars)``; NaN on rows without a full input window) and ``meta.json``
(data hash, checkpoint id, d_model, symbols, rows). Its name is derived from the checkpoint
id and the data hash, so a cache is computed once per (model, data) and shared by stage 2,
the env and every Tune trial. The writer that runs the model lives in
``quantray.features.export``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from quantray.data.errors import DataError
from quantray.data.panel import Panel
from quantray.data.splits import Splits
from quantray.integrity import DamagedFile, load_or_damaged, quarantine, record

FEATURES_FILE = "features.npy"
META_FILE = "meta.json"


def cache_dir_name(checkpoint_id: str, data_hash: str) -> str:
    """Directory name of the cache for one (checkpoint, data) pair."""
    return f"features-{checkpoint_id}-{data_hash}"


@dataclass(frozen=True)
class FeatureCache:
    """Frozen per-(symbol, day) features: ``table[row]`` is the [D] vector of panel row."""

    table: np.ndarray
    """[N, D] float32."""
    meta: dict[str, Any]
    path: Path

    @classmethod
    def load(cls, path: str | Path) -> FeatureCache:
        """Open a cache directory; raises DataError naming what is missing."""
        path = Path(path)
        for name in (FEATURES_FILE, META_FILE):
            if not (path / name).exists():
                raise DataError(
                    str(path),
                    f"not a feature cache: {name} is missing",
                    expected=f"a directory with {FEATURES_FILE} and {META_FILE}",
                    fix="point at a directory written by experiments/export_features.py",
                )
        meta = load_or_damaged(path / META_FILE, lambda p: json.loads(p.read_text()), "JSON")
        table = load_or_damaged(
            path / FEATURES_FILE, lambda p: np.load(p, mmap_mode="r"), "a NumPy array"
        )
        if table.ndim != 2 or len(table) != meta.get("rows", len(table)):
            raise DamagedFile(
                str(path / FEATURES_FILE),
                "feature table has the wrong shape",
                found=f"shape {table.shape}",
                expected=f"[{meta.get('rows')}, D] as recorded in {META_FILE}",
                fix="delete the cache directory and export the features again",
            )
        return cls(np.asarray(table), meta, path)

    @property
    def dim(self) -> int:
        return int(self.table.shape[1])

    def check_matches(self, panel: Panel) -> None:
        """Refuse a cache built from other data: its rows would not line up."""
        if self.meta.get("data_hash") != panel.data_hash or len(self.table) != panel.n_rows:
            raise DataError(
                str(self.path),
                "feature cache was built from different data",
                found=f"cache data hash {self.meta.get('data_hash')} ({len(self.table)} rows)",
                expected=f"data hash {panel.data_hash} ({panel.n_rows} rows) of the bars loaded now",
                fix="export features again for this data (experiments/export_features.py "
                "--data ...), or load the data the cache was built from",
            )

    def check_window(self, window: int) -> None:
        """Refuse a task whose episodes could start before the cache has features: a row has
        a feature vector only with a full stage-1 window of history (``meta["window"]``), so
        the task's window (which sets its first usable rows) must be at least that long."""
        exported = self.meta.get("window")
        if exported is not None and int(exported) > window:
            raise DataError(
                str(self.path),
                f"this feature cache has features only on rows with a full {exported}-day "
                f"window of history (its stage-1 model reads {exported}-day windows); the "
                f"task's {window}-day window would start episodes earlier, on rows without any",
                found=f"DataConfig.window={window}",
                expected=f"DataConfig.window >= {exported}, the stage-1 window",
                fix=f"load the task with DataConfig(window={exported}) (the data geometry the "
                "stage-1 model was trained on)",
            )

    def check_period(self, splits: Splits) -> None:
        """Refuse a cache whose stage-1 model was trained on dates the task validates or tests
        on: its features would carry knowledge of those periods (look-ahead)."""
        period = self.meta.get("trained_period")
        if not period:
            logging.getLogger("quantray.data").warning(
                f"{self.path}: feature cache without the stage-1 training period (written by an "
                "older version); its look-ahead cannot be checked: export it again"
            )
            return
        first, last = (np.datetime64(d, "D") for d in period)
        for name in ("valid", "test"):
            start, end = splits.ranges[name]
            if first <= end and start <= last:
                raise DataError(
                    str(self.path),
                    f"the stage-1 model behind this feature cache was trained on {first}..{last}, "
                    f"which overlaps this task's {name} period {start}..{end}",
                    found=f"stage-1 training period {first}..{last}",
                    expected=f"a stage-1 model trained only on dates before {start}",
                    fix="train stage 1 with the same splits as this task (experiments/"
                    "train_price.py, then export_features.py), or pass --features raw",
                )


def reusable(path: str | Path) -> bool:
    """Whether a complete, undamaged cache exists at ``path``. A damaged one (size/sha256
    differ from the record, or unreadable) is moved aside with a warning so the caller
    rebuilds it: one bad entry must not poison every later run on a shared store."""
    path = Path(path)
    if not (path / META_FILE).exists():
        return False
    try:
        FeatureCache.load(path)
    except DataError as exc:
        moved = quarantine(path)
        logging.getLogger("quantray.features").warning(
            "%s\nmoved the damaged cache to %s; rebuilding it", exc, moved
        )
        return False
    return True


@contextlib.contextmanager
def staged_cache(path: Path) -> Iterator[Path]:
    """Write a cache atomically: yields a fresh temporary directory beside ``path`` to write
    ``FEATURES_FILE`` and ``META_FILE`` into; on a clean exit both get their integrity records
    (size and sha256, checked by readers) and the directory is renamed to ``path`` in one
    step, so concurrent writers (Tune trials, nodes) never see half a cache. If another
    writer finished ``path`` first, theirs is kept (same key = same content). The temporary
    directory is removed in every case."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        yield tmp
        record(tmp / FEATURES_FILE)
        record(tmp / META_FILE)
        try:
            os.rename(tmp, path)
        except OSError:
            if not (path / META_FILE).exists():
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def write_cache(path: str | Path, table: np.ndarray, meta: dict[str, Any]) -> Path:
    """Write a cache atomically (``staged_cache``); if the directory already exists it is
    kept (same key = same content)."""
    path = Path(path)
    if (path / META_FILE).exists():
        return path
    with staged_cache(path) as tmp:
        np.save(tmp / FEATURES_FILE, np.asarray(table, dtype=np.float32))
        (tmp / META_FILE).write_text(json.dumps(meta, indent=2, default=str))
    return path
