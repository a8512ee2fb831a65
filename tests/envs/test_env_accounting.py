"""Env rewards are the one accounting rule: hand-computed days, net_returns_np, evaluation."""

from __future__ import annotations

import numpy as np
import pytest

from quantray.accounting import net_returns_np, position_levels, step_np
from quantray.config import CostConfig
from quantray.envs import TradingEnv, TradingVectorEnv
from quantray.envs.reward import shaped_reward
from quantray.evaluate import episode_results

E = 20


def _play(env: TradingEnv, episode: int, actions) -> dict[str, np.ndarray]:
    _, info = env.reset(seed=0, options={"episode_index": episode})
    rows: dict[str, list] = {"reward": [], "position": [], "executed": [], "cost": []}
    for a in actions:
        _, reward, _, _, info = env.step(a)
        rows["reward"].append(reward)
        for key in ("position", "executed", "cost"):
            rows[key].append(info[key])
    return {key: np.asarray(value, dtype=np.float64) for key, value in rows.items()}


def test_hand_computed_days_with_us_equity_costs(small_task):
    # 5 bp commission a side, no stamp duty: buy all, halve, hold, sell all.
    env = TradingEnv(task=small_task, split="test", mode="eval", cost="us_equity")
    r = small_task.episodes("test", stride=E).next_returns[3]  # r_{t+1} of each day
    out = _play(env, 3, [10, 5, 5, 0])
    expected = [
        1.0 * r[0] - 0.0005 * 1.0,
        0.5 * r[1] - 0.0005 * 0.5,
        0.5 * r[2],
        0.0 * r[3] - 0.0005 * 0.5,
    ]
    np.testing.assert_allclose(out["reward"], expected, rtol=0, atol=1e-15)
    np.testing.assert_allclose(out["cost"], [0.0005, 0.00025, 0.0, 0.00025], atol=1e-15)


@pytest.mark.parametrize("action_type", ["discrete", "continuous"])
def test_rewards_equal_net_returns_np_with_price_limits(limit_task, action_type):
    cost = CostConfig.preset("cn_a_share")
    episodes = limit_task.episodes("test", stride=E)
    env = TradingEnv(task=limit_task, split="test", mode="eval", cost=cost, action_type=action_type)
    rng = np.random.default_rng(0)
    n_limited = 0
    for k in range(len(episodes)):
        # Swing between cash and fully invested so limit days block real trades.
        levels = np.where(rng.random(E) < 0.5, 0, 10) if k % 2 else rng.integers(0, 11, E)
        actions = levels if action_type == "discrete" else [np.float32([a / 10]) for a in levels]
        out = _play(env, k, actions)
        can_buy, can_sell = episodes.trade_flags(cost)
        net, costs, executed = net_returns_np(
            out["position"], episodes.next_returns[k], cost, 0.0, can_buy[k], can_sell[k]
        )
        np.testing.assert_array_equal(out["reward"], net)
        np.testing.assert_array_equal(out["cost"], costs)
        np.testing.assert_array_equal(out["executed"], executed)
        n_limited += int((executed != out["position"]).sum())
    assert n_limited > 0, "no limit day blocked a trade: the test would not catch a bad rule"


def test_episode_return_equals_the_evaluation_path(limit_task):
    """The env's per-step rewards and costs, compounded/summed per episode, are the
    evaluation library's total_return and total_cost for the positions the env was asked."""
    cost = CostConfig.preset("cn_a_share")
    episodes = limit_task.episodes("test", stride=E)
    env = TradingEnv(task=limit_task, split="test", mode="eval", cost=cost)
    rng = np.random.default_rng(1)
    positions, rewards, costs = [], [], []
    env.reset(seed=0)
    for k in range(len(episodes)):
        if k:
            env.reset()
        for a in rng.integers(0, 11, E):
            _, reward, _, _, info = env.step(a)
            positions.append(info["position"])
            rewards.append(reward)
            costs.append(info["cost"])
    shape = (len(episodes), E)
    positions, rewards, costs = (np.reshape(v, shape) for v in (positions, rewards, costs))
    assert (costs > 0).any()  # trades were paid for: the cost comparison is not 0 == 0
    table = episode_results("env", positions, episodes, cost)
    np.testing.assert_allclose(
        table["total_return"], np.prod(1.0 + rewards, axis=1) - 1.0, rtol=0, atol=1e-12
    )
    np.testing.assert_allclose(table["total_cost"], costs.sum(axis=1), rtol=0, atol=1e-15)


def test_vector_env_rewards_equal_net_returns_np(limit_task):
    cost = CostConfig.preset("cn_a_share")
    episodes = limit_task.episodes("test", stride=E)
    n = len(episodes)
    envs = TradingVectorEnv(n, task=limit_task, split="test", mode="eval", cost=cost)
    envs.reset(seed=0)
    actions = np.random.default_rng(2).integers(0, 11, size=(E, n))
    rewards = np.stack([envs.step(a)[1] for a in actions], axis=1)  # E x [n] -> [n, E]
    can_buy, can_sell = episodes.trade_flags(cost)
    net, _, _ = net_returns_np(actions.T / 10, episodes.next_returns, cost, 0.0, can_buy, can_sell)
    np.testing.assert_allclose(rewards, net, rtol=0, atol=1e-15)


def test_shaped_reward_formula(small_task):
    env = TradingEnv(
        task=small_task, reward="shaped", risk_weight=0.7, opportunity_weight=0.2, cost="us_equity"
    )
    env.reset(seed=3)
    for a in np.random.default_rng(3).integers(0, 11, E):
        _, reward, _, _, info = env.step(a)
        net, r, p = info["net_return"], info["next_return"], info["executed"]
        expected = net - 0.7 * max(-net, 0.0) - 0.2 * (1.0 - p) * max(r, 0.0)
        assert reward == pytest.approx(expected, abs=1e-15)


# Every numeric cost field non-zero and the limit rule on, with and without the exit sale.
ALL_COSTS = {
    "commission": 3e-4, "stamp_duty": 1e-3, "slippage": 2e-4, "price_limit": 0.1,
    "enforce_price_limit": True,
}  # fmt: skip


@pytest.mark.parametrize(
    ("task_name", "cost", "reward", "action_type"),
    [
        ("small_task", "us_equity", "return", "discrete"),  # no blocked day: every order fills
        ("limit_task", "cn_a_share", "return", "discrete"),  # price limits block trades
        ("limit_task", "cn_a_share", "shaped", "discrete"),
        ("limit_task", ALL_COSTS, "return", "continuous"),
        ("limit_task", {**ALL_COSTS, "charge_exit": False}, "shaped", "discrete"),
    ],
    ids=["us-equity", "cn-a-share", "cn-a-share-shaped", "all-costs-continuous", "no-exit"],
)
def test_every_step_is_step_np_on_arrays_bit_for_bit(request, task_name, cost, reward, action_type):
    """Each step's executed position, cost, net return, reward and observed position are
    exactly (==, not approx) what ``step_np`` and ``shaped_reward`` return on arrays for that
    day (the env calls ``step_np`` on Python floats), over randomly drawn episodes (whole
    blocks, exit days included)."""
    task = request.getfixturevalue(task_name)
    cost = CostConfig.preset(cost) if isinstance(cost, str) else CostConfig(**cost)
    env = TradingEnv(
        task=task, cost=cost, reward=reward, risk_weight=0.7, opportunity_weight=0.3,
        action_type=action_type, include_episode_return=True,
    )  # fmt: skip
    can_buy, can_sell = task.panel.trade_flags(cost)  # [N] per panel row
    next_returns = task.panel.next_returns()  # [N]
    levels = position_levels()  # [A]: action a wants levels[a]
    rng = np.random.default_rng(4)
    n_blocked = n_exits = 0
    _, info = env.reset(seed=4)
    for _ in range(40):  # episodes: more than two blocks of them
        row, prev, equity = info["start_row"], np.zeros(1), 1.0
        # Swing between cash and fully invested half the time so limit days block trades.
        swings = np.where(rng.random(E) < 0.5, 0, 10) if rng.random() < 0.5 else None
        for t in range(E):
            a = int(rng.integers(11)) if swings is None else int(swings[t])
            wanted = levels[a : a + 1]  # [1]
            if action_type == "continuous":
                wanted = np.clip(wanted + rng.normal(0, 0.03), 0, 1).astype(np.float32)
            obs, got_reward, _, _, info = env.step(a if action_type == "discrete" else wanted)
            day = slice(row + t, row + t + 1)  # panel row of decision day t, as [1]
            net, costs, executed = step_np(
                wanted.astype(np.float64), prev, next_returns[day], cost,
                can_buy[day], can_sell[day], last_day=np.array([t == E - 1]),
            )  # fmt: skip
            expected = net
            if reward == "shaped":
                expected = shaped_reward(net, executed, next_returns[day], 0.7, 0.3)
            assert info["position"] == wanted[0]
            assert info["executed"] == executed[0]
            assert info["cost"] == costs[0]
            assert info["net_return"] == net[0]
            assert got_reward == expected[0]
            equity *= 1.0 + net[0]
            assert obs[task.dim] == np.float32(executed[0])  # the position column
            assert obs[task.dim + 2] == np.float32(equity - 1.0)  # the episode-return column
            n_blocked += int(executed[0] != wanted[0])
            n_exits += int(t == E - 1 and executed[0] > 0)
            prev = executed
        _, info = env.reset()
    assert n_exits > 0  # the last day was compared with a position to sell, not only 0 == 0
    if task_name == "limit_task":
        assert n_blocked > 0, "no trade was blocked: the test would not catch a bad rule"
