"""RLlib PPO and SAC train on PortfolioEnv (Dict observation, Box scores), one local Ray."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ray.rllib.core.columns import Columns
from ray.rllib.utils.spaces.space_utils import flatten_to_single_ndarray

from quantray.config import DataConfig, SplitConfig
from quantray.data.synthetic import generate, write_bars
from quantray.envs.portfolio_env import PortfolioEnv
from quantray.rl.portfolio import portfolio_config


@pytest.fixture(scope="module")
def bars_file(tmp_path_factory):
    bars = {s: f.drop(columns="regime") for s, f in generate(3, 700, seed=4).items()}
    return str(write_bars(bars, tmp_path_factory.mktemp("pf") / "bars.parquet"))


@pytest.mark.slow  # a Ray start plus one PPO and one SAC iteration: ~30 s on 2 idle cores
@pytest.mark.parametrize("algo", ["ppo", "sac"])
def test_rllib_trains_on_the_portfolio_env(ray_local, bars_file, algo) -> None:
    env_config = {
        "data": bars_file,
        "cost": "us_equity",
        "data_config": DataConfig(window=30),
        "split_config": SplitConfig(embargo=27),
    }
    algo_ = portfolio_config(algo, env_config, smoke=True).build_algo()
    try:
        result = algo_.train()
        learner = result["learners"]["default_policy"]
        assert result["env_runners"]["num_env_steps_sampled_lifetime"] >= 20
        losses = [v for k, v in learner.items() if k.endswith("loss")]
        assert losses and all(np.isfinite(v) for v in losses)
        # The trained module acts on a real observation of the env (flattened as in training).
        env = PortfolioEnv(**env_config)
        obs, _ = env.reset(seed=0)
        module = algo_.get_module()
        flat = torch.from_numpy(flatten_to_single_ndarray(obs)[None].astype(np.float32))
        out = module.forward_inference({Columns.OBS: flat})
        assert torch.isfinite(out[Columns.ACTION_DIST_INPUTS]).all()
    finally:
        algo_.stop()
