"""What the agent sees on day t is unchanged when the bars after t change (end to end)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from quantray.data import load_task
from quantray.data.synthetic import generate
from quantray.envs import TradingEnv

E = 20
PRICE_COLUMNS = ["open", "high", "low", "close"]


def _rewrite_after(bars: dict[str, pd.DataFrame], cut: pd.Timestamp) -> dict[str, pd.DataFrame]:
    """Same bars up to ``cut``; after it, another market continued from the same close."""
    other = generate(n_symbols=len(bars), n_days=len(next(iter(bars.values()))), seed=99)
    out = {}
    for (symbol, frame), alt in zip(bars.items(), other.values(), strict=True):
        frame = frame.copy()
        later = frame.index > cut
        scale = frame.loc[cut, "close"] / alt.loc[cut, "close"]
        frame.loc[later, PRICE_COLUMNS] = alt.loc[later, PRICE_COLUMNS].to_numpy() * scale
        frame.loc[later, "volume"] = alt.loc[later, "volume"].to_numpy()
        out[symbol] = frame
    return out


def _play(task, episode: int) -> tuple[np.ndarray, np.ndarray]:
    env = TradingEnv(task=task, split="test", mode="eval", include_episode_return=True)
    obs, _ = env.reset(seed=0, options={"episode_index": episode})
    observations, rewards = [obs.copy()], []
    for a in np.random.default_rng(0).integers(0, 11, E):
        obs, reward, *_ = env.step(a)
        observations.append(obs.copy())
        rewards.append(reward)
    return np.stack(observations), np.asarray(rewards)  # [E+1, K], [E]


def test_observations_up_to_day_t_ignore_bars_after_t():
    bars = generate(n_symbols=3, n_days=900, seed=7)
    base = load_task(bars=bars)
    episode = 5
    start = int(base.episodes("test", stride=E).starts[episode])
    m = 8  # the bars change after day m of this episode (a test-period date)
    cut = pd.Timestamp(base.panel.dates[start + m])
    changed = load_task(bars=_rewrite_after(bars, cut))
    # Same calendar, and normalisation fitted on the (unchanged) training period.
    np.testing.assert_array_equal(
        changed.episodes("test", stride=E).starts, base.episodes("test", stride=E).starts
    )

    obs_a, rew_a = _play(base, episode)
    obs_b, rew_b = _play(changed, episode)
    # Days 0..m: features, position, day and episode return so far are all identical.
    np.testing.assert_array_equal(obs_a[: m + 1], obs_b[: m + 1])
    # Rewards of days 0..m-1 earn r_1..r_m, all known by day m's close.
    np.testing.assert_array_equal(rew_a[:m], rew_b[:m])
    # The change is visible from day m+1 on (so the comparison above can fail).
    assert not np.array_equal(obs_a[m + 1], obs_b[m + 1])
    assert rew_a[m] != rew_b[m]
