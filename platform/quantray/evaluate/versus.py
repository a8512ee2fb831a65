"""One method against the baselines on a fixed episode list, as rows and a Markdown table.

The scripts that train one strategy (train_strategy, train_rl) end with this table on the
validation episodes; the comparison report (``evaluate.report``) and the Tune summary build
richer tables (CIs, regimes) from the same ``evaluate_positions`` rows.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from quantray.accounting import limit_flags
from quantray.config import CostConfig
from quantray.data import Episodes, Task
from quantray.evaluate.baselines import evaluate_baselines
from quantray.evaluate.metrics import evaluate_positions

SUMMARY_COLUMNS = ("total_return", "excess_return", "sharpe", "max_drawdown", "turnover")
MOMENTUM_LOOKBACK = 20


def versus_baselines(
    name: str,
    positions: np.ndarray,
    task: Task,
    episodes: Episodes,
    cost: CostConfig,
    *,
    seed: int = 0,
) -> pd.DataFrame:
    """Per-episode rows of ``name`` (positions [n, E]) and every baseline, same accounting."""
    up, down = limit_flags(episodes.prev_returns, cost.price_limit)
    method = evaluate_positions(
        name, positions, episodes.next_returns, cost, limit_up=up, limit_down=down
    )
    baselines = evaluate_baselines(
        episodes.next_returns,
        task.realised_returns(episodes, MOMENTUM_LOOKBACK),
        cost,
        limit_up=up,
        limit_down=down,
        momentum_window=MOMENTUM_LOOKBACK,
        seed=seed,
    )
    return pd.concat([method, baselines], ignore_index=True)


def markdown_table(rows: pd.DataFrame) -> list[str]:
    """Per-method means of the summary metrics as Markdown lines."""
    table = rows.groupby("method", sort=False)[list(SUMMARY_COLUMNS)].mean()
    return [
        "| method | return | excess vs buy&hold | Sharpe | max drawdown | turnover |",
        "|---|---|---|---|---|---|",
        *[
            f"| {m} | {r.total_return:+.4f} | {r.excess_return:+.4f} | {r.sharpe:.3f} | "
            f"{r.max_drawdown:.3f} | {r.turnover:.3f} |"
            for m, r in table.iterrows()
        ],
    ]
