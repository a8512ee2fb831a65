"""Episodes prepared for ``TradingEnv`` in blocks: observation rows and per-day inputs.

A single env spends most of its time in per-call NumPy overhead, not arithmetic. So instead
of gathering one episode per ``reset`` the env prepares B upcoming episodes at once:

* ``obs`` [B, E+1, K]: the observation of every day with the action-independent columns
  (features, day fraction) filled in; a step writes the position (and episode return) into
  row t+1 and hands that row out. Each row is handed out exactly once and never written
  again, so returning it without a copy is safe.
* The accounting inputs of every day as Python scalars (``.tolist()``): a step does Python
  float arithmetic on them, which is ~10x cheaper than NumPy on scalars and gives the same
  IEEE results.

Axis legend: B episodes in the block, E days, K observation width, D features.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from quantray.envs.market import Market


@dataclass(frozen=True, eq=False)
class EpisodeBlock:
    """B episodes ready to play; index the fields with the episode's slot j in 0..B-1."""

    episodes: list[int]
    """[B] indices into the market's episode list."""
    start_rows: list[int]
    """[B] panel row of each episode's first decision day."""
    symbols: list[str]
    """[B] symbol of each episode."""
    obs: np.ndarray
    """[B, E+1, K] float32 observations, position / episode-return columns still 0."""
    next_returns: list[list[float]]
    """[B][E] r_{t+1} of each decision day."""
    dates: np.ndarray
    """[B, E] datetime64[D] decision days."""
    can_buy: list[list[bool | None]]
    """[B][E] False on a day an order may not raise the position (``Market.can_buy``), None
    on a day it fills (``step_np``'s convention: None = fills)."""
    can_sell: list[list[bool | None]]
    """[B][E] False on a day an order may not lower the position, else None."""

    def __len__(self) -> int:
        return len(self.episodes)

    @classmethod
    def prepare(
        cls, market: Market, episodes: np.ndarray, *, obs_size: int, day_fraction: np.ndarray
    ) -> EpisodeBlock:
        """Gather ``episodes`` [B].

        Args:
            market: where the rows, returns and trade flags come from.
            episodes: [B] indices into the market's episode list (``market.starts``).
            obs_size: K, the observation width (D + 2 or D + 3).
            day_fraction: [E+1] float32 t / E.
        """
        E, D = market.episode_len, market.dim
        B = len(episodes)
        first = market.first[episodes]  # [B] local row of each day 0
        rows = first[:, None] + np.arange(E + 1)  # [B, E+1] local rows
        obs = np.zeros((B, E + 1, obs_size), dtype=np.float32)
        obs[:, :, :D] = market.features(rows)  # [B, E+1] rows -> [B, E+1, D]
        obs[:, :, D + 1] = day_fraction
        decision_rows = rows[:, :E]  # [B, E]
        fills: list[bool | None] = [None] * E  # every order fills; shared, never written
        can_buy, can_sell = [fills] * B, [fills] * B
        if market.episode_blocked is not None:
            blocked = market.episode_blocked[episodes]  # [B]
            for j in np.flatnonzero(blocked).tolist():
                can_buy[j] = _false_or_none(market.can_buy[decision_rows[j]])
                can_sell[j] = _false_or_none(market.can_sell[decision_rows[j]])
        return cls(
            episodes=episodes.tolist(),
            start_rows=market.starts[episodes].tolist(),
            symbols=market.symbols[first].tolist(),
            obs=obs,
            next_returns=market.next_returns[decision_rows].tolist(),
            dates=market.dates[decision_rows],
            can_buy=can_buy,
            can_sell=can_sell,
        )


def _false_or_none(flags: np.ndarray) -> list[bool | None]:
    """[E] bool -> [False or None]: ``step_np`` treats None as "the order fills"."""
    return [None if flag else False for flag in flags.tolist()]
