"""Stage-2 training to a TrainingBudget: the budget is spent to within one optimizer step,
validation falls on the budget's marks, and the kept model is the best validation epoch."""

from __future__ import annotations

import numpy as np
import pytest

from quantray.config import ConfigError, CostConfig, StrategyConfig, TrainingBudget
from quantray.train.best_checkpoint import BestCheckpoint
from quantray.train.budget_progress import BudgetProgress
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


def test_budget_progress_validates_once_per_mark_reached_and_stops_at_the_amount():
    # 100 env-days in 4 validations: marks at 25, 50, 75, 100.
    progress = BudgetProgress(TrainingBudget(by="samples", amount=100, evaluations=4))
    due = [(used, progress.validation_due(used, 0.0)) for used in (10, 20, 30, 80, 90, 99)]
    # 30 reaches 25; 80 crosses both 50 and 75 (one validation); 90 and 99 reach no new mark.
    assert due == [(10, False), (20, False), (30, True), (80, True), (90, False), (99, False)]
    assert progress.marks_passed == 3 and not progress.done
    assert progress.validation_due(130, 0.0) and progress.done and progress.marks_passed == 4
    # A seconds budget counts training seconds only, not samples.
    seconds = BudgetProgress(TrainingBudget(by="seconds", amount=2.0, evaluations=1))
    assert not seconds.validation_due(10_000, 1.5)
    assert seconds.validation_due(0, 2.0) and seconds.done


def test_best_checkpoint_keeps_the_first_finite_then_only_strictly_better_scores():
    kept = BestCheckpoint("valid_ir")
    assert np.isnan(kept.value) and kept.best == {}
    offers = [float("nan"), 0.1, 0.3, 0.3, -0.2, float("inf"), 0.5]
    taken = [kept.offer({"valid_ir": v, "step": i}) for i, v in enumerate(offers)]
    assert taken == [False, True, True, False, False, False, True]
    assert kept.best == {"valid_ir": 0.5, "step": 6} and kept.value == 0.5
