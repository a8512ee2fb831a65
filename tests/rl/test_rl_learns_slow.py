"""Learnability (slow): PPO and SAC beat a random policy on the synthetic regime task.

The regime (bull +0.4%/day, bear -0.4%/day, sideways) persists for ~100 days, so the returns
of the last days, visible in the raw features and the episode return so far, tell the agent
whether to hold the asset. A random policy earns about half of buy-and-hold's (negative, on
this validation period) return; a learned greedy policy must do clearly better.
"""

from __future__ import annotations

import pytest

from quantray.config import CostConfig, PPOSettings, SACSettings
from quantray.evaluate import evaluate_positions, random_policy
from quantray.rl import evaluate_algo, ppo_config, sac_config

pytestmark = pytest.mark.slow

MARGIN = 0.003  # 0.3% per 20-day episode, mean over the validation list


def _random_return(task) -> float:
    valid = task.episodes("valid", stride=20)
    frames = [
        evaluate_positions(
            "random",
            random_policy(len(valid), 20, seed),
            valid.next_returns,
            CostConfig.preset("none"),
        )
        for seed in range(5)
    ]
    return float(sum(f.total_return.mean() for f in frames) / len(frames))


@pytest.mark.parametrize("algo", ["ppo", "sac"])
def test_rl_beats_random_policy_on_regime_task(ray_local, regime_task, algo):
    env_config = {"task": regime_task, "include_episode_return": True}
    if algo == "ppo":
        settings = PPOSettings(train_batch_size=1000, minibatch_size=200, num_epochs=4, lr=1e-3)
        config = ppo_config(env_config, settings, seed=0)
        iterations, action_type = 20, "discrete"
    else:
        # The builder's former defaults (updates_per_step 0.25 and learning_starts 1000 are
        # still SACSettings' defaults).
        settings = SACSettings(train_batch_size=128, initial_alpha=0.001, replay_capacity=200_000)
        assert (settings.updates_per_step, settings.learning_starts) == (0.25, 1000)
        config = sac_config(env_config, settings, seed=0)
        iterations, action_type = 60, "continuous"
    agent = config.build_algo()
    for _ in range(iterations):
        agent.train()
    frame = evaluate_algo(agent, regime_task, "valid", "none", action_type=action_type)
    agent.stop()
    assert frame.total_return.mean() > _random_return(regime_task) + MARGIN
