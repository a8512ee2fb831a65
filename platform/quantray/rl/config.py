"""RLlib PPO and SAC configurations for the trading env (RLlib's new API stack).

The env is ``quantray.envs.TradingEnv``, registered with RLlib under ``ENV_NAME`` by
``register_trading_env`` (every builder calls it). ``env_config`` is the dict of TradingEnv
keyword arguments (``data``, ``features``, ``cost``, ``split``, ...); env runners build one env
per copy with ``TradingEnv(**env_config)``, and those sharing a process share one Task
(``quantray.envs.shared_task``).

* PPO acts on ``Discrete(11)`` (positions 0%, 10%, ..., 100%), with RLlib's default MLP or our
  recurrent GRU actor-critic (``quantray.rl.gru_module``).
* SAC acts on the ``Box(0, 1)`` variant (``action_type="continuous"``). RLlib 2.60's new-stack
  SAC also accepts ``Discrete`` (SAC-Discrete in ``SACCatalog`` / ``SACTorchLearner``); we use
  the continuous variant so SAC and PPO cover both action types.

Smoke settings keep a run to seconds on 2 CPU cores: tiny batches, local sampling (no extra
env-runner actors unless asked), and for SAC a learning start after one round of sampling
and one update per 80 env steps. RLlib's SAC defaults (one 256-sample update per env
step, ~55 ms each on this CPU) sample only ~16 env steps/s.
"""

from __future__ import annotations

from typing import Any

from ray.rllib.algorithms.ppo import PPOConfig
from ray.rllib.algorithms.sac import SACConfig
from ray.rllib.core.rl_module.default_model_config import DefaultModelConfig
from ray.rllib.core.rl_module.rl_module import RLModuleSpec
from ray.tune.registry import register_env

from quantray.config import ConfigError, check_choice
from quantray.envs import ENV_ID
from quantray.rl.lean.learner import LeanPPOTorchLearner
from quantray.rl.lean.sampling import LeanPPOTorchRLModule, lean_env_to_module, lean_module_to_env

ENV_NAME = ENV_ID
"""Name of the env in RLlib's registry (the same id as Gymnasium's)."""

MODULES = ("mlp", "gru")
"""PPO policy networks: RLlib's default MLP, or the recurrent GRU actor-critic."""

ALGOS = ("ppo", "sac")

EPISODE_LEN = 20
"""E: steps per episode of the env (``DataConfig.episode_len``); sets rollout fragments."""


def _make_env(env_config: dict[str, Any]) -> Any:
    """``TradingEnv(**env_config)``; with ``num_envs`` in it (RLlib's vector entry point:
    ``gym_env_vectorize_mode="vector_entry_point"``), one ``TradingVectorEnv`` of that many."""
    # Imported here so the registry entry is cheap to create and picklable.
    from quantray.envs.trading_env import TradingEnv
    from quantray.envs.vector_env import TradingVectorEnv

    kwargs = dict(env_config)
    num_envs = kwargs.pop("num_envs", None)
    if num_envs is None:
        return TradingEnv(**kwargs)
    return TradingVectorEnv(num_envs=int(num_envs), **kwargs)


def register_trading_env() -> str:
    """Register ``TradingEnv`` with RLlib's env registry (idempotent); returns its name."""
    register_env(ENV_NAME, _make_env)
    return ENV_NAME


def _evaluation(
    config: Any, env_config: dict[str, Any], interval: int | None, episodes: int
) -> None:
    """RLlib's own greedy evaluation every ``interval`` iterations (None: off) on the first
    ``episodes`` entries of the validation split's fixed list, in order (one env, so the list
    is replayed from its start). ``quantray.rl.evaluate`` is the scored evaluation; this one
    shows validation progress in ``result["evaluation"]`` during training."""
    if interval is None:
        return
    eval_env = {**env_config, "split": "valid", "mode": "eval"}
    eval_env.pop("episode_indices", None)
    config.evaluation(
        evaluation_interval=interval,
        evaluation_duration=episodes,
        evaluation_duration_unit="episodes",
        evaluation_num_env_runners=0,
        evaluation_config={
            "explore": False,
            "env_config": eval_env,
            "num_envs_per_env_runner": 1,
        },
    )


def ppo_config(
    env_config: dict[str, Any] | None = None,
    *,
    smoke: bool = False,
    seed: int = 0,
    module: str = "mlp",
    num_env_runners: int = 0,
    num_envs_per_env_runner: int | None = None,
    train_batch_size: int | None = None,
    minibatch_size: int | None = None,
    num_epochs: int | None = None,
    lr: float = 3e-4,
    entropy_coeff: float = 0.01,
    gamma: float = 0.99,
    lambda_: float = 0.95,
    clip_param: float = 0.2,
    hidden: int = 64,
    strategy_checkpoint: str | None = None,
    evaluation_interval: int | None = None,
    evaluation_episodes: int = 10,
    lean_learner: bool = True,
    lean_sampling: bool = True,
) -> PPOConfig:
    """PPO on ``Discrete(11)`` positions, new API stack.

    Args:
        env_config: TradingEnv keyword arguments (``action_type`` is forced to "discrete";
            ``module="gru"`` also sets ``include_episode_return=True``, the GRU's third
            portfolio input).
        smoke: tiny batches (400 env steps = 20 episodes, 2 epochs) for seconds-long runs.
        seed: seeds the env runners and the learner (same seed, same run on CPU).
        module: "mlp" (RLlib's default MLP, ``hidden`` x ``hidden``, tanh) or "gru"
            (``quantray.rl.gru_module.GRUActorCritic``, hidden size ``hidden``).
        num_env_runners: env-runner actors (0 = sample in the driver's process).
        num_envs_per_env_runner: envs per runner, stepped as one batch (default 4 smoke, 8).
        train_batch_size / minibatch_size / num_epochs: PPO's batch settings (defaults: 400 /
            100 / 2 smoke; 4000 / 256 / 6 otherwise).
        lr: Adam learning rate.
        entropy_coeff / gamma / lambda_ / clip_param: PPO's entropy bonus, discount, GAE
            lambda and ratio clip (``quantray.config.rl.PPOSettings`` documents them).
        hidden: hidden width of the MLP layers, or of the GRU state and its heads.
        strategy_checkpoint: ``module="gru"`` only: a stage-2 ``strategy.pt`` whose GRUCell
            and position head initialise the actor (PPO then fine-tunes the GRU strategy).
        evaluation_interval: run RLlib's greedy evaluation on the validation list every this
            many iterations (None: off), over its first ``evaluation_episodes`` episodes.
        lean_learner: step the epochs x minibatches with ``quantray.rl.lean.learner``'s
            ``LeanPPOTorchLearner`` (same PPO update, ~3x less overhead per minibatch);
            False: RLlib's stock ``PPOTorchLearner``.
        lean_sampling: ``module="mlp"`` only: sample through ``quantray.rl.lean.sampling``'s
            two connector pieces, module and ``TradingVectorEnv`` (~2x fewer seconds per env
            step; with one env the same episodes as RLlib's default pipelines, with N envs
            the vector env draws starts from one seeded generator where SyncVectorEnv seeds
            each env apart); False: RLlib's defaults.
    """
    check_choice("ppo_config", "module", module, MODULES)
    if strategy_checkpoint is not None and module != "gru":
        raise ConfigError(
            "strategy_checkpoint initialises the GRU actor-critic; use module='gru' with it"
        )
    register_trading_env()
    env_config = {**(env_config or {}), "action_type": "discrete"}
    if module == "gru":
        env_config["include_episode_return"] = True
    envs = num_envs_per_env_runner or (4 if smoke else 8)
    batch = train_batch_size or (400 if smoke else 4000)
    config = (
        PPOConfig()
        .environment(ENV_NAME, env_config=env_config)
        .framework("torch")
        .env_runners(
            num_env_runners=num_env_runners,
            num_envs_per_env_runner=envs,
            # train batch / (runners x envs) steps per env and sampling round; a multiple of
            # E = 20 keeps episodes whole (the defaults are), but any size works.
            rollout_fragment_length="auto",
        )
        .learners(num_learners=0, learner_class=LeanPPOTorchLearner if lean_learner else None)
        .training(
            lr=lr,
            train_batch_size_per_learner=batch,
            minibatch_size=minibatch_size or (100 if smoke else 256),
            num_epochs=num_epochs or (2 if smoke else 6),
            # Rewards are daily returns (~1e-2): the value clip must not bind on them, and
            # a small entropy bonus keeps all 11 positions explored early on.
            gamma=gamma,
            lambda_=lambda_,
            entropy_coeff=entropy_coeff,
            clip_param=clip_param,
            vf_clip_param=10.0,
        )
        .debugging(seed=seed)
        .reporting(min_time_s_per_iteration=0, min_sample_timesteps_per_iteration=0)
    )
    if module == "gru":
        from quantray.rl.gru_module import GRUActorCritic

        model_config: dict[str, Any] = {
            "hidden_size": hidden,
            "head_hidden": hidden,
            # Training sequences of up to one episode, each starting from the GRU state
            # stored at its first step (zero at an episode start, as in StrategyGRU).
            "max_seq_len": EPISODE_LEN,
        }
        if strategy_checkpoint is not None:
            model_config["strategy_checkpoint"] = str(strategy_checkpoint)
        config.rl_module(
            rl_module_spec=RLModuleSpec(module_class=GRUActorCritic, model_config=model_config)
        )
    else:
        model_config = DefaultModelConfig(
            fcnet_hiddens=[hidden, hidden], fcnet_activation="tanh", vf_share_layers=False
        )
        if lean_sampling:
            config.rl_module(
                rl_module_spec=RLModuleSpec(
                    module_class=LeanPPOTorchRLModule, model_config=model_config
                )
            )
            config.env_runners(
                gym_env_vectorize_mode="vector_entry_point",
                env_to_module_connector=lean_env_to_module,
                add_default_connectors_to_env_to_module_pipeline=False,
                module_to_env_connector=lean_module_to_env,
                add_default_connectors_to_module_to_env_pipeline=False,
            )
        else:
            config.rl_module(model_config=model_config)
    _evaluation(config, env_config, evaluation_interval, evaluation_episodes)
    return config


def sac_config(
    env_config: dict[str, Any] | None = None,
    *,
    smoke: bool = False,
    seed: int = 0,
    num_env_runners: int = 0,
    num_envs_per_env_runner: int | None = None,
    train_batch_size: int | None = None,
    updates_per_step: float | None = None,
    learning_starts: int | None = None,
    initial_alpha: float = 0.01,
    hidden: int = 64,
    lr: float = 3e-4,
    tau: float = 5e-3,
    gamma: float = 0.99,
    replay_capacity: int | None = None,
    evaluation_interval: int | None = None,
    evaluation_episodes: int = 10,
) -> SACConfig:
    """SAC on the ``Box(0, 1)`` position, new API stack.

    Args:
        env_config: TradingEnv keyword arguments (``action_type`` is forced to "continuous").
        smoke: tiny replay batches and an early learning start for seconds-long runs.
        seed: seeds the env runners and the learner.
        num_env_runners / num_envs_per_env_runner: sampling layout (envs default 4 smoke, 8).
        train_batch_size: replay samples per update (default 64 smoke, 256).
        updates_per_step: gradient updates per sampled env step (default 1/80 smoke, 1/20).
            RLlib's default does one update per env step, which costs ~55 ms on 2 CPU cores.
        learning_starts: env steps sampled before the first update (default one sampling
            round in smoke runs, 1000 otherwise).
        initial_alpha: starting entropy temperature. Rewards are daily returns (~1e-2), so
            RLlib's default alpha = 1 would make the entropy bonus dominate for a long time.
        hidden: width of the two hidden layers of the actor and the twin critics.
        lr: Adam learning rate of the actor, the critics and alpha.
        tau / gamma: target-critic Polyak rate and discount.
        replay_capacity: replay buffer size in env steps (default 20k smoke, 200k).
        evaluation_interval: RLlib's greedy evaluation on the validation list every this many
            iterations (None: off), over its first ``evaluation_episodes`` episodes.
    """
    register_trading_env()
    env_config = {**(env_config or {}), "action_type": "continuous"}
    envs = num_envs_per_env_runner or (4 if smoke else 8)
    batch = train_batch_size or (64 if smoke else 256)
    per_step = updates_per_step or (1 / 80 if smoke else 1 / 20)
    steps_per_round = EPISODE_LEN * envs * max(num_env_runners, 1)
    config = (
        SACConfig()
        .environment(ENV_NAME, env_config=env_config)
        .framework("torch")
        .env_runners(
            num_env_runners=num_env_runners,
            num_envs_per_env_runner=envs,
            rollout_fragment_length=EPISODE_LEN,
        )
        .learners(num_learners=0)
        .training(
            train_batch_size_per_learner=batch,
            # RLlib's training_intensity is replayed samples per sampled step: batch *
            # updates per step.
            training_intensity=batch * per_step,
            num_steps_sampled_before_learning_starts=(
                learning_starts
                if learning_starts is not None
                else (steps_per_round if smoke else 1000)
            ),
            replay_buffer_config={
                "type": "PrioritizedEpisodeReplayBuffer",
                "capacity": replay_capacity or (20_000 if smoke else 200_000),
                "alpha": 0.6,
                "beta": 0.4,
            },
            initial_alpha=initial_alpha,
            actor_lr=lr,
            critic_lr=lr,
            alpha_lr=lr,
            gamma=gamma,
            tau=tau,
        )
        .rl_module(
            model_config=DefaultModelConfig(fcnet_hiddens=[hidden, hidden], fcnet_activation="relu")
        )
        .debugging(seed=seed)
        .reporting(min_time_s_per_iteration=0, min_sample_timesteps_per_iteration=0)
    )
    _evaluation(config, env_config, evaluation_interval, evaluation_episodes)
    return config


def algo_config(algo: str, env_config: dict[str, Any] | None = None, **kwargs: Any) -> Any:
    """``ppo_config`` or ``sac_config`` by name ("ppo" | "sac")."""
    check_choice("algo_config", "algo", algo, ALGOS)
    if algo == "ppo":
        return ppo_config(env_config, **kwargs)
    kwargs.pop("module", None)
    return sac_config(env_config, **kwargs)
