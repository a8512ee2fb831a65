"""PortfolioEnv / PortfolioVectorEnv: registration, the env checkers, rewards equal to the
accounting on the same weights, weight invariants on uneven histories, single == vector."""

from __future__ import annotations

import gymnasium
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import quantray.envs
from quantray import portfolio_accounting as pa
from quantray.config import CostConfig
from quantray.data.universe import PortfolioTask
from quantray.envs import PortfolioEnv, PortfolioVectorEnv


def test_registered_and_works_with_no_arguments() -> None:
    env = gymnasium.make(quantray.envs.PORTFOLIO_ENV_ID)
    obs, _ = env.reset(seed=0)
    assert env.observation_space.contains(obs)
    n = len(env.unwrapped.task.symbols)
    assert env.action_space.shape == (n + 1,)
    vec = gymnasium.make_vec(
        quantray.envs.PORTFOLIO_ENV_ID, num_envs=4, vectorization_mode="vector_entry_point"
    )
    assert isinstance(vec, PortfolioVectorEnv)
    vec.close()


def test_gymnasium_checker(uneven: PortfolioTask) -> None:
    check_env(PortfolioEnv(task=uneven, cost="cn_a_share", cap=0.5), skip_render_check=True)


def test_stable_baselines3_checker(uneven: PortfolioTask) -> None:
    sb3_checker = pytest.importorskip("stable_baselines3.common.env_checker")
    sb3_checker.check_env(PortfolioEnv(task=uneven, cost="us_equity"), warn=True)


def _rollout(env: PortfolioEnv, seed: int, k: int):
    rng = np.random.default_rng(seed)
    obs, _ = env.reset(options={"episode_index": k})
    actions, rewards, targets, masks, executed = [], [], [], [], []
    done = False
    while not done:
        a = rng.uniform(-1, 1, size=env.action_space.shape).astype(np.float32)
        masks.append(obs["mask"].astype(bool))
        obs, r, term, trunc, info = env.step(a)
        done = term or trunc
        actions.append(a)
        rewards.append(r)
        targets.append(info["target_weights"])
        executed.append(info["executed_weights"])
        assert env.observation_space.contains(obs)
        assert obs["weights"].sum() == pytest.approx(1.0, abs=1e-5)
    return (np.array(x) for x in (actions, rewards, targets, masks, executed))


@pytest.mark.parametrize("cost", ["none", "cn_a_share"])
def test_rewards_equal_the_accounting_and_weights_are_legal(
    uneven: PortfolioTask, cost: str
) -> None:
    env = PortfolioEnv(task=uneven, cost=cost, cap=0.6, split="train", mode="eval")
    eps = uneven.episodes("train", stride=uneven.episode_len)
    can_buy, can_sell = eps.fill_flags(CostConfig.preset(cost))
    saw_absent = False
    for k in range(0, len(eps), 3):
        _, rewards, targets, masks, executed = _rollout(env, seed=k, k=k)
        np.testing.assert_array_equal(masks, eps.mask[k])
        saw_absent |= bool((~masks).any())
        assert (targets[~masks] == 0).all()  # absent assets get weight 0
        assert targets.max() <= 0.6 + 1e-12 and (targets.sum(-1) <= 1 + 1e-9).all()
        net, _, ref_exec = pa.run_np(
            targets, eps.next_returns[k], env.book.cost, can_buy[k], can_sell[k]
        )
        np.testing.assert_allclose(rewards, net, atol=1e-12)
        np.testing.assert_allclose(executed, ref_exec, atol=1e-12)
    assert saw_absent  # the universe really was uneven in the episodes played


def test_vector_env_matches_single_envs(uneven: PortfolioTask) -> None:
    M = 3
    schedule = np.arange(2 * M)  # M divides the list: sub-env i plays list[i::M]
    vec = PortfolioVectorEnv(
        M, task=uneven, split="train", cost="us_equity", episode_indices=schedule
    )
    singles = [
        PortfolioEnv(task=uneven, split="train", cost="us_equity", episode_indices=schedule[i::M])
        for i in range(M)
    ]
    obs, _ = vec.reset(seed=0)
    single_obs = [env.reset(seed=0)[0] for env in singles]
    rng = np.random.default_rng(0)
    for step in range(2 * uneven.episode_len + 1):
        for i in range(M):
            for key in obs:
                np.testing.assert_allclose(obs[key][i], single_obs[i][key], atol=1e-7)
        actions = rng.uniform(-1, 1, size=(M, len(uneven.symbols) + 1))
        obs, rewards, _, trunc, _ = vec.step(actions)
        if step == uneven.episode_len:  # NEXT_STEP autoreset: this step only restarted
            assert (rewards == 0).all()
            single_obs = [env.reset()[0] for env in singles]
            continue
        for i, env in enumerate(singles):
            single_obs[i], r, _, t, _ = env.step(actions[i])
            assert rewards[i] == pytest.approx(r, abs=1e-12) and trunc[i] == t


def test_bad_actions_and_arguments(uneven: PortfolioTask) -> None:
    env = PortfolioEnv(task=uneven)
    env.reset(seed=0)
    with pytest.raises(ValueError, match="shape"):
        env.step(np.zeros(3))
    with pytest.raises(ValueError, match="NaN"):
        env.step(np.full(5, np.nan))
    with pytest.raises(ValueError, match="cap"):
        PortfolioEnv(task=uneven, cap=1.5)
    with pytest.raises(ValueError, match="task="):
        PortfolioEnv(task=uneven, universe=["SYN000", "SYN001"])


def test_stable_baselines3_trains_on_it_unchanged(uneven: PortfolioTask) -> None:
    sb3 = pytest.importorskip("stable_baselines3")
    env = PortfolioEnv(task=uneven, cost="us_equity")
    model = sb3.PPO("MultiInputPolicy", env, n_steps=64, batch_size=32, n_epochs=1, seed=0)
    model.learn(total_timesteps=64)
    obs, _ = env.reset(seed=1)
    action, _ = model.predict(obs, deterministic=True)
    assert env.action_space.contains(action)
