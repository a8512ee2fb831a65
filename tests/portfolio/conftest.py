"""Portfolio tests' small universes with uneven histories (built once per session)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from quantray.config import DataConfig, SplitConfig
from quantray.data.synthetic import generate
from quantray.data.universe import PortfolioTask, load_portfolio_task

WINDOW = 30


def uneven_bars(seed: int = 11, n_days: int = 700) -> dict[str, pd.DataFrame]:
    """4 assets: SYN000 full history, SYN001 lists on day 200, SYN002 delists after day 450,
    SYN003 skips every 7th day (its own holidays)."""
    bars = {s: f.drop(columns="regime") for s, f in generate(4, n_days, seed=seed).items()}
    bars["SYN001"] = bars["SYN001"].iloc[200:]
    bars["SYN002"] = bars["SYN002"].iloc[:451]
    keep = np.arange(n_days) % 7 != 3
    bars["SYN003"] = bars["SYN003"].iloc[keep]
    return bars


def uneven_task(bars: dict[str, pd.DataFrame] | None = None) -> PortfolioTask:
    return load_portfolio_task(
        bars=uneven_bars() if bars is None else bars,
        data_config=DataConfig(window=WINDOW),
        split_config=SplitConfig(embargo=27),
    )


@pytest.fixture(scope="session")
def uneven() -> PortfolioTask:
    return uneven_task()


@pytest.fixture(scope="session")
def even() -> PortfolioTask:
    """4 assets with the same full history (every asset available on every episode day)."""
    bars = {s: f.drop(columns="regime") for s, f in generate(4, 700, seed=21).items()}
    return uneven_task(bars)
