"""PPO and SAC trained to a TrainingBudget: the budget is spent to within one iteration, the
validation scores sit on the budget's marks, and the kept weights are the best-validation ones
(the GRU's selection rule), replayable after the Algorithm has stopped."""

from __future__ import annotations

import pytest

from quantray.config import CostConfig, TrainingBudget
from quantray.config.rl import PPOSettings, SACSettings
from quantray.rl.budget import train_rl
from quantray.train.strategy import validation_of

COST = "us_equity"


@pytest.mark.parametrize(
    ("algo", "settings", "per_iteration"),
    [("ppo", PPOSettings.smoke(), 400), ("sac", SACSettings.smoke(), 160)],
)
def test_budget_used_to_one_iteration_and_best_validation_kept(
    ray_local, regime_task, algo, settings, per_iteration
):
    budget = TrainingBudget(by="samples", amount=1_000, evaluations=2)
    run = train_rl(algo, regime_task, budget, settings=settings, cost=COST, seed=0)
    assert budget.amount <= run.samples < budget.amount + per_iteration
    seen = [row["samples"] for row in run.history]
    assert len(seen) == 2  # one validation at each mark: 500 and 1000 env steps
    for i, s in enumerate(seen):
        assert budget.mark(i) <= s < budget.mark(i) + per_iteration
    best = max(row["valid_ir"] for row in run.history)
    assert run.best["valid_ir"] == best
    valid = regime_task.episodes("valid", stride=20)
    replayed = validation_of(
        run.positions(regime_task, valid, COST),
        valid,
        CostConfig.resolve(COST),
        regime_task.episode_dates(valid),
    ).metrics
    assert replayed["valid_ir"] == pytest.approx(best, abs=1e-12)
    assert run.train_seconds < run.seconds


def test_warm_start_loads_the_full_module_into_learner_and_sampler(ray_local, regime_task):
    """An incremental walk-forward's PPO starts from the previous fold's selected weights:
    ``learner_state`` holds the full module (value function included) and loading it sets
    both the learner's module and the sampling module."""
    import numpy as np

    from quantray.rl.budget import _learner_weights, _load_weights
    from quantray.rl.config import algo_config

    settings = PPOSettings.smoke()
    budget = TrainingBudget(by="samples", amount=400, evaluations=1)
    run = train_rl("ppo", regime_task, budget, settings=settings, cost=COST, seed=0)
    state = run.learner_state
    assert state is not None and any("vf" in k for k in state)  # value function kept
    env_config = {"task": regime_task, "cost": COST, "split": "train"}
    algo = algo_config("ppo", env_config, settings=settings, seed=1).build_algo()
    try:
        fresh = _learner_weights(algo)
        assert any(not np.array_equal(fresh[k], state[k]) for k in state)
        _load_weights(algo, state)
        loaded = _learner_weights(algo)
        assert all(np.array_equal(loaded[k], state[k]) for k in state)
        sampler = algo.get_module().state_dict()
        for k, v in sampler.items():
            np.testing.assert_array_equal(v.detach().cpu().numpy(), state[k])
    finally:
        algo.stop()
