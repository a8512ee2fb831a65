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

from quantray.config import (
    ConfigError,
    DataConfig,
    EnvSettings,
    PPOSettings,
    RLSettings,
    SACSettings,
    check_choice,
)
from quantray.envs import ENV_ID
from quantray.rl.lean.learner import LeanPPOTorchLearner
from quantray.rl.lean.sampling import LeanPPOTorchRLModule, lean_env_to_module, lean_module_to_env

ENV_NAME = ENV_ID
"""Name of the env in RLlib's registry (the same id as Gymnasium's)."""

MODULES = ("mlp", "gru")
"""PPO policy networks: RLlib's default MLP, or the recurrent GRU actor-critic."""

ALGOS = ("ppo", "sac")


def episode_len(env_config: dict[str, Any]) -> int:
    """E of the env ``env_config`` builds: its prebuilt Task's, else its ``data_config``'s
    (RLlib cuts rollout fragments and GRU training sequences at this length)."""
    task = env_config.get("task")
    if task is not None:
        return int(task.data.episode_len if hasattr(task, "data") else task.episode_len)
    data_config = env_config.get("data_config")
    if isinstance(data_config, dict):
        data_config = DataConfig.from_dict(data_config)
    return (data_config or DataConfig()).episode_len


def env_config_of(env: EnvSettings | dict[str, Any] | None, **fields: Any) -> dict[str, Any]:
    """RLlib's ``env_config``: ``EnvSettings`` as a plain dict (checked here, in the driver, so
    a misspelt field fails before any env runner starts), plus a shared ``task`` if given."""
    given = dict(env.to_dict() if isinstance(env, EnvSettings) else (env or {}))
    extra = {k: given.pop(k) for k in ("task", "num_envs") if k in given}
    settings = EnvSettings.from_dict({**given, **fields})
    return {**settings.to_dict(), **extra}


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


def _common(config: Any, env_config: dict[str, Any], s: RLSettings, runners: int, seed: int) -> Any:
    """What PPO and SAC configure alike: the registered env, torch, ``runners`` env-runner
    actors of ``s.num_envs`` envs each, the discount, the seed, and no minimum time or
    samples per iteration (one ``train()`` = one sampling round and its updates)."""
    return (
        config.environment(ENV_NAME, env_config=env_config)
        .framework("torch")
        .env_runners(num_env_runners=runners, num_envs_per_env_runner=s.num_envs)
        .training(gamma=s.gamma)
        .debugging(seed=seed)
        .reporting(min_time_s_per_iteration=0, min_sample_timesteps_per_iteration=0)
    )


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
    env_config: EnvSettings | dict[str, Any] | None = None,
    settings: PPOSettings | None = None,
    *,
    smoke: bool = False,
    seed: int = 0,
    module: str = "mlp",
    num_env_runners: int = 0,
    strategy_checkpoint: str | None = None,
    evaluation_interval: int | None = None,
    evaluation_episodes: int = 10,
    lean_learner: bool = True,
    lean_sampling: bool = True,
) -> PPOConfig:
    """PPO on ``Discrete(11)`` positions, new API stack.

    Args:
        env_config: the env's ``EnvSettings`` (or its dict, optionally with a shared ``task``);
            ``action_type`` is forced to "discrete"; ``module="gru"`` also sets
            ``include_episode_return=True``, the GRU's third portfolio input.
        settings: PPO's hyperparameters (``quantray.config.PPOSettings`` documents each);
            default ``PPOSettings.smoke()`` when ``smoke`` (400 env steps = 20 episodes, 2
            epochs, seconds-long runs), else ``PPOSettings()``.
        seed: seeds the env runners and the learner (same seed, same run on CPU).
        module: "mlp" (RLlib's default MLP, ``hidden`` x ``hidden``, tanh) or "gru"
            (``quantray.rl.gru_module.GRUActorCritic``, hidden size ``hidden``).
        num_env_runners: env-runner actors (0 = sample in the driver's process).
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
    s = settings or (PPOSettings.smoke() if smoke else PPOSettings())
    register_trading_env()
    extra = {"include_episode_return": True} if module == "gru" else {}
    env_config = env_config_of(env_config, action_type="discrete", **extra)
    config = (
        _common(PPOConfig(), env_config, s, num_env_runners, seed)
        # train batch / (runners x envs) steps per env and sampling round; a multiple of
        # E = 20 keeps episodes whole (the defaults are), but any size works.
        .env_runners(rollout_fragment_length="auto")
        .learners(num_learners=0, learner_class=LeanPPOTorchLearner if lean_learner else None)
        .training(
            lr=s.lr,
            train_batch_size_per_learner=s.train_batch_size,
            minibatch_size=s.minibatch_size,
            num_epochs=s.num_epochs,
            lambda_=s.lambda_,
            entropy_coeff=s.entropy_coeff,
            clip_param=s.clip_param,
            vf_clip_param=s.vf_clip_param,
        )
    )
    hidden = s.hidden
    if module == "gru":
        from quantray.rl.gru_module import GRUActorCritic

        model_config: dict[str, Any] = {
            "hidden_size": hidden,
            "head_hidden": hidden,
            # Training sequences of up to one episode, each starting from the GRU state
            # stored at its first step (zero at an episode start, as in StrategyGRU).
            "max_seq_len": episode_len(env_config),
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
    env_config: EnvSettings | dict[str, Any] | None = None,
    settings: SACSettings | None = None,
    *,
    smoke: bool = False,
    seed: int = 0,
    num_env_runners: int = 0,
    evaluation_interval: int | None = None,
    evaluation_episodes: int = 10,
) -> SACConfig:
    """SAC on the ``Box(0, 1)`` position, new API stack.

    Args:
        env_config: the env's ``EnvSettings`` (or its dict, optionally with a shared
            ``task``); ``action_type`` is forced to "continuous".
        settings: SAC's hyperparameters (``quantray.config.SACSettings`` documents each);
            default ``SACSettings.smoke()`` when ``smoke`` (64-sample updates, one per 80 env
            steps, learning after the first sampling round), else ``SACSettings()``.
        seed: seeds the env runners and the learner.
        num_env_runners: env-runner actors (0 = sample in the driver's process).
        evaluation_interval: RLlib's greedy evaluation on the validation list every this many
            iterations (None: off), over its first ``evaluation_episodes`` episodes.
    """
    s = settings or (SACSettings.smoke() if smoke else SACSettings())
    register_trading_env()
    env_config = env_config_of(env_config, action_type="continuous")
    E = episode_len(env_config)
    config = (
        _common(SACConfig(), env_config, s, num_env_runners, seed)
        .env_runners(rollout_fragment_length=E)
        .learners(num_learners=0)
        .training(
            train_batch_size_per_learner=s.train_batch_size,
            # RLlib's training_intensity is replayed samples per sampled step: batch *
            # updates per step.
            training_intensity=s.train_batch_size * s.updates_per_step,
            num_steps_sampled_before_learning_starts=s.learning_starts,
            replay_buffer_config={
                "type": "PrioritizedEpisodeReplayBuffer",
                "capacity": s.replay_capacity,
                "alpha": s.replay_alpha,
                "beta": s.replay_beta,
            },
            initial_alpha=s.initial_alpha,
            actor_lr=s.lr,
            critic_lr=s.lr,
            alpha_lr=s.lr,
            tau=s.tau,
        )
        .rl_module(
            model_config=DefaultModelConfig(
                fcnet_hiddens=[s.hidden, s.hidden], fcnet_activation="relu"
            )
        )
    )
    _evaluation(config, env_config, evaluation_interval, evaluation_episodes)
    return config


def algo_config(
    algo: str, env_config: EnvSettings | dict[str, Any] | None = None, **kwargs: Any
) -> Any:
    """``ppo_config`` or ``sac_config`` by name ("ppo" | "sac")."""
    check_choice("algo_config", "algo", algo, ALGOS)
    if algo == "ppo":
        return ppo_config(env_config, **kwargs)
    kwargs.pop("module", None)
    return sac_config(env_config, **kwargs)
