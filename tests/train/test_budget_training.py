"""Stage-2 training to a TrainingBudget: the budget is spent to within one optimizer step,
validation falls on the budget's marks, and the kept model is the best validation epoch."""

from __future__ import annotations

import pytest

from quantray.config import ConfigError, CostConfig, StrategyConfig, TrainingBudget
from quantray.train.strategy import policy_positions, train_strategy, validation_of

COST = CostConfig.preset("us_equity")


def test_samples_budget_is_used_to_one_step_and_best_epoch_is_kept(regime_task):
    config = StrategyConfig(feature_dim=regime_task.dim, batch_size=16, hidden_size=16)
    days_per_step = 16 * regime_task.data.episode_len  # 320 episode-days per optimizer step
    budget = TrainingBudget(by="samples", amount=1_500, evaluations=3)
    result = train_strategy(regime_task, config, COST, budget=budget, log=None)

    days = result.samples * regime_task.data.episode_len
    assert budget.amount <= days < budget.amount + days_per_step
    # One validation per mark (500, 1000, 1500 days), each at the first step reaching it.
    marks = [h["samples"] for h in result.history]
    assert len(marks) == 3
    for i, seen in enumerate(marks):
        assert budget.mark(i) <= seen < budget.mark(i) + days_per_step
    # Patience does not cut a budget short, and the kept weights are the best validation.
    valid = regime_task.episodes("valid", stride=20)
    replayed = validation_of(
        policy_positions(result.model, valid, regime_task.table, COST),
        valid,
        COST,
        regime_task.episode_dates(valid),
    ).metrics
    best = max(h["valid_ir"] for h in result.history)
    assert replayed["valid_ir"] == pytest.approx(best, abs=1e-12)


def test_seconds_budget_counts_training_steps_only(regime_task):
    config = StrategyConfig(feature_dim=regime_task.dim, batch_size=16, hidden_size=16)
    budget = TrainingBudget(by="seconds", amount=0.6, evaluations=2)
    result = train_strategy(regime_task, config, COST, budget=budget, log=None)
    assert result.train_seconds >= budget.amount
    assert result.seconds > result.train_seconds  # validation time is not counted
    assert [h["train_seconds"] >= budget.mark(i) for i, h in enumerate(result.history)] == [
        True,
        True,
    ]


def test_bad_budget_names_the_field():
    with pytest.raises(ConfigError, match="by must be one of samples, seconds"):
        TrainingBudget(by="steps")
    with pytest.raises(ConfigError, match="amount must be > 0"):
        TrainingBudget(amount=0)
