"""The one accounting rule: hand-computed golden numbers, numpy == torch, step == episode."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from quantray.accounting import (
    limit_flags,
    net_returns_np,
    net_returns_torch,
    step_np,
    step_torch,
)
from quantray.config import CostConfig

# A 4-day episode, starting in cash (p_{-1} = 0):
#   wanted positions p     = [0.5,  1.0,  0.2,  0.2]
#   next returns r_{t+1}   = [0.02, -0.01, 0.03, 0.0]
#   Δ = p_t - p_{t-1}      = [+0.5, +0.5, -0.8,  0.0]
#   gross p_t * r_{t+1}    = [0.01, -0.01, 0.006, 0.0]
WANTED = np.array([0.5, 1.0, 0.2, 0.2])
NEXT_RETURNS = np.array([0.02, -0.01, 0.03, 0.0])

GOLDEN = {
    # No costs: net = gross.
    "none": (
        [0.0, 0.0, 0.0, 0.0],
        [0.01, -0.01, 0.006, 0.0],
    ),
    # us_equity, 5 bp both sides: cost = 0.0005 * |Δ| = [0.00025, 0.00025, 0.0004, 0]
    #   net = [0.01 - 0.00025, -0.01 - 0.00025, 0.006 - 0.0004, 0] = [0.00975, -0.01025, 0.0056, 0]
    "us_equity": (
        [0.00025, 0.00025, 0.0004, 0.0],
        [0.00975, -0.01025, 0.0056, 0.0],
    ),
    # cn_a_share: buys 2.5 bp, sells 2.5 bp + 5 bp stamp duty = 7.5 bp.
    #   cost = [0.5 * 0.00025, 0.5 * 0.00025, 0.8 * 0.00075, 0] = [0.000125, 0.000125, 0.0006, 0]
    #   net  = [0.009875, -0.010125, 0.0054, 0]   (no limit day in this episode)
    "cn_a_share": (
        [0.000125, 0.000125, 0.0006, 0.0],
        [0.009875, -0.010125, 0.0054, 0.0],
    ),
}


@pytest.mark.parametrize("preset", sorted(GOLDEN))
def test_golden_numbers_per_preset(preset: str) -> None:
    # These numbers leave out the exit sale (test_exit_cost_golden adds it).
    cost = CostConfig.preset(preset).replace(charge_exit=False)
    want_costs, want_net = GOLDEN[preset]
    net, costs, executed = net_returns_np(WANTED, NEXT_RETURNS, cost)
    np.testing.assert_allclose(costs, want_costs, atol=1e-12)
    np.testing.assert_allclose(net, want_net, atol=1e-12)
    np.testing.assert_array_equal(executed, WANTED)
    net_t, costs_t, _ = net_returns_torch(torch.tensor(WANTED), torch.tensor(NEXT_RETURNS), cost)
    np.testing.assert_allclose(costs_t.numpy(), want_costs, atol=1e-12)
    np.testing.assert_allclose(net_t.numpy(), want_net, atol=1e-12)


def test_golden_price_limit_rule_cn_a_share() -> None:
    # cn_a_share with the limit rule. Returns INTO each day (known at that day's close):
    #   r_t = [0.0, +0.10, -0.10, 0.03]  -> day 1 closed limit-up, day 2 limit-down.
    # next returns r_{t+1} = [0.10, -0.10, 0.03, 0.01]; wanted = [0.5, 1.0, 0.0, 0.0]
    #   day 0: free.           exec 0.5, Δ +0.5, cost 0.5*0.00025 = 0.000125,
    #                          net 0.5*0.10 - 0.000125 = 0.049875
    #   day 1: limit-up,       cannot buy: exec min(1.0, 0.5) = 0.5, cost 0, net 0.5*-0.10 = -0.05
    #   day 2: limit-down,     cannot sell: exec max(0.0, 0.5) = 0.5, cost 0, net 0.5*0.03 = 0.015
    #   day 3: free.           exec 0.0, Δ -0.5, cost 0.5*0.00075 = 0.000375, net -0.000375
    cost = CostConfig.preset("cn_a_share").replace(charge_exit=False)
    into_day = np.array([0.0, 0.10, -0.10, 0.03])
    next_returns = np.array([0.10, -0.10, 0.03, 0.01])
    wanted = np.array([0.5, 1.0, 0.0, 0.0])
    up, down = limit_flags(into_day, cost.price_limit)
    np.testing.assert_array_equal(up, [False, True, False, False])
    np.testing.assert_array_equal(down, [False, False, True, False])
    net, costs, executed = net_returns_np(wanted, next_returns, cost, 0.0, ~up, ~down)
    np.testing.assert_allclose(executed, [0.5, 0.5, 0.5, 0.0], atol=1e-12)
    np.testing.assert_allclose(costs, [0.000125, 0.0, 0.0, 0.000375], atol=1e-12)
    np.testing.assert_allclose(net, [0.049875, -0.05, 0.015, -0.000375], atol=1e-12)
    net_t, _, exec_t = net_returns_torch(
        torch.tensor(wanted),
        torch.tensor(next_returns),
        cost,
        0.0,
        torch.as_tensor(~up),
        torch.as_tensor(~down),
    )
    np.testing.assert_allclose(net_t.numpy(), net, atol=1e-12)
    np.testing.assert_allclose(exec_t.numpy(), executed, atol=1e-12)

    # The same costs without the limit rule fill every order:
    #   exec = wanted, Δ = [+0.5, +0.5, -1.0, 0], cost = [0.000125, 0.000125, 0.00075, 0]
    #   net = [0.049875, 1.0*-0.10 - 0.000125, 0 - 0.00075, 0] = [0.049875, -0.100125, -0.00075, 0]
    free = CostConfig(commission=0.00025, stamp_duty=0.0005, charge_exit=False)
    net_f, costs_f, exec_f = net_returns_np(wanted, next_returns, free, 0.0)
    np.testing.assert_allclose(exec_f, wanted)
    np.testing.assert_allclose(costs_f, [0.000125, 0.000125, 0.00075, 0.0], atol=1e-12)
    np.testing.assert_allclose(net_f, [0.049875, -0.100125, -0.00075, 0.0], atol=1e-12)


def test_limit_rule_only_blocks_the_blocked_side() -> None:
    cost = CostConfig.preset("cn_a_share")
    prev = np.array([1.0, 0.2, 0.5, 0.5])
    wanted = np.array([0.3, 0.9, 0.2, 0.8])
    up = np.array([True, False, False, False])  # selling into limit-up is allowed
    down = np.array([False, True, True, False])  # buying into limit-down is allowed
    _, _, executed = step_np(wanted, prev, np.zeros(4), cost, ~up, ~down)
    np.testing.assert_allclose(executed, [0.3, 0.9, 0.5, 0.8])


def test_limit_flags_tolerance_and_torch() -> None:
    returns = np.array([0.0999995, 0.0999, -0.0999995, -0.0999, 0.2])
    up, down = limit_flags(returns, 0.10)
    np.testing.assert_array_equal(up, [True, False, False, False, True])
    np.testing.assert_array_equal(down, [False, False, True, False, False])
    up_t, down_t = limit_flags(torch.tensor(returns), 0.10)
    np.testing.assert_array_equal(up_t.numpy(), up)
    np.testing.assert_array_equal(down_t.numpy(), down)
    none_up, none_down = limit_flags(returns, None)
    assert not none_up.any() and not none_down.any()
    assert limit_flags(torch.tensor(returns), None)[0].dtype == torch.bool


def _random_episode(rng: np.random.Generator, shape: tuple[int, ...]) -> dict[str, np.ndarray]:
    positions = rng.integers(0, 11, size=shape) / 10.0
    # Fat tails so that a good share of days sit at the +-10% limit.
    next_returns = np.clip(rng.standard_t(2, size=shape) * 0.04, -0.1, 0.1)
    into_first = np.clip(rng.standard_t(2, size=shape[:-1]) * 0.04, -0.1, 0.1)
    # [..., 1] ++ [..., E-1] -> [..., E]: the return into day t is r_t = next_returns[..., t-1].
    into_day = np.concatenate([into_first[..., None], next_returns[..., :-1]], axis=-1)
    return {
        "positions": positions,
        "next_returns": next_returns,
        "prev": rng.uniform(0, 1, size=shape[:-1]),
        "into_day": into_day,
    }


@pytest.mark.parametrize("preset", ["none", "us_equity", "cn_a_share"])
@pytest.mark.parametrize("with_limits", [False, True])
def test_torch_matches_numpy_on_random_inputs(preset: str, with_limits: bool) -> None:
    rng = np.random.default_rng(0)
    cost = CostConfig.preset(preset).replace(slippage=0.0003)
    if with_limits:
        cost = cost.replace(price_limit=0.10, enforce_price_limit=True)
    ep = _random_episode(rng, (3, 7, 20))
    up, down = limit_flags(ep["into_day"], 0.10) if with_limits else (None, None)
    if with_limits:
        assert up.sum() > 10 and down.sum() > 10  # the limit branch is really exercised
    buy, sell = (None, None) if up is None else (~up, ~down)
    out_np = net_returns_np(ep["positions"], ep["next_returns"], cost, ep["prev"], buy, sell)
    for dtype in (torch.float64, torch.float32):
        out_t = net_returns_torch(
            torch.tensor(ep["positions"], dtype=dtype),
            torch.tensor(ep["next_returns"], dtype=dtype),
            cost,
            torch.tensor(ep["prev"], dtype=dtype),
            None if buy is None else torch.as_tensor(buy),
            None if sell is None else torch.as_tensor(sell),
        )
        for got, want in zip(out_t, out_np, strict=True):
            np.testing.assert_allclose(got.double().numpy(), want, atol=1e-6, rtol=0)
    if with_limits:
        # The limit rule changed something, so this case differs from the free one.
        assert not np.allclose(out_np[2], ep["positions"])


@pytest.mark.parametrize("with_limits", [False, True])
def test_step_np_chained_equals_net_returns_np(with_limits: bool) -> None:
    rng = np.random.default_rng(1)
    cost = CostConfig.preset("cn_a_share")
    if not with_limits:
        cost = cost.replace(enforce_price_limit=False, price_limit=None)
    ep = _random_episode(rng, (16, 20))
    up, down = limit_flags(ep["into_day"], 0.10)
    # Trade permissions exist only where the cost model enforces the limit.
    buy, sell = (~up, ~down) if with_limits else (np.ones_like(up), np.ones_like(down))
    net, costs, executed = net_returns_np(
        ep["positions"], ep["next_returns"], cost, ep["prev"], buy, sell
    )
    prev = ep["prev"]
    for t in range(20):
        net_t, cost_t, exec_t = step_np(
            ep["positions"][:, t],
            prev,
            ep["next_returns"][:, t],
            cost,
            buy[:, t],
            sell[:, t],
            last_day=t == 19,
        )
        np.testing.assert_allclose(net_t, net[:, t], atol=1e-15)
        np.testing.assert_allclose(cost_t, costs[:, t], atol=1e-15)
        np.testing.assert_allclose(exec_t, executed[:, t], atol=1e-15)
        # step_torch is the same rule for one day.
        torch_out = step_torch(
            torch.tensor(ep["positions"][:, t]),
            torch.tensor(prev),
            torch.tensor(ep["next_returns"][:, t]),
            cost,
            torch.as_tensor(buy[:, t]),
            torch.as_tensor(sell[:, t]),
            last_day=t == 19,
        )
        np.testing.assert_allclose(torch_out[0].numpy(), net_t, atol=1e-15)
        prev = exec_t


SCALAR_COSTS = {
    **{name: CostConfig.preset(name) for name in sorted(GOLDEN)},
    "all-fields-no-exit": CostConfig(
        commission=3e-4, stamp_duty=1e-3, slippage=2e-4, charge_exit=False
    ),
}


@pytest.mark.parametrize("name", sorted(SCALAR_COSTS))
def test_step_np_on_python_floats_equals_the_array_rule(name: str) -> None:
    """One env's step passes Python floats (``TradingEnv``): the scalar branch must give
    exactly the array rule's numbers: buys, sells and no-trades, blocked or not, on the last
    day (exit sale) or not."""
    rng = np.random.default_rng(4)
    cost = SCALAR_COSTS[name]
    n = 400
    wanted = np.concatenate([rng.uniform(0, 1, n - 3), [0.3, 0.0, 1.0]])
    prev = np.concatenate([rng.uniform(0, 1, n - 3), [0.3, 1.0, 0.0]])
    next_returns = rng.normal(0, 0.02, n)
    can_buy, can_sell, last_day = rng.random((3, n)) < 0.5  # [n] each
    for flags in (False, True):
        buy, sell = (can_buy, can_sell) if flags else (None, None)
        arrays = step_np(wanted, prev, next_returns, cost, buy, sell, last_day=last_day)
        for i in range(n):
            scalars = step_np(
                float(wanted[i]), float(prev[i]), float(next_returns[i]), cost,
                None if buy is None else bool(buy[i]), None if sell is None else bool(sell[i]),
                bool(last_day[i]),
            )  # fmt: skip
            assert all(type(x) is float for x in scalars)
            assert [float(x[i]) for x in arrays] == list(scalars), (i, flags)


def test_scalar_and_array_prev_position_agree() -> None:
    rng = np.random.default_rng(2)
    ep = _random_episode(rng, (5, 20))
    cost = CostConfig.preset("us_equity")
    a = net_returns_np(ep["positions"], ep["next_returns"], cost, 0.3)
    b = net_returns_np(ep["positions"], ep["next_returns"], cost, np.full(5, 0.3))
    np.testing.assert_allclose(a[0], b[0])
    # Day-0 cost is charged on the move from the starting position.
    np.testing.assert_allclose(a[1][:, 0], 0.0005 * np.abs(ep["positions"][:, 0] - 0.3))


@pytest.mark.parametrize("with_limits", [False, True])
def test_torch_is_differentiable_in_positions(with_limits: bool) -> None:
    rng = np.random.default_rng(3)
    ep = _random_episode(rng, (2, 6))
    # Off the grid so no Δ sits exactly on the |.| kink.
    positions = torch.tensor(rng.uniform(0.05, 0.95, size=(2, 6)), requires_grad=True)
    cost = CostConfig.preset("cn_a_share")
    up, down = limit_flags(torch.tensor(ep["into_day"]), 0.10)
    buy, sell = (~up, ~down) if with_limits else (None, None)

    def total(p: torch.Tensor) -> torch.Tensor:
        net, _, _ = net_returns_torch(p, torch.tensor(ep["next_returns"]), cost, 0.4, buy, sell)
        return net.sum()

    assert torch.autograd.gradcheck(total, (positions,))
    total(positions).backward()
    assert positions.grad.abs().sum() > 0


def test_shape_errors_say_what_and_how() -> None:
    cost = CostConfig.preset("none")
    with pytest.raises(ValueError, match=r"same shape \[\.\.\., E\]"):
        net_returns_np(np.zeros((2, 5)), np.zeros((2, 4)), cost)
    with pytest.raises(ValueError, match="limit_flags"):
        net_returns_np(np.zeros((2, 5)), np.zeros((2, 5)), cost, 0.0, np.zeros(5, dtype=bool))
