"""PPO and SAC hyperparameters as settings objects: the CLI, Tune trials and reports share them.

``PPOSettings`` / ``SACSettings`` are frozen and validated; ``quantray.rl.config``'s
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


@dataclass(frozen=True)
class PPOSettings(Config):
    """PPO (discrete positions) hyperparameters."""

    lr: float = 3e-4
    """Adam learning rate."""
    entropy_coeff: float = 0.01
    """Entropy bonus: keeps the 11 positions explored early on."""
    gamma: float = 0.99
    """Discount factor."""
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
    hidden: int = 64
    """Width of the two MLP layers."""
    num_envs: int = 8
    """Envs stepped as one batch by the sampler."""

    def __post_init__(self) -> None:
        owner = "PPOSettings"
        check(self.lr > 0, owner, f"lr must be > 0, got {self.lr}")
        check(
            self.entropy_coeff >= 0, owner, f"entropy_coeff must be >= 0, got {self.entropy_coeff}"
        )
        for name in ("gamma", "lambda_"):
            value = getattr(self, name)
            check(0 < value <= 1, owner, f"{name} must be in (0, 1], got {value}")
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
        for name in ("num_epochs", "hidden", "num_envs"):
            check(
                getattr(self, name) >= 1, owner, f"{name} must be >= 1, got {getattr(self, name)}"
            )

    @classmethod
    def smoke(cls) -> PPOSettings:
        """CI sizes: 400 env steps (20 episodes) per iteration, 2 epochs."""
        return cls(train_batch_size=400, minibatch_size=100, num_epochs=2, num_envs=4)


@dataclass(frozen=True)
class SACSettings(Config):
    """SAC (continuous position) hyperparameters."""

    lr: float = 3e-4
    """Adam learning rate of the actor, the twin critics and the temperature."""
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
    gamma: float = 0.99
    """Discount factor."""
    hidden: int = 64
    """Width of the two hidden layers of the actor and critics."""
    num_envs: int = 8
    """Envs stepped per sampling round (one round = 20 x num_envs env steps: the granularity)."""

    def __post_init__(self) -> None:
        owner = "SACSettings"
        check(self.lr > 0, owner, f"lr must be > 0, got {self.lr}")
        check(0 < self.tau <= 1, owner, f"tau must be in (0, 1], got {self.tau}")
        check(self.initial_alpha > 0, owner, f"initial_alpha must be > 0, got {self.initial_alpha}")
        check(
            0 < self.updates_per_step <= 16,
            owner,
            f"updates_per_step must be in (0, 16], got {self.updates_per_step}",
        )
        check(0 < self.gamma <= 1, owner, f"gamma must be in (0, 1], got {self.gamma}")
        for name in ("replay_alpha", "replay_beta"):
            value = getattr(self, name)
            check(0 <= value <= 1, owner, f"{name} must be in [0, 1], got {value}")
        check(
            self.replay_capacity >= self.train_batch_size,
            owner,
            f"replay_capacity ({self.replay_capacity}) must hold one batch "
            f"({self.train_batch_size})",
        )
        for name in ("train_batch_size", "hidden", "num_envs"):
            check(
                getattr(self, name) >= 1, owner, f"{name} must be >= 1, got {getattr(self, name)}"
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
