"""The differentiable portfolio strategy: shapes and legal weights, causality, the loss, and
learnability (one asset with a known edge gets overweighted)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from quantray.config import CostConfig, DataConfig, PortfolioConfig, SplitConfig
from quantray.data.synthetic import RegimeParams, generate
from quantray.data.universe import PortfolioTask, load_portfolio_task
from quantray.losses.portfolio import PortfolioLoss
from quantray.models.portfolio_strategy import PortfolioStrategy
from quantray.portfolio_accounting import run_torch
from quantray.train.portfolio import PortfolioBatch, policy_weights, train_portfolio

COST = CostConfig.preset("us_equity")


@pytest.fixture(autouse=True)
def _one_thread():
    # A ~10k-parameter recurrent net: extra threads only add contention on a shared box.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_weights_legal_and_accounting_consistent(uneven: PortfolioTask) -> None:
    torch.manual_seed(0)
    model = PortfolioStrategy(PortfolioConfig(cap=0.5), uneven.dim)
    eps = uneven.episodes("train").subset(np.arange(0, 400, 7))
    batch = PortfolioBatch.build(eps, uneven.task.table, COST)
    out = batch.run(model, COST)
    target = out.target.detach()
    assert (target[~batch.mask] == 0).all()
    assert target.max() <= 0.5 + 1e-6 and (target.sum(-1) <= 1 + 1e-5).all()
    net, _, executed = run_torch(
        out.target.double(), batch.next_returns.double(), COST, batch.can_buy, batch.can_sell
    )
    torch.testing.assert_close(out.net_returns.double(), net, atol=1e-6, rtol=0)
    torch.testing.assert_close(out.executed.double(), executed, atol=1e-6, rtol=0)
    loss, terms = PortfolioLoss(PortfolioConfig(), COST)(
        out, batch.mask, batch.next_returns, batch.can_buy, batch.can_sell
    )
    loss.backward()
    assert all(np.isfinite(v) for v in terms.values())
    assert model.head.weight.grad is not None and model.head.weight.grad.abs().sum() > 0


def test_causality_future_data_does_not_move_past_weights(uneven: PortfolioTask) -> None:
    torch.manual_seed(1)
    model = PortfolioStrategy(PortfolioConfig(), uneven.dim).eval()
    eps = uneven.episodes("valid").subset(np.arange(8))
    batch = PortfolioBatch.build(eps, uneven.task.table, COST)
    t = 9
    changed = PortfolioBatch(
        batch.features.clone(),
        batch.mask.clone(),
        batch.next_returns.clone(),
        batch.can_buy.clone(),
        batch.can_sell.clone(),
    )
    g = torch.Generator().manual_seed(0)
    changed.features[:, t + 1 :] = torch.randn(changed.features[:, t + 1 :].shape, generator=g)
    changed.mask[:, t + 1 :, 0] = False  # an asset drops out after t
    changed.can_buy[:, t + 1 :] = False
    # r_{t+1} is earned by day t's weights but only realised at close t+1: it may move
    # weights from day t+1 on, never at or before t.
    changed.next_returns[:, t:] *= -3.0
    with torch.no_grad():
        a = batch.run(model, COST).target
        b = changed.run(model, COST).target
    torch.testing.assert_close(a[:, : t + 1], b[:, : t + 1], atol=0, rtol=0)
    assert not torch.allclose(a[:, t + 1 :], b[:, t + 1 :])


def edge_task(seed: int = 0) -> PortfolioTask:
    """4 assets; EDGE drifts up +0.3%/day at 0.6% vol, the others drift 0 at 1.5% vol."""
    days = 900
    edge = RegimeParams(drift=(0.003,) * 3, vol=(0.006,) * 3)
    flat = RegimeParams(drift=(0.0,) * 3, vol=(0.015,) * 3)
    bars = {"EDGE": generate(1, days, seed=seed, params=edge)["SYN000"]}
    for s, frame in generate(3, days, seed=seed + 1, params=flat).items():
        bars[s] = frame
    bars = {s: f.drop(columns="regime") for s, f in bars.items()}
    return load_portfolio_task(
        bars=bars, data_config=DataConfig(window=30), split_config=SplitConfig(embargo=27)
    )


def test_learns_to_overweight_the_asset_with_an_edge() -> None:
    task = edge_task()
    edge = task.symbols.index("EDGE")
    config = PortfolioConfig(hidden_size=16, epochs=3, steps_per_epoch=25, lr=3e-3, patience=3)
    test = task.episodes("test", stride=task.episode_len)
    untrained = PortfolioStrategy(config, task.dim)
    before = policy_weights(untrained, test, task.task.table, COST)[..., edge].mean()
    result = train_portfolio(task, config, COST, seed=0, log=None)
    after = policy_weights(result.model, test, task.task.table, COST)
    assert after[..., edge].mean() > 0.6 > before + 0.2
    others = np.delete(after, edge, axis=-1)
    assert after[..., edge].mean() > 3 * others.mean()


def test_loss_terms_by_hand() -> None:
    from quantray.losses.portfolio import equal_weights
    from quantray.models.portfolio_strategy import PortfolioOutput

    B, E, N = 2, 20, 3
    mask = torch.ones(B, E, N, dtype=torch.bool)
    mask[1, :, 2] = False  # episode 1: asset 2 not in the universe
    rets = torch.full((B, E, N), 0.01, dtype=torch.float64)  # every asset +1% a day: bull
    cost = CostConfig(commission=0.001)
    config = PortfolioConfig(risk_measure="drawdown")
    loss = PortfolioLoss(config, cost)
    # 1/N itself: relative return 0, no drawdown, no cash.
    w = equal_weights(mask, torch.float64)
    net, costs, executed = run_torch(w, rets, cost)
    _, terms = loss(PortfolioOutput(w, executed, net, costs), mask, rets)
    assert terms["relative_return_loss"] == pytest.approx(0.0, abs=1e-12)
    assert terms["risk_cost"] == pytest.approx(0.0, abs=1e-12)
    assert terms["opportunity_cost"] == pytest.approx(0.0, abs=1e-12)
    assert terms["frac_bull"] == 1.0
    # All cash: misses 1% a day for 20 days; relative loss = 1/N's episode return.
    zero = torch.zeros(B, E, N, dtype=torch.float64)
    net0, costs0, exec0 = run_torch(zero, rets, cost)
    total, terms = loss(PortfolioOutput(zero, exec0, net0, costs0), mask, rets)
    assert terms["opportunity_cost"] == pytest.approx(20 * 0.01, abs=1e-12)
    bench = net.sum(-1).mean().item()  # 20 days x 1% minus the 10 bp entry and exit sales
    assert bench == pytest.approx(20 * 0.01 - 0.001 - 0.001, abs=1e-12)
    assert terms["relative_return_loss"] == pytest.approx(bench, abs=1e-12)
    assert total.item() == pytest.approx(bench + 0.5 * 20 * 0.01, abs=1e-12)


def test_tune_trial_reports_a_live_objective(uneven: PortfolioTask, tmp_path) -> None:
    """A portfolio Tune trial without Ray: per-epoch search metrics carry the selection
    score (the information ratio vs 1/N), not a constant; the selected epoch's daily
    validation path is saved for the SPA test, and the final report is marked ``final``."""
    from quantray.data.synthetic import write_bars
    from quantray.tune.portfolio import run_portfolio_trial
    from quantray.tune.tuner import OBJECTIVE

    from .conftest import uneven_bars

    reports: list[dict] = []
    config = {
        "budget": "smoke",
        "seed": 0,
        "cost": "us_equity",
        "data_path": str(write_bars(uneven_bars(), tmp_path / "bars.parquet")),
        "universe": None,
        "hidden_size": 16,
        "lr": 1e-3,
        "relative_return_weight": 1.0,
        "risk_cost_weight": 0.1,
        "opportunity_cost_weight": 0.1,
        "transaction_cost_weight": 0.1,
        "valid_paths_dir": str(tmp_path / "paths"),
    }
    final = run_portfolio_trial(config, report=reports.append, trial_id="t1")
    assert len(reports) >= 1
    best = max(r["valid_ir"] for r in reports)
    assert final[OBJECTIVE] == pytest.approx(best) and final[OBJECTIVE] != 0.0
    assert final["final"] == 1.0 and all("final" not in r for r in reports)
    from quantray.evaluate.metrics import pooled_sharpe
    from quantray.tune.tuner import load_valid_paths

    paths = load_valid_paths(tmp_path / "paths")
    assert list(paths.columns) == ["t1"]
    valid = uneven.episodes("valid", stride=uneven.episode_len)
    assert len(paths) == len(np.unique(uneven.episode_dates(valid)))
    # the saved path is the selected epoch's: its pooled Sharpe is the reported one
    assert pooled_sharpe(paths["t1"].to_numpy()[None, :]) == pytest.approx(
        final["valid_sharpe"], rel=1e-9
    )
