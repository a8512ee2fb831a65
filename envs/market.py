"""The market an env plays: a Task's episodes on one split, per-row returns and trade flags.

``Market`` is the read-only state shared by ``TradingEnv`` and ``TradingVectorEnv``: which
episodes exist (the same lists stage 2 and the evaluation use), which of them are replayed in
which order, and per-row arrays (next-day return, trade permissions, date, symbol) over the
panel rows those episodes touch, gathered by row index at every step. The trade flags are
the panel's (``Panel.trade_flags``), the same ``Episodes.trade_flags`` gives the evaluation. The default Task
(bundled data, raw features) is loaded once per process and shared, so
``gymnasium.make("quantray/TradingEnv-v0")`` costs milliseconds after the first call.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from quantray.config import CostConfig, DataConfig, EnvSettings, SplitConfig
from quantray.data import Task, load_task
from quantray.data.splits import episode_rows


@functools.lru_cache(maxsize=8)
def _cached_task(
    data: str | None,
    features: str | None,
    data_config: DataConfig | None,
    split_config: SplitConfig | None,
) -> Task:
    task = load_task(data, features=features, data_config=data_config, split_config=split_config)
    # Envs gather whole rows of the table every step; the raw-feature table comes out of
    # pandas column-major, where a row gather is ~5x slower. C order costs one copy here
    # (none when the table already is C-contiguous, e.g. a feature cache).
    return dataclasses.replace(task, table=np.ascontiguousarray(task.table))


def shared_task(
    data: str | Path | None = None,
    features: str | Path | None = None,
    data_config: DataConfig | None = None,
    split_config: SplitConfig | None = None,
) -> Task:
    """``load_task`` memoised per process by (data path, feature cache path, configs).

    Every env made with the same arguments shares one Task (one feature table in memory).
    Files are not re-read when they change on disk; call ``clear_task_cache()`` for that.
    """
    data_key = None if data is None else str(Path(data).expanduser().resolve())
    features_key = None if features is None else str(Path(features).expanduser().resolve())
    return _cached_task(data_key, features_key, data_config, split_config)


def clear_task_cache() -> None:
    """Forget the Tasks memoised by ``shared_task`` (the next env reloads its data)."""
    _cached_task.cache_clear()


@dataclass(frozen=True, eq=False)
class Market:
    """Episodes of one split plus the per-row arrays a step gathers from.

    Per-row arrays cover only the panel rows the episode list touches (``rows``), so an env
    holds O(rows of its split), not O(panel). Rows of one symbol are contiguous and
    date-ordered in the panel (``quantray.data.Panel``) and every episode's E+1 rows are in
    ``rows``, so episode k's day t is local row ``first[k] + t`` (t = 0..E; day E is the
    observation after the last decision, still the same symbol).
    """

    task: Task
    split: str
    mode: str
    cost: CostConfig
    starts: np.ndarray
    """[n] int64 panel row of each listed episode's first decision day: the list episode
    indices refer to, every start (train) or the stride-E list (eval)."""
    schedule: np.ndarray | None
    """[M] int64 episode indices replayed in order (cycling), or None: drawn uniformly."""
    rows: np.ndarray
    """[R] int64 sorted panel rows used by the episodes (local row i is panel row rows[i])."""
    first: np.ndarray
    """[n] int64 local row of each episode's first decision day."""
    next_returns: np.ndarray
    """[R] float64 r_{t+1} of each local row."""
    can_buy: np.ndarray | None
    """[R] bool: an order at the row's close may raise the position (False: limit-up close
    under an enforced limit, or a suspended day); None when every row allows it."""
    can_sell: np.ndarray | None
    """[R] bool: an order at the row's close may lower the position; None when every row
    allows it."""
    episode_blocked: np.ndarray | None
    """[n] bool: some decision day of listed episode k blocks a trade; None when none does."""
    dates: np.ndarray
    """[R] datetime64[D] date of each local row."""
    symbols: np.ndarray
    """[R] str symbol of each local row."""

    @property
    def dim(self) -> int:
        """D: feature width."""
        return int(self.task.table.shape[1])

    @property
    def episode_len(self) -> int:
        """E: decisions per episode."""
        return self.task.data.episode_len

    @property
    def n_episodes(self) -> int:
        """Episodes in the list (``episode_index`` in infos indexes it)."""
        return len(self.starts)

    def features(self, local_rows: np.ndarray) -> np.ndarray:
        """Features [..., D] of local rows [...] (gathered from the shared panel table)."""
        return self.task.table[self.rows[local_rows]]  # [...] -> [..., D]

    @classmethod
    def build(
        cls,
        task: Task,
        split: str,
        mode: str,
        cost: CostConfig,
        episode_indices: np.ndarray | list[int] | None,
    ) -> Market:
        """Select the split's episode list for ``mode`` and gather the per-row arrays."""
        # split and mode are checked by EnvSettings (quantray.config.env).
        starts, schedule = _episode_list(task, split, mode, episode_indices)
        arrays = _row_arrays(task, starts, cost)
        return cls(task, split, mode, cost, starts=starts, schedule=schedule, **arrays)


def _episode_list(
    task: Task, split: str, mode: str, episode_indices: np.ndarray | list[int] | None
) -> tuple[np.ndarray, np.ndarray | None]:
    """(``Market.starts``, ``Market.schedule``): the split's episode starts for ``mode`` and
    the replay list (``episode_indices``, checked; every episode in order for "eval"; None:
    uniform draws)."""
    E = task.data.episode_len
    # Only the start rows: the per-row arrays are gathered once for the split, never per
    # episode ([n, E] copies of returns would be ~15x this env's own arrays).
    starts = episode_rows(
        task.panel, task.splits, split, task.data, stride=1 if mode == "train" else E
    )
    if len(starts) == 0:
        raise ValueError(
            f"TradingEnv: the {split} split has no {E}-day episodes ({task.describe()}); "
            "each episode needs a full stage-1 window before it and E+1 days inside the "
            "split. Use more data or move the split boundaries (SplitConfig)."
        )
    schedule = None
    if episode_indices is not None:
        schedule = np.asarray(episode_indices, dtype=np.int64).reshape(-1)  # [M]
        if schedule.size == 0:
            raise ValueError("TradingEnv: episode_indices is empty; give at least one index")
        bad = (schedule < 0) | (schedule >= len(starts))
        if bad.any():
            raise ValueError(
                f"TradingEnv: episode_indices contains {int(schedule[bad][0])}, but the "
                f"{split} split has {len(starts)} episodes in mode={mode!r} (valid "
                f"indices 0..{len(starts) - 1})"
            )
    elif mode == "eval":
        schedule = np.arange(len(starts), dtype=np.int64)
    return starts, schedule


def _row_arrays(task: Task, starts: np.ndarray, cost: CostConfig) -> dict[str, np.ndarray | None]:
    """The per-row fields of ``Market`` (``rows`` .. ``symbols``, by name) over the panel rows
    the episodes starting at ``starts`` [n] touch."""
    panel, E = task.panel, task.data.episode_len
    # Rows covered by some episode's days 0..E, in O(N): +1 at each start, -1 after its end.
    coverage = np.zeros(panel.n_rows + 1, dtype=np.int64)
    np.add.at(coverage, starts, 1)
    np.add.at(coverage, starts + E + 1, -1)
    covered = np.cumsum(coverage[:-1]) > 0  # [N]
    rows = np.flatnonzero(covered)  # [R]
    first = np.searchsorted(rows, starts)  # [n]
    # The panel's trade permissions (suspensions, enforced price limits), computed once
    # per cost model and shared by every env on this Task.
    can_buy, can_sell = (flags[rows] for flags in panel.trade_flags(cost))
    blocked = ~(can_buy & can_sell)  # [R]
    episode_blocked = None
    if blocked.any():
        # [n, E] local rows of every listed episode's decision days -> any blocked day.
        episode_blocked = blocked[first[:, None] + np.arange(E)].any(axis=1)
    else:
        can_buy = can_sell = None
    return dict(
        rows=rows,
        first=first,
        next_returns=panel.next_returns()[rows],
        can_buy=can_buy,
        can_sell=can_sell,
        episode_blocked=episode_blocked,
        dates=panel.dates[rows],
        symbols=np.asarray(panel.symbols)[panel.symbol_id[rows]],
    )


def make_market(settings: EnvSettings, task: Task | None = None) -> Market:
    """Resolve the env settings (and a shared Task, if given) into a ``Market``."""
    s = settings
    if task is None:
        task = shared_task(s.data, s.features, s.data_config, s.split_config)
    else:
        s.check_prebuilt_task()
    return Market.build(task, s.split, s.mode, s.cost_config(), s.episode_indices)
