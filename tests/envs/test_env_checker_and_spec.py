"""Gymnasium's env checker, the observation layout, episode end and argument errors."""

from __future__ import annotations

import subprocess
import sys
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import quantray.envs
from quantray.config import ConfigError
from quantray.envs import TradingEnv, TradingVectorEnv

E = 20


def _check(env: gym.Env) -> None:
    with warnings.catch_warnings():
        # Frozen features and the episode return are unbounded: the checker's "-inf is
        # probably too low" hint is expected; every other warning still shows.
        warnings.filterwarnings("ignore", message=".*(minimum|maximum) value is .*infinity")
        check_env(env)


@pytest.mark.parametrize("action_type", ["discrete", "continuous"])
@pytest.mark.parametrize("extras", [{}, {"reward": "shaped", "include_episode_return": True}])
def test_env_checker_passes(small_task, action_type, extras):
    env = gym.make(
        "quantray/TradingEnv-v0",
        task=small_task,
        action_type=action_type,
        cost="cn_a_share",
        **extras,
    )
    _check(env.unwrapped)


def test_default_make_on_bundled_data():
    env = gym.make("quantray/TradingEnv-v0")
    _check(env.unwrapped)
    obs, info = env.reset(seed=0)
    assert env.observation_space.contains(obs)
    assert obs.shape == (13,) and env.action_space == gym.spaces.Discrete(11)
    assert info["symbol"] in ("MSFT", "NASDAQ", "SP500")
    # A second make reuses the memoised Task: no reload.
    again = gym.make("quantray/TradingEnv-v0")
    assert again.unwrapped.task is env.unwrapped.task


def test_make_vec_uses_the_vector_entry_point(small_task):
    envs = gym.make_vec("quantray/TradingEnv-v0", num_envs=8, task=small_task)
    assert isinstance(envs.unwrapped, TradingVectorEnv)
    assert envs.metadata["autoreset_mode"] == gym.vector.AutoresetMode.NEXT_STEP
    obs, _ = envs.reset(seed=0)
    assert obs.shape == (8, 13) and envs.observation_space.contains(obs)


def test_registration_is_idempotent():
    import importlib

    spec = gym.spec("quantray/TradingEnv-v0")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # gymnasium warns on re-registering an id
        importlib.reload(quantray.envs)
    assert gym.spec("quantray/TradingEnv-v0").entry_point == spec.entry_point


def test_observation_layout_and_truncation(small_task):
    env = TradingEnv(task=small_task, cost="us_equity", include_episode_return=True)
    D = small_task.dim
    obs, info = env.reset(seed=1)
    start = info["start_row"]
    np.testing.assert_array_equal(obs[:D], small_task.table[start])
    assert obs[D] == 0.0 and obs[D + 1] == 0.0 and obs[D + 2] == 0.0
    equity = 1.0
    rng = np.random.default_rng(0)
    for t in range(E):
        obs, _, terminated, truncated, info = env.step(int(rng.integers(11)))
        equity *= 1.0 + info["net_return"]
        np.testing.assert_array_equal(obs[:D], small_task.table[start + t + 1])
        assert obs[D] == np.float32(info["executed"])  # the position now held
        assert obs[D + 1] == np.float32((t + 1) / E)
        assert obs[D + 2] == pytest.approx(equity - 1.0, rel=1e-6)
        assert info["day"] == t and info["date"] == small_task.panel.dates[start + t]
        assert not terminated and truncated == (t == E - 1)
    assert obs[D + 1] == 1.0  # the final observation is day E
    with pytest.raises(RuntimeError, match="reset"):
        env.step(0)


def test_eval_mode_replays_the_stride_e_list_in_order(small_task):
    env = TradingEnv(task=small_task, split="test", mode="eval")
    starts = small_task.episodes("test", stride=E).starts
    assert env.n_episodes == len(starts) == 12
    seen = [env.reset(seed=0)[1]["start_row"]]
    seen += [env.reset()[1]["start_row"] for _ in range(len(starts))]
    np.testing.assert_array_equal(seen, np.r_[starts, starts[0]])  # in order, then cycles
    # options["episode_index"] plays one episode without moving the replay position.
    assert env.reset(options={"episode_index": 5})[1]["start_row"] == starts[5]
    assert env.reset()[1]["start_row"] == starts[1]
    assert env.reset(seed=0)[1]["episode_index"] == 0  # a seed rewinds the list


def test_episode_indices_fix_the_replay_list(small_task):
    env = TradingEnv(task=small_task, split="valid", episode_indices=[7, 3, 300])
    got = [env.reset(seed=4)[1]["episode_index"]] + [
        env.reset()[1]["episode_index"] for _ in range(3)
    ]
    assert got == [7, 3, 300, 7]


def test_train_mode_draws_from_the_whole_split(small_task):
    env = TradingEnv(task=small_task, split="train")
    episodes = {env.reset(seed=0)[1]["episode_index"]} | {
        env.reset()[1]["episode_index"] for _ in range(400)
    }
    assert len(episodes) > 250  # uniform over 1,233 episodes, with replacement
    assert max(episodes) < env.n_episodes == len(small_task.episodes("train"))


def test_continuous_actions_are_clipped_and_nan_rejected(small_task):
    env = TradingEnv(task=small_task, action_type="continuous")
    env.reset(seed=0)
    _, _, _, _, info = env.step(np.array([1.7], dtype=np.float32))
    assert info["position"] == 1.0
    _, _, _, _, info = env.step(np.array([-0.2], dtype=np.float32))
    assert info["position"] == 0.0
    with pytest.raises(ValueError, match="NaN"):
        env.step(np.array([np.nan], dtype=np.float32))


def test_bad_arguments_say_what_to_do(small_task):
    env = TradingEnv(task=small_task)
    env.reset(seed=0)
    for bad in (11, -1, 2.5):
        with pytest.raises(ValueError, match=r"outside Discrete\(11\)"):
            env.step(bad)
    with pytest.raises(ValueError, match='Did you mean "continuous"'):
        TradingEnv(task=small_task, action_type="continous")
    with pytest.raises(ValueError, match="expected one of train, valid, test"):
        TradingEnv(task=small_task, split="validation")
    with pytest.raises(ConfigError, match="us_equity"):
        TradingEnv(task=small_task, cost="us-equity")
    with pytest.raises(ValueError, match="either task= or the paths"):
        TradingEnv(task=small_task, data="somewhere.csv")
    with pytest.raises(ValueError, match=r"valid indices 0\.\.182"):
        TradingEnv(task=small_task, split="test", episode_indices=[183])
    with pytest.raises(ValueError, match="risk_weight"):
        TradingEnv(task=small_task, reward="shaped", risk_weight=-1.0)


def test_env_never_imports_ray():
    code = (
        "import sys, gymnasium, quantray.envs\n"
        "env = gymnasium.make('quantray/TradingEnv-v0'); env.reset(seed=0); env.step(3)\n"
        "envs = gymnasium.make_vec('quantray/TradingEnv-v0', num_envs=4); envs.reset(seed=0)\n"
        "bad = [m for m in sys.modules if m.split('.')[0] == 'ray'\n"
        "       or m.startswith(('quantray.rl', 'quantray.train'))]\n"
        "print(bad)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_info_leaves_the_episode_key_to_episode_statistics():
    """Gymnasium's RecordEpisodeStatistics (and SB3's Monitor) own info["episode"]."""
    import gymnasium as gym

    env = gym.wrappers.RecordEpisodeStatistics(gym.make("quantray/TradingEnv-v0"))
    _, info = env.reset(seed=0)
    assert "episode" not in info and "episode_index" in info
    done = False
    while not done:
        _, _, terminated, truncated, info = env.step(env.action_space.sample())
        done = terminated or truncated
    assert set(info["episode"]) >= {"r", "l"} and info["episode"]["l"] == 20


def test_both_env_families_check_shared_arguments_alike(small_task):
    """The argument checks the single-asset and portfolio envs share (one definition each)
    name the env and the offending field; the positional ``data`` counts as a path."""
    from quantray.envs import PortfolioEnv, PortfolioVectorEnv

    with pytest.raises(ValueError, match="TradingEnv: got task= and also data; "):
        TradingEnv("somewhere.csv", task=small_task)
    with pytest.raises(ValueError, match="TradingEnv: got task= and also features, split_config"):
        TradingVectorEnv(2, task=small_task, features="cache", split_config={})
    portfolio_task = PortfolioEnv().task  # the bundled sample's universe
    with pytest.raises(ValueError, match="PortfolioEnv: got task= and also universe; "):
        PortfolioVectorEnv(2, task=portfolio_task, universe=["MSFT", "NASDAQ"])
    assert PortfolioVectorEnv(3, task=portfolio_task).task is portfolio_task
    for vector_env in (TradingVectorEnv, PortfolioVectorEnv):
        for bad in (0, 2.0, "4"):
            with pytest.raises(ValueError, match=f"{vector_env.__name__}: num_envs must be an "):
                vector_env(bad)
