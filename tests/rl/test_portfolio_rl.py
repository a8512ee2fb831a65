"""RLlib PPO and SAC train on PortfolioEnv (Dict observation, Box scores), one local Ray; the
greedy lockstep rollout used by compare.py equals a one-env-at-a-time reference."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ray.rllib.core.columns import Columns
from ray.rllib.utils.spaces.space_utils import flatten_to_single_ndarray

from quantray.config import DataConfig, SplitConfig
from quantray.data.synthetic import generate, write_bars
from quantray.envs.portfolio_env import PortfolioEnv
from quantray.evaluate.portfolio import evaluate_weights
from quantray.rl.portfolio import portfolio_config, portfolio_rl_weights


@pytest.fixture(scope="module")
def env_config(tmp_path_factory):
    bars = {s: f.drop(columns="regime") for s, f in generate(3, 700, seed=4).items()}
    path = write_bars(bars, tmp_path_factory.mktemp("pf") / "bars.parquet")
    return {
        "data": str(path),
        "cost": "us_equity",
        "data_config": DataConfig(window=30),
        "split_config": SplitConfig(embargo=27),
    }


@pytest.mark.slow  # a Ray start plus one PPO and one SAC iteration: ~30 s on 2 idle cores
@pytest.mark.parametrize("algo", ["ppo", "sac"])
def test_rllib_trains_and_plays_the_portfolio_env(ray_local, env_config, algo) -> None:
    algo_ = portfolio_config(algo, env_config, smoke=True).build_algo()
    try:
        result = algo_.train()
        learner = result["learners"]["default_policy"]
        assert result["env_runners"]["num_env_steps_sampled_lifetime"] >= 20
        losses = [v for k, v in learner.items() if k.endswith("loss")]
        assert losses and all(np.isfinite(v) for v in losses)

        env = PortfolioEnv(**env_config, split="valid", mode="eval")
        task = env.task
        n = 3
        weights = portfolio_rl_weights(algo_, task, "valid", n, "us_equity")
        assert weights.shape == (n, task.episode_len, task.n_assets)
        # Reference: one env, one observation at a time, flattened by RLlib's own utility.
        module = algo_.get_module()
        dist_cls = module.get_inference_action_dist_cls()
        rewards = np.zeros((n, task.episode_len))
        for i in range(n):
            obs, _ = env.reset(options={"episode_index": i})
            for t in range(task.episode_len):
                flat = flatten_to_single_ndarray(obs)[None].astype(np.float32)
                with torch.no_grad():
                    out = module.forward_inference({Columns.OBS: torch.from_numpy(flat)})
                dist = dist_cls.from_logits(out[Columns.ACTION_DIST_INPUTS]).to_deterministic()
                obs, rewards[i, t], _, _, info = env.step(dist.sample().numpy()[0])
                np.testing.assert_allclose(weights[i, t], info["target_weights"], atol=1e-6)
        episodes = task.episodes("valid", stride=task.episode_len).subset(np.arange(n))
        _, paths = evaluate_weights(algo, weights, episodes, env.book.cost)
        np.testing.assert_allclose(paths["net"], rewards, atol=1e-6)
    finally:
        algo_.stop()
