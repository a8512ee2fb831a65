"""The one evaluation path from episodes: exit costs and blocked trades, by hand and end to end."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from quantray.accounting import net_returns_np, net_returns_torch
from quantray.config import CostConfig
from quantray.data import load_task
from quantray.data.synthetic import generate
from quantray.envs import TradingEnv, TradingVectorEnv
from quantray.evaluate import (
    backtest_episodes,
    episode_results,
    evaluate_positions,
    perfect_foresight,
)
from quantray.evaluate.versus import baseline_backtests

CN = CostConfig.preset("cn_a_share")  # buys 2.5 bp, sells 7.5 bp


def test_exit_cost_golden_numpy_and_torch():
    # Wanted [0.5, 1.0], returns [0.01, 0.02], from cash:
    #   day 0: buy 0.5 -> 0.5 * 0.00025 = 0.000125;          net 0.005 - 0.000125 = 0.004875
    #   day 1: buy 0.5 -> 0.000125, exit sells 1.0 -> 0.00075; net 0.02 - 0.000875 = 0.019125
    positions, returns = np.array([[0.5, 1.0]]), np.array([[0.01, 0.02]])
    net, costs, _ = net_returns_np(positions, returns, CN)
    np.testing.assert_allclose(costs, [[0.000125, 0.000875]], atol=1e-15)
    np.testing.assert_allclose(net, [[0.004875, 0.019125]], atol=1e-15)
    net_t, costs_t, _ = net_returns_torch(torch.tensor(positions), torch.tensor(returns), CN)
    np.testing.assert_allclose(net_t.numpy(), net, atol=1e-15)
    np.testing.assert_allclose(costs_t.numpy(), costs, atol=1e-15)
    # Switched off, only the entry trades are paid.
    _, costs_off, _ = net_returns_np(positions, returns, CN.replace(charge_exit=False))
    np.testing.assert_allclose(costs_off, [[0.000125, 0.000125]], atol=1e-15)


def test_numpy_and_torch_agree_with_random_blocked_trades_and_exit():
    rng = np.random.default_rng(5)
    positions = rng.integers(0, 11, size=(6, 9, 20)) / 10.0
    returns = rng.normal(0, 0.03, size=positions.shape)
    can_buy = rng.random(positions.shape) > 0.2
    can_sell = rng.random(positions.shape) > 0.2
    can_sell[:, :, 3] = can_buy[:, :, 3] = False  # a suspension: neither side fills
    cost = CN.replace(slippage=0.0004)
    out_np = net_returns_np(positions, returns, cost, 0.3, can_buy, can_sell)
    assert not np.allclose(out_np[2], positions)  # blocking really happened
    out_t = net_returns_torch(
        torch.tensor(positions, dtype=torch.float32),
        torch.tensor(returns, dtype=torch.float32),
        cost,
        0.3,
        torch.tensor(can_buy),
        torch.tensor(can_sell),
    )
    for got, want in zip(out_t, out_np, strict=True):
        np.testing.assert_allclose(got.double().numpy(), want, atol=1e-6, rtol=0)
    # On the suspended day the executed position is yesterday's.
    np.testing.assert_array_equal(out_np[2][:, :, 3], out_np[2][:, :, 2])


@pytest.fixture(scope="module")
def suspended_task():
    """Two synthetic symbols; SYN000 is suspended (zero volume) on every 7th day."""
    bars = {s: f.drop(columns="regime") for s, f in generate(2, 700, seed=2).items()}
    frame = bars["SYN000"]
    frame.iloc[::7, frame.columns.get_loc("volume")] = 0.0
    return load_task(bars=bars)


def test_a_suspended_day_does_not_fill(suspended_task):
    episodes = suspended_task.episodes("test", stride=20)
    can_buy, can_sell = episodes.trade_flags(CostConfig.preset("none"))
    suspended = ~episodes.tradable
    assert suspended.any() and (suspended == ~can_buy).all() and (suspended == ~can_sell).all()
    # Alternate cash / fully invested: every suspended day wants a trade it cannot make.
    wanted = np.tile([1.0, 0.0], (len(episodes), 10))
    result = backtest_episodes(wanted, episodes, CostConfig.preset("us_equity"))
    prev = np.concatenate([np.zeros((len(episodes), 1)), result.executed[:, :-1]], axis=1)
    np.testing.assert_array_equal(result.executed[suspended], prev[suspended])
    np.testing.assert_array_equal(result.executed[~suspended], wanted[~suspended])
    assert (result.costs[suspended & (np.arange(20) < 19)] == 0).all()  # no trade, no cost


def test_every_evaluation_path_and_the_env_charge_the_exit(suspended_task):
    cost = CostConfig.preset("us_equity")  # 5 bp a side
    episodes = suspended_task.episodes("test", stride=20)
    bh = np.ones(episodes.next_returns.shape)
    rows = episode_results("bh", bh, episodes, cost)
    # Buy-and-hold pays the entry and the exit (where day 0 was not a suspension).
    entered = episodes.tradable[:, 0]
    np.testing.assert_allclose(rows["total_cost"][entered], 0.001, atol=1e-15)
    can_buy, can_sell = episodes.trade_flags(cost)
    same = evaluate_positions(
        "bh", bh, episodes.next_returns, cost, can_buy=can_buy, can_sell=can_sell
    )
    np.testing.assert_array_equal(rows["total_return"], same["total_return"])
    baselines = baseline_backtests(suspended_task, episodes, cost)
    np.testing.assert_allclose(
        baselines["buy_and_hold"].costs.sum(axis=1), rows["total_cost"], atol=1e-15
    )
    # The env's last step pays the same exit (discrete table path and vector env).
    env = TradingEnv(task=suspended_task, split="test", mode="eval", cost=cost)
    k = int(np.flatnonzero(entered)[0])
    env.reset(seed=0, options={"episode_index": k})
    costs = [env.step(10)[4]["cost"] for _ in range(20)]
    assert costs[0] == pytest.approx(0.0005) and costs[-1] == pytest.approx(0.0005)
    assert sum(costs) == pytest.approx(rows["total_cost"][k], abs=1e-15)
    vec = TradingVectorEnv(len(episodes), task=suspended_task, split="test", mode="eval", cost=cost)
    vec.reset(seed=0)
    rewards = np.stack([vec.step(np.full(len(episodes), 10))[1] for _ in range(20)], axis=1)
    np.testing.assert_allclose(
        np.prod(1 + rewards, axis=1) - 1, rows["total_return"], rtol=0, atol=1e-12
    )


def test_perfect_foresight_counts_the_exit():
    # One day of +5 bp: buying costs 2 bp, so it pays without the exit (7 bp more) only.
    cost = CostConfig(commission=0.0002, stamp_duty=0.0005)
    r = np.array([[0.0005]])
    assert perfect_foresight(r, cost.replace(charge_exit=False))[0, 0] == 1.0
    assert perfect_foresight(r, cost)[0, 0] == 0.0
