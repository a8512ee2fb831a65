"""PPO and SAC hyperparameters as settings objects: the CLI, Tune trials and reports share them.

``PPOSettings`` / ``SACSettings`` are frozen and validated, and extend ``RLSettings`` (the
fields both algorithms have: lr, gamma, hidden, num_envs); ``quantray.rl.config``'s
``ppo_config`` / ``sac_config`` build RLlib configs from them (every hyperparameter lives here,
none in the builders). The defaults are sized to TRAIN each agent, not to run it: PPO at
4,000 env steps per iteration in 256-step minibatches, SAC with
one 256-sample update per 4 env steps (DQN-style ``train_freq=4``; stable-baselines3 uses 1 per
step, RLlib's defaults likewise, at ~55 ms an update on 2 CPU cores) from a 100k-step replay
buffer after 1,000 warm-up steps. ``smoke()`` gives the seconds-long CI sizes.
"""

from __future__ import annotations

from dataclasses import dataclass

from quantray.config.base import Config, check

RL_METHODS = ("ppo", "sac")
"""The RLlib algorithms: PPO on the discrete position levels, SAC on continuous positions."""
LEARNED_METHODS = ("gru", *RL_METHODS)
"""Every learned method a comparison, a walk-forward or a method search trains, in report
order: the stage-2 GRU, then the RLlib algorithms."""


@dataclass(frozen=True)
class RLSettings(Config):
    """What PPO and SAC both set: the learning rate, the discount, the network width and the
    envs per sampling round."""

    lr: float = 3e-4
    """Adam learning rate (SAC: of the actor, the twin critics and the temperature)."""
    gamma: float = 0.99
    """Discount factor."""
    hidden: int = 64
    """Width of the two hidden layers (PPO: of the MLP; SAC: of the actor and the critics)."""
    num_envs: int = 8
    """Envs stepped as one batch by the sampler (SAC: one sampling round = 20 x num_envs env
    steps, its budget granularity)."""

    def __post_init__(self) -> None:
        owner = type(self).__name__
        check(self.lr > 0, owner, f"lr must be > 0, got {self.lr}")
        check(0 < self.gamma <= 1, owner, f"gamma must be in (0, 1], got {self.gamma}")
        for name in ("hidden", "num_envs"):
            check(
                getattr(self, name) >= 1, owner, f"{name} must be >= 1, got {getattr(self, name)}"
            )


@dataclass(frozen=True)
class PPOSettings(RLSettings):
    """PPO (discrete positions) hyperparameters (with ``RLSettings``' shared ones)."""

    entropy_coeff: float = 0.01
    """Entropy bonus: keeps the 11 positions explored early on."""
    lambda_: float = 0.95
    """GAE lambda."""
    clip_param: float = 0.2
    """PPO ratio clip."""
    vf_clip_param: float = 10.0
    """Value-loss clip. Rewards are daily returns (~1e-2): the clip must not bind on them."""
    minibatch_size: int = 256
    """SGD minibatch (env steps)."""
    train_batch_size: int = 4000
    """Env steps sampled per iteration (the budget's granularity for PPO)."""
    num_epochs: int = 6
    """SGD passes over each train batch."""

    def __post_init__(self) -> None:
        super().__post_init__()
        owner = "PPOSettings"
        check(
            self.entropy_coeff >= 0, owner, f"entropy_coeff must be >= 0, got {self.entropy_coeff}"
        )
        check(0 < self.lambda_ <= 1, owner, f"lambda_ must be in (0, 1], got {self.lambda_}")
        check(
            0 < self.clip_param < 1, owner, f"clip_param must be in (0, 1), got {self.clip_param}"
        )
        check(self.vf_clip_param > 0, owner, f"vf_clip_param must be > 0, got {self.vf_clip_param}")
        check(
            1 <= self.minibatch_size <= self.train_batch_size,
            owner,
            f"need 1 <= minibatch_size <= train_batch_size, got {self.minibatch_size} and "
            f"{self.train_batch_size}",
        )
        check(self.num_epochs >= 1, owner, f"num_epochs must be >= 1, got {self.num_epochs}")

    @classmethod
    def smoke(cls) -> PPOSettings:
        """CI sizes: 400 env steps (20 episodes) per iteration, 2 epochs."""
        return cls(train_batch_size=400, minibatch_size=100, num_epochs=2, num_envs=4)


@dataclass(frozen=True)
class SACSettings(RLSettings):
    """SAC (continuous position) hyperparameters (with ``RLSettings``' shared ones)."""

    tau: float = 5e-3
    """Polyak rate of the target critics."""
    initial_alpha: float = 0.01
    """Starting entropy temperature (rewards are ~1e-2 a day: alpha = 1 would swamp them)."""
    updates_per_step: float = 0.25
    """Training intensity: gradient updates per sampled env step."""
    train_batch_size: int = 256
    """Replay samples per update."""
    replay_capacity: int = 100_000
    """Replay buffer size (env steps)."""
    replay_alpha: float = 0.6
    """Prioritised replay: how strongly TD errors skew sampling (0 = uniform)."""
    replay_beta: float = 0.4
    """Prioritised replay: importance-sampling correction (1 = full)."""
    learning_starts: int = 1000
    """Env steps sampled before the first update."""

    def __post_init__(self) -> None:
        super().__post_init__()
        owner = "SACSettings"
        check(0 < self.tau <= 1, owner, f"tau must be in (0, 1], got {self.tau}")
        check(self.initial_alpha > 0, owner, f"initial_alpha must be > 0, got {self.initial_alpha}")
        check(
            0 < self.updates_per_step <= 16,
            owner,
            f"updates_per_step must be in (0, 16], got {self.updates_per_step}",
        )
        for name in ("replay_alpha", "replay_beta"):
            value = getattr(self, name)
            check(0 <= value <= 1, owner, f"{name} must be in [0, 1], got {value}")
        check(
            self.train_batch_size >= 1,
            owner,
            f"train_batch_size must be >= 1, got {self.train_batch_size}",
        )
        check(
            self.replay_capacity >= self.train_batch_size,
            owner,
            f"replay_capacity ({self.replay_capacity}) must hold one batch "
            f"({self.train_batch_size})",
        )
        check(
            self.learning_starts >= 0,
            owner,
            f"learning_starts must be >= 0, got {self.learning_starts}",
        )

    @classmethod
    def smoke(cls) -> SACSettings:
        """CI sizes: 64-sample updates, one per 80 env steps, learning after the first
        80-step sampling round (4 envs x E = 20)."""
        return cls(
            train_batch_size=64,
            updates_per_step=1 / 80,
            replay_capacity=20_000,
            learning_starts=80,
            num_envs=4,
        )


SETTINGS = {"ppo": PPOSettings, "sac": SACSettings}
"""Settings class per RL algorithm name."""
