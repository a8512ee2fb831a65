"""Walk-forward folds end to end (in-process): causality across folds, warm starts, reuse."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from quantray.config import (
    CostConfig,
    DataConfig,
    PriceTrainConfig,
    SplitConfig,
    StrategyConfig,
    WalkForwardConfig,
)
from quantray.data import Panel
from quantray.data.folds import make_folds
from quantray.data.synthetic import generate, write_bars
from quantray.evaluate.walk_forward import stitch
from quantray.train.price import PriceRunSpec, load_checkpoint
from quantray.train.walk_forward import OOS_FILE, FoldPlan, run_fold

DATA = DataConfig(window=60)
WF = WalkForwardConfig(block_months=6, min_train_days=300, valid_days=100, replay_days=50)


SUSPENDED = slice(720, 724)
"""Rows of the first symbol with zero volume (suspended: no order fills), in fold 0's block."""


def _bars(perturb_from: str | None = None) -> dict[str, pd.DataFrame]:
    bars = {s: f.drop(columns="regime") for s, f in generate(2, 1100, seed=7).items()}
    first = bars[sorted(bars)[0]]
    first.iloc[SUSPENDED, first.columns.get_loc("volume")] = 0.0
    if perturb_from is not None:
        rng = np.random.default_rng(1)
        for frame in bars.values():
            after = frame.index >= pd.Timestamp(perturb_from)
            scale = np.exp(np.cumsum(rng.normal(0.0, 0.03, after.sum())))
            for col in ("open", "high", "low", "close"):
                frame.loc[after, col] = frame.loc[after, col].to_numpy() * scale
            frame.loc[after, "volume"] = frame.loc[after, "volume"].to_numpy() * 3.0
    return bars


def _plans(path, folds, update, root, micro_model) -> list[FoldPlan]:
    stage1 = PriceRunSpec(
        micro_model,
        PriceTrainConfig(
            epochs=1, batch_size=16, max_steps_per_epoch=3, warmup_steps=1, eval_samples=32
        ),
        str(path),
        DATA,
        SplitConfig(),
    )
    strategy = StrategyConfig(epochs=2, batch_size=16, hidden_size=8, head_hidden=8)
    return [
        FoldPlan(
            fold,
            stage1,
            strategy,
            CostConfig.preset("us_equity"),
            WF.embargo,
            update,
            seed=0,
            steps_per_epoch=3,
            cache_root=str(root / "stage1"),
            out_dir=str(root / update),
        )
        for fold in folds
    ]


def _run(plans: list[FoldPlan]) -> list[dict]:
    results, previous = [], None
    for plan in plans:
        previous = run_fold(plan, previous if plan.update == "incremental" else None)
        results.append(previous)
    return results


@pytest.fixture(scope="module")
def runs(tmp_path_factory, micro_model):
    """Both update modes on the data and on a copy whose bars change from fold 1's block on."""
    tmp = tmp_path_factory.mktemp("walk_forward")
    calendar = np.unique(Panel.from_bars(_bars()).dates)
    first = str(calendar[700])
    folds = make_folds(calendar, WF.replace(first_test=first, end=str(calendar[950])), DATA)
    assert len(folds) == 2
    cut = folds[1].test_start
    out = {}
    torch.set_num_threads(1)
    for name, perturb in (("base", None), ("perturbed", cut)):
        root = tmp / name
        path = write_bars(_bars(perturb), root / "bars.parquet")
        for update in ("retrain", "incremental"):
            plans = _plans(path, folds, update, root, micro_model)
            out[name, update] = (plans, _run(plans))
    return out, folds, cut


def _record(plans: list[FoldPlan]) -> pd.DataFrame:
    return stitch([pd.read_parquet(p.fold_dir / OOS_FILE) for p in plans])


@pytest.mark.parametrize("update", ["retrain", "incremental"])
def test_changing_bars_after_a_date_leaves_earlier_folds_bit_identical(runs, update):
    out, _, cut = runs
    base = _record(out["base", update][0])
    pert = _record(out["perturbed", update][0])
    early_b, early_p = base[base.fold == 0], pert[pert.fold == 0]
    assert len(early_b) > 0 and (early_b.date < np.datetime64(cut)).all()
    pd.testing.assert_frame_equal(early_b.reset_index(drop=True), early_p.reset_index(drop=True))
    # The perturbation is real: the later fold sees different returns.
    late_b, late_p = base[base.fold == 1], pert[pert.fold == 1]
    assert not np.allclose(late_b.next_return.to_numpy(), late_p.next_return.to_numpy())
    # Fold 0's stage-1 model is the same model (bit for bit) on both data files.
    rb, rp = out["base", update][1][0], out["perturbed", update][1][0]
    wb = load_checkpoint(rb["stage1_checkpoint"])["model"]
    wp = load_checkpoint(rp["stage1_checkpoint"])["model"]
    assert all(torch.equal(wb[k], wp[k]) for k in wb)


def test_record_tiles_the_blocks_and_each_day_is_owned_by_its_fold(runs):
    out, folds, _ = runs
    record = _record(out["base", "retrain"][0])
    for fold in folds:
        days = record[record.fold == fold.index].date
        assert days.min() >= np.datetime64(fold.test_start)
        assert days.max() <= np.datetime64(fold.test_end)
    assert not record.duplicated(["symbol", "date"]).any()
    e = DATA.episode_len
    assert len(record) % e == 0 and (record.day.to_numpy().reshape(-1, e) == np.arange(e)).all()
    with pytest.raises(ValueError, match="claimed by more than one fold"):
        stitch([record, record[record.fold == 1]])


def test_incremental_warm_starts_and_trains_on_new_days_only(runs):
    out, folds, _ = runs
    retrain = out["base", "retrain"][1]
    plans_i, incremental = out["base", "incremental"]
    # fold 0 is a cold start in both modes: the same stage-1 model (one cache entry)
    assert retrain[0]["stage1_key"] == incremental[0]["stage1_key"]
    assert incremental[1]["warm_start"] and not retrain[1]["warm_start"]
    assert incremental[1]["update_start"] == folds[1].update_start > folds[1].train_start
    assert incremental[1]["train_episodes"] < retrain[1]["train_episodes"]
    # the warm-started stage-1 spec names its predecessor; the retrained one does not
    spec_i = json.loads(
        json.dumps(plans_i[1].stage1_spec(incremental[0]["stage1_checkpoint"]).to_dict())
    )
    assert spec_i["train"]["init_checkpoint"] == incremental[0]["stage1_checkpoint"]
    assert retrain[1]["stage1_key"] != incremental[1]["stage1_key"]


def test_finished_fold_is_not_recomputed(runs):
    out, _, _ = runs
    plans, results = out["base", "retrain"]
    marker = plans[0].fold_dir / "result.json"
    before = marker.stat().st_mtime_ns
    assert run_fold(plans[0]) == results[0]
    assert marker.stat().st_mtime_ns == before


def test_warm_start_loads_the_previous_weights(runs, regime_task):
    from quantray.train.price import PriceRun
    from quantray.train.strategy import load_strategy, train_strategy

    out, _, _ = runs
    plans, results = out["base", "incremental"]
    spec = plans[1].stage1_spec(results[0]["stage1_checkpoint"])
    model = PriceRun.start(spec).model
    before = load_checkpoint(results[0]["stage1_checkpoint"])["model"]
    assert all(torch.equal(model.state_dict()[k], before[k]) for k in before)

    config = StrategyConfig(epochs=1, lr=1e-12, hidden_size=8, head_hidden=8)
    cold = train_strategy(regime_task, config, CostConfig(), seed=3, steps_per_epoch=1, log=None)
    init = {k: v + 0.5 for k, v in cold.model.state_dict().items()}
    warm = train_strategy(
        regime_task, config, CostConfig(), seed=3, steps_per_epoch=1, log=None, init_state=init
    )
    for k, v in warm.model.state_dict().items():
        torch.testing.assert_close(v, init[k])
    assert load_strategy(results[1]["strategy_checkpoint"])[0] is not None


def test_record_carries_the_accounting_trade_flags_and_rescores_to_the_fold(runs):
    """The stitched record keeps each day's can_buy / can_sell (here: a suspension), and
    re-scoring it gives the fold's own backtest of the same positions, day for day."""
    from quantray.data import load_task
    from quantray.evaluate.backtest import backtest_episodes
    from quantray.evaluate.walk_forward import score_record

    out, _, _ = runs
    plans, results = out["base", "retrain"]
    record = _record(plans)
    part = record[record.fold == 0].reset_index(drop=True)
    spec = plans[0].stage1_spec(None)
    task = load_task(
        spec.data_path,
        features=results[0]["feature_cache"],
        data_config=spec.data,
        split_config=spec.split,
    )
    oos = task.episodes("test", stride=DATA.episode_len)
    can_buy, can_sell = oos.trade_flags(plans[0].cost)
    assert (~can_buy).sum() > 0  # the suspension lies in the block
    np.testing.assert_array_equal(part.can_buy.to_numpy(), can_buy.reshape(-1))
    np.testing.assert_array_equal(part.can_sell.to_numpy(), can_sell.reshape(-1))
    e = DATA.episode_len
    scored = score_record(part, plans[0].cost)
    for name in ("gru", "buy_and_hold"):
        direct = backtest_episodes(part[name].to_numpy().reshape(-1, e), oos, plans[0].cost)
        np.testing.assert_array_equal(scored.backtests[name].net, direct.net)
