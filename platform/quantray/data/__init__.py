"""Data layer: load and validate daily bars, 11 causal features, splits, windows, episodes.

Importing this package never imports Ray (a GPU box with bare PyTorch can use it).
"""

from quantray.data.errors import DataError
from quantray.data.features import (
    FEATURE_NAMES,
    FEATURE_WARMUP,
    N_FEATURES,
    FeatureNormalizer,
    make_features,
)
from quantray.data.load import data_hash, load_bars, load_bars_with_reports
from quantray.data.panel import Panel
from quantray.data.sample import CSI300_PATH, SAMPLE_PATH, US_STOCKS_PATH, load_sample
from quantray.data.splits import Splits, episode_rows, make_splits, sample_rows
from quantray.data.task import Task, load_task
from quantray.data.validate import SymbolReport
from quantray.data.windows import Episodes, WindowDataset

__all__ = [
    "CSI300_PATH",
    "FEATURE_NAMES",
    "FEATURE_WARMUP",
    "N_FEATURES",
    "SAMPLE_PATH",
    "US_STOCKS_PATH",
    "DataError",
    "Episodes",
    "FeatureNormalizer",
    "Panel",
    "Splits",
    "SymbolReport",
    "Task",
    "WindowDataset",
    "data_hash",
    "episode_rows",
    "load_bars",
    "load_bars_with_reports",
    "load_sample",
    "load_task",
    "make_features",
    "make_splits",
    "sample_rows",
]
