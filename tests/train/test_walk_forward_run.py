"""WalkForwardRun: the saved settings of a walk-forward (exact record round trip, the flag
checks it owns, the differences --resume reports) and experiments/walk_forward.py --resume
restoring them (--dry-run: no folds are trained here; the slow end-to-end resume lives in
test_walk_forward_script.py)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from quantray.config import (
    ConfigError,
    CostConfig,
    StrategyConfig,
    TrainingBudget,
    WalkForwardConfig,
)
from quantray.data.folds import describe_folds, make_folds
from quantray.data.sample import SAMPLE_PATH
from quantray.features.store import small_stage1_spec
from quantray.train.price import PriceRunSpec
from quantray.train.walk_forward_run import WalkForwardRun

SAMPLE = str(Path(SAMPLE_PATH).resolve())


def _run(**changes) -> WalkForwardRun:
    """A run with no field at its default: non-default folds, seed, cost, methods, budget."""
    spec = small_stage1_spec(SAMPLE, smoke=True, seed=3)
    split = spec.split.replace(train_frac=0.6, valid_frac=0.2)
    stage1 = PriceRunSpec(spec.model, spec.train, spec.data_path, spec.data, split)
    settings = dict(
        walk_forward=WalkForwardConfig(
            window="rolling",
            rolling_days=1000,
            min_train_days=500,
            block_months=6,
            first_test="2017-01-03",
        ),
        stage1=stage1,
        strategy=StrategyConfig(epochs=2, hidden_size=16),
        cost=CostConfig.preset("none"),
        seed=3,
        steps_per_epoch=10,
        data_path=SAMPLE,
        methods=("sac", "gru", "ppo"),
        updates=("incremental",),
        rl_budget=TrainingBudget(by="seconds", amount=2.5, evaluations=2),
        smoke=True,
        config_file="/somewhere/best_config.json",
    )
    return WalkForwardRun(**{**settings, **changes})


def test_record_round_trip_is_exact():
    run = _run()
    record = json.loads(json.dumps(run.to_record()))  # what walk_forward.json holds
    back = WalkForwardRun.from_record(record)
    assert back == run
    assert back.to_record() == run.to_record()
    assert isinstance(back.stage1, PriceRunSpec) and back.stage1.split.train_frac == 0.6
    assert back.methods == ("gru", "ppo", "sac")  # stored in report order
    gru_only = _run(methods=("gru",), rl_budget=None, config_file=None, steps_per_epoch=None)
    assert WalkForwardRun.from_record(json.loads(json.dumps(gru_only.to_record()))) == gru_only


def test_a_record_from_another_version_is_refused_naming_the_keys():
    record = _run().to_record()
    old = {k: v for k, v in record.items() if k not in ("updates", "smoke", "data_path")}
    with pytest.raises(ConfigError, match=r"lacks \['data_path', 'updates', 'smoke'\]"):
        WalkForwardRun.from_record(old)
    with pytest.raises(ConfigError, match=r'unknown settings.*Did you mean "seed"'):
        WalkForwardRun.from_record({**record, "seeds": 1})


def test_methods_updates_and_budget_are_checked_naming_the_flag():
    with pytest.raises(ConfigError, match=r"--methods: .*the GRU is every fold's stage 2"):
        _run(methods=("ppo",))
    with pytest.raises(
        ConfigError, match='--methods: method must be one of gru, ppo, sac, got "a2c"'
    ):
        _run(methods=("gru", "a2c"))
    with pytest.raises(
        ConfigError, match='--update: update must be one of retrain, incremental, got "sometimes"'
    ):
        _run(updates=("retrain", "sometimes"))
    with pytest.raises(ConfigError, match="--update: found no update mode"):
        _run(updates=())
    with pytest.raises(ConfigError, match="ppo, sac need a training budget"):
        _run(rl_budget=None)
    with pytest.raises(ConfigError, match="rl_budget is for PPO / SAC"):
        _run(methods=("gru",))
    assert _run(updates=("retrain", "retrain", "incremental")).updates == ("retrain", "incremental")


def test_differences_name_every_changed_setting():
    run = _run()
    assert run.differences(_run()) == []
    changed = _run(
        seed=5,
        walk_forward=run.walk_forward.replace(block_months=12),
        cost=CostConfig.preset("us_equity"),
        methods=("gru",),
        rl_budget=None,
    )
    found = {name: (a, b) for name, a, b in run.differences(changed)}
    assert found["seed"] == (3, 5)
    assert found["walk_forward.block_months"] == (6, 12)
    assert found["methods"] == (["gru", "ppo", "sac"], ["gru"])
    assert found["rl_budget"] == (run.rl_budget.to_dict(), None)
    us = CostConfig.preset("us_equity").to_dict()
    none = CostConfig.preset("none").to_dict()
    cost = {k for k in us if us[k] != none[k]}
    assert cost and {f"cost.{k}" for k in cost} <= set(found)
    assert set(found) == {"seed", "walk_forward.block_months", "methods", "rl_budget"} | {
        f"cost.{k}" for k in cost
    }


def test_fold_plans_carry_the_run():
    run = _run()
    calendar = pd.bdate_range("2010-01-01", "2019-12-31").to_numpy().astype("datetime64[D]")
    folds = make_folds(calendar, run.walk_forward, run.stage1.data)
    plans = run.fold_plans(folds, "incremental", "/cache", "/out/incremental", threads=2)
    assert [p.fold for p in plans] == folds and len(plans) > 1
    for p in plans:
        assert (p.stage1, p.strategy, p.cost, p.seed) == (
            run.stage1,
            run.strategy,
            run.cost,
            run.seed,
        )
        assert (p.embargo, p.steps_per_epoch, p.methods, p.budget, p.smoke) == (
            run.walk_forward.embargo,
            10,
            run.methods,
            run.rl_budget,
            True,
        )
        assert (p.update, p.cache_root, p.out_dir, p.threads) == (
            "incremental",
            "/cache",
            "/out/incremental",
            2,
        )
    assert np.all(np.diff([np.datetime64(p.fold.test_start) for p in plans]) > np.timedelta64(0))


def _save(out: Path, run: WalkForwardRun) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "walk_forward.json").write_text(json.dumps(run.to_record(), indent=2))


def test_resume_restores_the_saved_settings_without_repeating_flags(tmp_path, run_script):
    out = tmp_path / "wf"
    run = _run(walk_forward=WalkForwardConfig(block_months=6, first_test="2016-01-04"))
    _save(out, run)
    proc = run_script("experiments/walk_forward.py", "--resume", "--dry-run", "--out", out)
    assert proc.returncode == 0, proc.stderr[-3000:]
    calendar = np.unique(pd.read_parquet(SAMPLE, columns=["Date"])["Date"].to_numpy())
    expected = describe_folds(make_folds(calendar, run.walk_forward, run.stage1.data))
    assert len(expected) == 6  # 6-month blocks 2016..2018 (the default 12 months: 3 folds)
    assert expected.to_string(index=False) in proc.stdout
    # the same values given again, and run-time options, are not changes
    proc = run_script(
        "experiments/walk_forward.py",
        *("--resume", "--dry-run", "--out", out, "--seed", 3, "--block-months", 6),
        *("--methods", "gru,sac,ppo", "--num-cpus", 1, "--cpus-per-fold", 2, "--cost", "none"),
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert expected.to_string(index=False) in proc.stdout


def test_resume_with_a_changed_setting_is_refused_naming_it(tmp_path, run_script):
    out = tmp_path / "wf"
    _save(out, _run())
    proc = run_script(
        "experiments/walk_forward.py",
        *("--resume", "--dry-run", "--out", out, "--seed", 5, "--block-months", 12),
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "holds a walk-forward with different settings" in proc.stderr
    assert "seed: saved 3, given 5 (from --seed" in proc.stderr
    assert "walk_forward.block_months: saved 6, given 12 (from --block-months)" in proc.stderr
    assert "choose a new --out" in proc.stderr and "Drop those flags" in proc.stderr
    old = {k: v for k, v in _run().to_record().items() if k != "updates"}
    (out / "walk_forward.json").write_text(json.dumps(old))
    proc = run_script("experiments/walk_forward.py", "--resume", "--dry-run", "--out", out)
    assert proc.returncode == 2 and "lacks ['updates']" in proc.stderr
    assert "older quantray" in proc.stderr and "Traceback" not in proc.stderr
