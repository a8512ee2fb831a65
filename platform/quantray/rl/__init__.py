"""RLlib glue (the only package that imports RLlib): PPO/SAC configs on the trading env,
the GRU actor-critic RLModule, the lean PPO learner and sampling path, trading metrics
callbacks, greedy evaluation and budget-limited training with validation selection.

    import ray
    from quantray.envs import shared_task
    from quantray.rl import TradingMetricsCallback, evaluate_algo, ppo_config

    ray.init()
    algo = ppo_config({"cost": "us_equity"}).callbacks(TradingMetricsCallback).build_algo()
    algo.train()
    frame = evaluate_algo(algo, shared_task(), "valid", "us_equity", action_type="discrete")
"""

from quantray.config.rl import PPOSettings, SACSettings
from quantray.rl.budget import RLRun, train_rl
from quantray.rl.callbacks import METRIC_KEYS, TradingMetricsCallback
from quantray.rl.config import (
    ENV_NAME,
    MODULES,
    algo_config,
    ppo_config,
    register_trading_env,
    sac_config,
)
from quantray.rl.evaluate import evaluate_algo, rl_positions
from quantray.rl.gru_module import GRUActorCritic
from quantray.rl.lean.learner import LeanPPOTorchLearner
from quantray.rl.lean.sampling import LeanPPOTorchRLModule

__all__ = [
    "ENV_NAME",
    "METRIC_KEYS",
    "MODULES",
    "GRUActorCritic",
    "LeanPPOTorchLearner",
    "LeanPPOTorchRLModule",
    "PPOSettings",
    "RLRun",
    "SACSettings",
    "TradingMetricsCallback",
    "algo_config",
    "evaluate_algo",
    "ppo_config",
    "register_trading_env",
    "rl_positions",
    "sac_config",
    "train_rl",
]
