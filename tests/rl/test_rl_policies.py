"""RLlib PPO / SAC / GRU actor-critic on the trading env: greedy positions, accounting,
metrics, checkpoints (in-process, one local 2-CPU Ray for the module)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from ray.rllib.algorithms.algorithm import Algorithm
from ray.rllib.core.columns import Columns

from quantray.config import CostConfig, StrategyConfig
from quantray.envs.trading_env import TradingEnv
from quantray.evaluate import backtest_episodes
from quantray.models.strategy_gru import StrategyGRU
from quantray.rl import (
    METRIC_KEYS,
    GRUActorCritic,
    TradingMetricsCallback,
    evaluate_algo,
    ppo_config,
    rl_positions,
    sac_config,
)
from quantray.rl.evaluate import _actions
from quantray.train.strategy import policy_positions, save_strategy

COST = "cn_a_share"  # price limits bind on limit_task: executed != wanted on some days


def _greedy_action(module, obs, action_type, space):
    """The reference decision. Discrete: the argmax of the module's logits, computed here
    (not through rl_positions' own helper). Continuous: that helper (SAC's squashing is
    checked independently against RLlib's own evaluation in the SAC test)."""
    if action_type == "continuous":
        return _actions(module, obs[None], None, action_type, space)[0][0]
    with torch.no_grad():
        logits = module.forward_inference({Columns.OBS: torch.from_numpy(obs[None])})
    return int(logits[Columns.ACTION_DIST_INPUTS][0].argmax())


def _single_env_rollout(algo, task, episodes, action_type):
    """Play each episode alone in a TradingEnv (eval mode), one greedy decision at a time:
    the reference rl_positions' lockstep batch must match. Returns (rewards, executed)."""
    env = TradingEnv(task=task, split="valid", mode="eval", cost=COST, action_type=action_type)
    module = algo.get_module()
    n, e = len(episodes), task.data.episode_len
    rewards, executed = np.empty((n, e)), np.empty((n, e))
    for i in range(n):
        obs, _ = env.reset(options={"episode_index": i})
        for t in range(e):
            action = _greedy_action(module, obs, action_type, env.action_space)
            obs, rewards[i, t], _, truncated, info = env.step(action)
            executed[i, t] = info["executed"]
        assert truncated
    return rewards, executed


def _check_reproduces_env(algo, task, action_type):
    valid = task.episodes("valid", stride=task.data.episode_len)
    positions = rl_positions(algo, task, valid, action_type=action_type, cost=COST)
    assert positions.shape == (len(valid), 20)
    assert positions.min() >= 0.0 and positions.max() <= 1.0
    rewards, executed = _single_env_rollout(algo, task, valid, action_type)
    np.testing.assert_allclose(positions, executed, atol=1e-6)
    # The evaluation's accounting on these positions gives the env's rewards day by day.
    cost = CostConfig.preset(COST)
    backtest = backtest_episodes(positions, valid, cost)
    np.testing.assert_allclose(backtest.net, rewards, atol=1e-6)
    frame = evaluate_algo(algo, task, "valid", COST, action_type=action_type)
    np.testing.assert_allclose(frame.total_return, np.prod(1 + rewards, axis=1) - 1, atol=1e-6)
    return positions


@pytest.fixture(scope="module")
def ppo(ray_local, limit_task):
    config = ppo_config({"task": limit_task, "cost": COST}, smoke=True, seed=0)
    algo = config.callbacks(TradingMetricsCallback).build_algo()
    result = algo.train()
    yield algo, result
    algo.stop()


def test_ppo_greedy_positions_reproduce_env_rewards(ppo, limit_task):
    algo, _ = ppo
    positions = _check_reproduces_env(algo, limit_task, "discrete")
    # Discrete actions: every position is one of the 11 levels 0, 0.1, ..., 1.
    np.testing.assert_allclose(positions * 10, np.round(positions * 10), atol=1e-9)


def test_trading_metrics_are_logged_and_consistent(ppo):
    _, result = ppo
    runners = result["env_runners"]
    assert set(METRIC_KEYS) <= set(runners)
    assert runners["num_episodes"] == 20  # 400 steps of 20-day episodes, none cut
    # Compounded net return vs RLlib's summed rewards over the same 20 episodes: equal up to
    # second-order terms of daily returns (5-7% daily volatility here).
    assert abs(runners["episode_net_return"] - runners["episode_return_mean"]) < 0.05
    np.testing.assert_allclose(
        runners["episode_excess_return"],
        runners["episode_net_return"] - runners["episode_buy_and_hold_return"],
        atol=1e-9,
    )
    assert 0.0 <= runners["episode_mean_position"] <= 1.0
    assert 0.0 < runners["episode_turnover"] <= 20.0


def test_trading_metrics_equal_the_sampled_episodes(ppo):
    """Each custom metric is the mean, over the last 100 episodes, of what those episodes'
    own rewards and infos give: compounded net return (the rewards), buy-and-hold, excess,
    mean executed position and turnover from flat."""
    from ray.rllib.utils.metrics.stats import StatsBase

    algo, _ = ppo
    episodes = algo.env_runner.sample(num_episodes=100, explore=True)  # the window is 100
    logged = {
        k: v.peek() if isinstance(v, StatsBase) else v
        for k, v in algo.env_runner.get_metrics().items()
        if k in METRIC_KEYS
    }
    net, hold, mean_pos, turnover = [], [], [], []
    for episode in episodes:
        steps = [info for info in episode.get_infos() if "executed" in info]  # not the reset
        assert len(steps) == 20
        executed = np.array([info["executed"] for info in steps])
        net.append(np.prod(1 + np.asarray(episode.get_rewards())) - 1)
        hold.append(np.prod([1 + info["next_return"] for info in steps]) - 1)
        mean_pos.append(executed.mean())
        turnover.append(np.abs(np.diff(executed, prepend=0.0)).sum())
    expected = {
        "episode_net_return": np.mean(net),
        "episode_buy_and_hold_return": np.mean(hold),
        "episode_excess_return": np.mean(net) - np.mean(hold),
        "episode_mean_position": np.mean(mean_pos),
        "episode_turnover": np.mean(turnover),
    }
    for key, value in expected.items():
        np.testing.assert_allclose(logged[key], value, rtol=1e-9, atol=1e-12, err_msg=key)


def test_sac_continuous_positions_and_checkpoint_restore(ray_local, limit_task, tmp_path):
    n_valid = len(limit_task.episodes("valid", stride=20))
    config = sac_config(
        {"task": limit_task, "cost": COST},
        smoke=True,
        seed=0,
        evaluation_interval=2,
        evaluation_episodes=n_valid,
    )
    algo = config.callbacks(TradingMetricsCallback).build_algo()
    for _ in range(2):
        result = algo.train()
    assert result["env_runners"]["num_env_steps_sampled_lifetime"] == 160
    positions = _check_reproduces_env(algo, limit_task, "continuous")
    # Independent of rl_positions' action mapping: RLlib's own greedy evaluation (its
    # connectors squash/unsquash the action) on the same list gives the same mean return.
    rewards, _ = _single_env_rollout(algo, limit_task, range(n_valid), "continuous")
    evaluation = result["evaluation"]["env_runners"]
    assert evaluation["num_episodes"] == n_valid
    np.testing.assert_allclose(
        evaluation["episode_return_mean"], rewards.sum(axis=1).mean(), atol=1e-6
    )
    # Continuous: not restricted to the 11 levels.
    assert np.abs(positions * 10 - np.round(positions * 10)).max() > 1e-3
    path = algo.save_to_path(str(tmp_path / "sac"))
    algo.stop()
    restored = Algorithm.from_checkpoint(path)
    valid = limit_task.episodes("valid", stride=20)
    np.testing.assert_array_equal(
        rl_positions(restored, limit_task, valid, action_type="continuous", cost=COST), positions
    )
    restored.stop()


def test_gru_module_unrolls_like_step_by_step():
    """One call over T = 20 steps equals 20 single-step calls that carry STATE_OUT."""
    torch.manual_seed(0)
    obs_space = gym.spaces.Box(-np.inf, np.inf, (14,), np.float32)
    module = GRUActorCritic(
        observation_space=obs_space,
        action_space=gym.spaces.Discrete(11),
        model_config={"hidden_size": 16, "head_hidden": 16},
    )
    obs = torch.randn(5, 20, 14)  # [B, T, D + 3]
    h0 = torch.as_tensor(module.get_initial_state()["h"]).expand(5, 16)  # [B, hidden]
    full = module.forward_train({Columns.OBS: obs, Columns.STATE_IN: {"h": h0}})
    state, logits = {"h": h0}, []
    for t in range(20):
        out = module.forward_inference({Columns.OBS: obs[:, t : t + 1], Columns.STATE_IN: state})
        logits.append(out[Columns.ACTION_DIST_INPUTS])
        state = out[Columns.STATE_OUT]
    torch.testing.assert_close(full[Columns.ACTION_DIST_INPUTS], torch.cat(logits, dim=1))
    torch.testing.assert_close(full[Columns.STATE_OUT]["h"], state["h"])
    values = module.compute_values({Columns.OBS: obs, Columns.STATE_IN: {"h": h0}})
    assert values.shape == (5, 20)
    # Causality inside the sequence: changing day 10 leaves days 0..9 unchanged.
    changed = obs.clone()
    changed[:, 10:] += 1.0
    later = module.forward_train({Columns.OBS: changed, Columns.STATE_IN: {"h": h0}})
    torch.testing.assert_close(
        later[Columns.ACTION_DIST_INPUTS][:, :10], full[Columns.ACTION_DIST_INPUTS][:, :10]
    )


def test_gru_actor_from_strategy_checkpoint_acts_like_the_strategy(ray_local, limit_task, tmp_path):
    """The PPO GRU module initialised from a stage-2 checkpoint chooses, in the env, exactly
    the argmax positions StrategyGRU chooses on the same episodes; PPO then trains it."""
    torch.manual_seed(1)
    config = StrategyConfig(feature_dim=limit_task.dim, hidden_size=16, head_hidden=16)
    strategy = StrategyGRU(config, limit_task.dim)
    cost = CostConfig.preset(COST)
    checkpoint = save_strategy(tmp_path / "strategy.pt", strategy, config, cost, meta={})
    valid = limit_task.episodes("valid", stride=20)
    expected = policy_positions(strategy, valid, limit_task.table, cost)
    assert len(np.unique(expected)) > 1  # a non-trivial policy

    algo = ppo_config(
        {"task": limit_task, "cost": COST},
        smoke=True,
        module="gru",
        strategy_checkpoint=str(checkpoint),
    ).build_algo()
    got = rl_positions(algo, limit_task, valid, action_type="discrete", cost=COST)
    np.testing.assert_allclose(got, expected, atol=1e-6)

    before = [p.detach().clone() for p in algo.get_module().parameters()]
    result = algo.train()
    after = list(algo.get_module().parameters())
    assert result["env_runners"]["num_env_steps_sampled_lifetime"] == 400
    assert any(not torch.equal(b, a) for b, a in zip(before, after, strict=True))
    learner = result["learners"]["default_policy"]
    assert np.isfinite(learner["total_loss"])
    algo.stop()
