"""Seeded rollouts repeat exactly; the vector env equals N single envs step by step."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from quantray.envs import TradingEnv, TradingVectorEnv

E = 20


def _rollout(env: TradingEnv, seed: int, n_steps: int) -> tuple[list, list, list]:
    rng = np.random.default_rng(123)
    obs, info = env.reset(seed=seed)
    observations, rewards, episodes = [obs.copy()], [], [info["episode_index"]]
    for _ in range(n_steps):
        obs, reward, _, truncated, info = env.step(int(rng.integers(11)))
        observations.append(obs.copy())
        rewards.append(reward)
        if truncated:
            obs, info = env.reset()
            observations.append(obs.copy())
            episodes.append(info["episode_index"])
    return observations, rewards, episodes


def test_equal_seeds_give_identical_rollouts(small_task):
    kwargs = dict(task=small_task, cost="cn_a_share", include_episode_return=True)
    a = _rollout(TradingEnv(**kwargs), seed=11, n_steps=5 * E)
    b = _rollout(TradingEnv(**kwargs), seed=11, n_steps=5 * E)
    np.testing.assert_array_equal(np.stack(a[0]), np.stack(b[0]))
    assert a[1] == b[1] and a[2] == b[2]
    # Re-seeding the SAME env replays it too, even after it drew other episodes.
    env = TradingEnv(**kwargs)
    _rollout(env, seed=99, n_steps=3 * E)
    c = _rollout(env, seed=11, n_steps=5 * E)
    assert c[1] == a[1] and c[2] == a[2]
    # A different seed plays different episodes (6 draws from 1,233).
    assert _rollout(TradingEnv(**kwargs), seed=12, n_steps=5 * E)[2] != a[2]


def test_vector_env_seeded_rollouts_repeat(small_task):
    def run(seed):
        envs = TradingVectorEnv(16, task=small_task, cost="us_equity")
        rng = np.random.default_rng(0)
        obs, _ = envs.reset(seed=seed)
        out = [obs]
        for _ in range(2 * E + 3):
            obs, reward, *_ = envs.step(rng.integers(0, 11, size=16))
            out += [obs, reward]
        return out

    for x, y in zip(run(5), run(5), strict=True):
        np.testing.assert_array_equal(x, y)


def _pair(task, n_envs, schedule, **kwargs):
    """Our vector env and Gymnasium's SyncVectorEnv over single envs playing the same lists."""
    vector = TradingVectorEnv(n_envs, task=task, episode_indices=schedule, **kwargs)
    sync = gym.vector.SyncVectorEnv(
        [
            (lambda i=i: TradingEnv(task=task, episode_indices=schedule[i::n_envs], **kwargs))
            for i in range(n_envs)
        ],
        autoreset_mode=gym.vector.AutoresetMode.NEXT_STEP,
    )
    return vector, sync


def _assert_same_step(ours, reference, step):
    obs, rew, term, trunc, info = ours
    obs_r, rew_r, term_r, trunc_r, info_r = reference
    np.testing.assert_array_equal(obs, obs_r, err_msg=f"obs at step {step}")
    np.testing.assert_array_equal(rew, rew_r, err_msg=f"reward at step {step}")
    np.testing.assert_array_equal(term, term_r)
    np.testing.assert_array_equal(trunc, trunc_r, err_msg=f"truncated at step {step}")
    np.testing.assert_array_equal(info["episode_index"], info_r["episode_index"])
    for key in ("executed", "cost", "next_return", "net_return", "start_row", "symbol"):
        assert (key in info) == (key in info_r), key
        if key in info:
            mask = info_r["_" + key]
            np.testing.assert_array_equal(info["_" + key], mask)
            np.testing.assert_array_equal(info[key][mask], info_r[key][mask], err_msg=key)


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(cost="cn_a_share", include_episode_return=True),
        dict(cost="us_equity", reward="shaped", opportunity_weight=0.3),
        dict(cost="cn_a_share", action_type="continuous"),
    ],
    ids=["limits+return", "shaped", "continuous"],
)
def test_vector_env_equals_sync_vector_of_single_envs(limit_task, kwargs):
    n_envs = 4
    schedule = np.random.default_rng(1).choice(len(limit_task.episodes("train")), 12, False)
    vector, sync = _pair(limit_task, n_envs, schedule, **kwargs)
    obs, _ = vector.reset(seed=0)
    obs_r, _ = sync.reset(seed=0)
    np.testing.assert_array_equal(obs, obs_r)
    vector.action_space.seed(3)
    limited = 0
    for step in range(4 * (E + 1)):  # four episodes each, including the NEXT_STEP resets
        actions = vector.action_space.sample()
        ours, reference = vector.step(actions), sync.step(actions)
        _assert_same_step(ours, reference, step)
        if "executed" in ours[4]:
            wanted = ours[4]["position"]
            limited += int((ours[4]["executed"] != wanted)[ours[4]["_executed"]].sum())
    if kwargs["cost"] == "cn_a_share":
        assert limited > 0  # the price-limit rule actually bound on some days


def test_partial_reset_desynchronises_like_sync_vector_env(limit_task):
    n_envs = 4
    schedule = np.arange(8) * 37
    vector, sync = _pair(limit_task, n_envs, schedule, cost="cn_a_share")
    vector.reset(seed=0)
    sync.reset(seed=0)
    rng = np.random.default_rng(5)
    for step in range(3 * E):
        if step == 7:  # restart sub-envs 1 and 2 mid-episode: later resets no longer coincide
            mask = np.array([False, True, True, False])
            ours, reference = (
                vector.reset(options={"reset_mask": mask}),
                sync.reset(options={"reset_mask": mask}),
            )
            np.testing.assert_array_equal(ours[0], reference[0])
        actions = rng.integers(0, 11, size=n_envs)
        _assert_same_step(vector.step(actions), sync.step(actions), step)


def test_next_step_autoreset_semantics(small_task):
    envs = TradingVectorEnv(3, task=small_task)
    D = small_task.dim
    envs.reset(seed=0)
    for _ in range(E):
        obs, reward, terminated, truncated, info = envs.step(np.full(3, 10))
    assert truncated.all() and not terminated.any()
    assert (obs[:, D] == 1.0).all() and (obs[:, D + 1] == 1.0).all()  # final obs: day E
    # The next call starts new episodes: actions ignored, reward 0, flags False, day 0, flat.
    obs, reward, terminated, truncated, info = envs.step(np.full(3, 10))
    assert (reward == 0).all() and not truncated.any() and not terminated.any()
    assert (obs[:, D] == 0.0).all() and (obs[:, D + 1] == 0.0).all()
    assert "position" not in info and info["_symbol"].all() and (info["day"] == 0).all()
    np.testing.assert_array_equal(obs[:, :D], small_task.table[info["start_row"]])
    obs, reward, *_, info = envs.step(np.full(3, 10))
    assert (info["day"] == 0).all() and (info["executed"] == 1.0).all()


def test_vector_env_rejects_bad_actions(small_task):
    envs = TradingVectorEnv(4, task=small_task)
    with pytest.raises(RuntimeError, match="reset"):
        envs.step(np.zeros(4, dtype=np.int64))
    envs.reset(seed=0)
    for bad in (np.array([0, 1, 2, 11]), np.array([0, -1, 2, 3]), np.zeros(3, dtype=np.int64)):
        with pytest.raises(ValueError, match="actions"):
            envs.step(bad)
