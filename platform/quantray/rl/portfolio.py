"""RLlib PPO and SAC on ``quantray/PortfolioEnv-v0`` (new API stack).

The portfolio env observes a ``Dict`` (features [N, D], mask [N], weights [N+1], day [1]) and
acts with a ``Box(-1, 1, (N+1,))`` of scores. RLlib's default encoders take flat vectors, so
both configs put RLlib's ``FlattenObservations`` connector in front of the default
env-to-module pipeline (the same flattening on the learner side is derived by RLlib from
the env runner's pipeline). The default MLP then reads the concatenated observation and
outputs a Gaussian over the N+1 scores (PPO) or a squashed Gaussian (SAC); the env maps any
scores to legal weights, so no action constraint is needed in the policy.

``env_config`` is the dict of ``PortfolioEnv`` keyword arguments (``data``, ``universe``,
``features``, ``cost``, ``cap``, ``split``, ``data_config``, ``split_config``, ...); runners
sharing a process share one universe (``quantray.envs.portfolio_market``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from ray.rllib.algorithms.ppo import PPOConfig
from ray.rllib.algorithms.sac import SACConfig
from ray.rllib.connectors.env_to_module import FlattenObservations
from ray.rllib.core.rl_module.default_model_config import DefaultModelConfig
from ray.tune.registry import register_env

from quantray.config import CostConfig, check_choice
from quantray.data.universe import PortfolioTask
from quantray.envs import PORTFOLIO_ENV_ID
from quantray.rl.config import episode_len

PORTFOLIO_ENV_NAME = PORTFOLIO_ENV_ID
"""Name of the portfolio env in RLlib's registry (the Gymnasium id)."""

PORTFOLIO_RL_PARAMS = {
    "ppo": ("lr", "gamma", "lambda_", "entropy_coeff", "clip_param"),
    "sac": ("actor_lr", "critic_lr", "tau", "initial_alpha", "gamma"),
}
"""RLlib ``.training()`` arguments ``compare.py --task portfolio --tune`` searches per algo."""


def _make_portfolio_env(env_config: dict[str, Any]) -> Any:
    from quantray.envs.portfolio_env import PortfolioEnv

    return PortfolioEnv(**dict(env_config))


def register_portfolio_env() -> str:
    """Register ``PortfolioEnv`` with RLlib's env registry (idempotent); returns its name."""
    register_env(PORTFOLIO_ENV_NAME, _make_portfolio_env)
    return PORTFOLIO_ENV_NAME


def _flatten(env: Any = None, spaces: Any = None, device: Any = None) -> Any:
    return FlattenObservations()


def portfolio_config(
    algo: str,
    env_config: dict[str, Any] | None = None,
    *,
    smoke: bool = False,
    seed: int = 0,
    num_env_runners: int = 0,
    num_envs_per_env_runner: int | None = None,
    hidden: int = 64,
    training: dict[str, Any] | None = None,
) -> PPOConfig | SACConfig:
    """PPO or SAC ("ppo" | "sac") on the portfolio env with RLlib's default MLP.

    Smoke settings (``smoke=True``): 200 env steps per PPO iteration (10 episodes) and SAC
    updates from the first sampling round, so an iteration takes seconds on 2 CPU cores.
    ``training``: keyword arguments of RLlib's ``.training()`` over these defaults (the
    tuned hyperparameters: ``PORTFOLIO_RL_PARAMS``).
    """
    check_choice("portfolio_config", "algo", algo, ("ppo", "sac"))
    register_portfolio_env()
    envs = num_envs_per_env_runner or (2 if smoke else 8)
    E = episode_len(dict(env_config or {}))
    if algo == "ppo":
        config: Any = (
            PPOConfig()
            .training(
                lr=3e-4,
                train_batch_size_per_learner=200 if smoke else 4000,
                minibatch_size=100 if smoke else 256,
                num_epochs=2 if smoke else 6,
                gamma=0.99,
                lambda_=0.95,
                entropy_coeff=0.0,
                vf_clip_param=10.0,
            )
            .rl_module(
                model_config=DefaultModelConfig(
                    fcnet_hiddens=[hidden, hidden], fcnet_activation="tanh"
                )
            )
        )
    else:
        config = (
            SACConfig()
            .training(
                train_batch_size_per_learner=32 if smoke else 256,
                training_intensity=32 / 20 if smoke else 256 / 20,
                num_steps_sampled_before_learning_starts=E * envs if smoke else 1000,
                replay_buffer_config={
                    "type": "PrioritizedEpisodeReplayBuffer",
                    "capacity": 10_000 if smoke else 200_000,
                    "alpha": 0.6,
                    "beta": 0.4,
                },
                initial_alpha=0.01,
                gamma=0.99,
            )
            .rl_module(
                model_config=DefaultModelConfig(
                    fcnet_hiddens=[hidden, hidden], fcnet_activation="relu"
                )
            )
        )
    if training:
        unknown = sorted(set(training) - set(PORTFOLIO_RL_PARAMS[algo]))
        if unknown:
            raise ValueError(
                f"portfolio_config: {algo} parameters {unknown} are not tunable here; expected "
                f"a subset of {', '.join(PORTFOLIO_RL_PARAMS[algo])}"
            )
        config = config.training(**training)
    return (
        config.environment(PORTFOLIO_ENV_NAME, env_config=dict(env_config or {}))
        .framework("torch")
        .env_runners(
            num_env_runners=num_env_runners,
            num_envs_per_env_runner=envs,
            rollout_fragment_length=E,
            env_to_module_connector=_flatten,
        )
        .learners(num_learners=0)
        .debugging(seed=seed)
        .reporting(min_time_s_per_iteration=0, min_sample_timesteps_per_iteration=0)
    )


def flatten_observations(obs: dict[str, np.ndarray]) -> np.ndarray:
    """[M, K] float32: a batch of Dict observations flattened as ``FlattenObservations`` does
    (keys in sorted order, each item flattened after the batch axis)."""
    batch = len(obs["day"])
    return np.concatenate(
        [np.asarray(obs[k], dtype=np.float32).reshape(batch, -1) for k in sorted(obs)], axis=1
    )  # [M, ...] per key -> [M, K]


def portfolio_rl_weights(
    algo: Any, task: PortfolioTask, split: str, n_episodes: int, cost: str | CostConfig
) -> np.ndarray:
    """Play the split's fixed stride-E list greedily (the policy's deterministic action) in
    lockstep on a ``PortfolioVectorEnv``; returns target weights [n, E, N] to score with
    ``evaluate.portfolio.evaluate_weights`` (the env's rewards are that accounting)."""
    return module_weights(
        algo.get_module(), task, split, n_episodes, cost, cap=algo.config.env_config.get("cap")
    )


def module_weights(
    module: Any,
    task: PortfolioTask,
    split: str,
    n_episodes: int,
    cost: str | CostConfig,
    *,
    cap: float | None = None,
) -> np.ndarray:
    """``portfolio_rl_weights`` for a bare RLModule (e.g. the best validation weights kept
    after its Algorithm stopped): target weights [n, E, N] on ``split``'s fixed list."""
    import torch
    from ray.rllib.core.columns import Columns

    from quantray.envs.portfolio_vector_env import PortfolioVectorEnv

    module.eval()
    env = PortfolioVectorEnv(n_episodes, task=task, split=split, mode="eval", cost=cost, cap=cap)
    obs, _ = env.reset(seed=0)
    E, N = task.episode_len, task.n_assets
    weights = np.zeros((n_episodes, E, N))
    dist_cls = module.get_inference_action_dist_cls()
    for t in range(E):
        with torch.no_grad():
            out = module.forward_inference(
                {Columns.OBS: torch.from_numpy(flatten_observations(obs))}
            )
        dist = dist_cls.from_logits(out[Columns.ACTION_DIST_INPUTS]).to_deterministic()
        actions = dist.sample().cpu().numpy().astype(np.float64)  # [M, N+1]
        obs, _, _, _, info = env.step(actions)
        weights[:, t] = info["target_weights"]
    return weights


def train_portfolio_rl(
    algo_name: str,
    task: PortfolioTask,
    split: str,
    *,
    env_config: dict[str, Any],
    seed: int = 0,
    smoke: bool = False,
    iterations: int | None = None,
) -> tuple[np.ndarray, int]:
    """Train PPO or SAC on the train split (``env_config``: the same data, universe, features
    and cost as ``task``), then play ``split``'s fixed list greedily.

    Returns (target weights [n, E, N], env steps sampled). Needs a running Ray."""
    n_iter = iterations or ((2 if algo_name == "ppo" else 4) if smoke else 30)
    algo = portfolio_config(
        algo_name, {**env_config, "split": "train"}, smoke=smoke, seed=seed
    ).build_algo()
    try:
        steps = 0
        for _ in range(n_iter):
            result = algo.train()
            steps = int(result.get("env_runners", {}).get("num_env_steps_sampled_lifetime", 0))
        n = len(task.episode_starts(split, stride=task.episode_len))
        weights = portfolio_rl_weights(algo, task, split, n, env_config.get("cost", "none"))
    finally:
        algo.stop()
    return weights, steps
