"""The main job's search settings: how big a search is (``Budget``, with the named budgets)
and everything the driver decides about one search (``TuneSettings``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from quantray.config.base import Config, ConfigError, check, check_choice, did_you_mean
from quantray.config.strategy import SELECTION_SCORES

if TYPE_CHECKING:
    from quantray.train.tracking import MlflowTarget

EVENTS_FILE = "trial_events.jsonl"
"""One JSON line per trial start / end (time, pid, host, resources, stage-1 reuse)."""


@dataclass(frozen=True)
class Budget(Config):
    """How big a search is: trial count, per-trial training length and the architecture menu."""

    name: str
    """"smoke" | "small" | "full"."""
    num_samples: int
    """Trials sampled by the search."""
    max_concurrent: int
    """Upper bound on trials running at once (also bounded by the cluster's resources)."""
    stage1_steps: int | None
    """Cap on stage-1 optimizer steps per epoch (None = full passes over the windows)."""
    stage1_eval_samples: int
    """Validation windows scored after stage-1 training (logged with the checkpoint)."""
    smoke_stage1: bool
    """Use ``small_stage1_spec(smoke=True)`` training settings."""
    epochs: int
    """Stage-2 epochs per trial (ASHA's max_t, plus one final report)."""
    steps_per_epoch: int | None
    """Stage-2 batches per epoch (None = the trainer's default)."""
    patience: int
    """Stage-2 early stopping patience (epochs)."""
    grace_period: int
    """ASHA: epochs every trial runs before it can be stopped."""
    d_models: tuple[int, ...]
    """Stage-1 width choices (D, also the frozen-feature width)."""
    n_layers: tuple[int, ...]
    """Stage-1 depth choices."""
    ffns: tuple[str, ...]
    """Stage-1 feed-forward kinds."""
    num_experts: tuple[int, ...]
    """MoE expert counts (asked only when ffn="moe")."""
    top_ks: tuple[int, ...]
    """MoE top-k choices (asked only when ffn="moe"; each <= every expert count)."""
    hidden_sizes: tuple[int, ...]
    """GRU hidden-size choices."""
    startup_trials: int
    """TPE: random trials before the model-based sampling starts."""
    presets: tuple[str, ...] = ()
    """Stage-1 size presets searched (``PriceModelConfig.PRESETS`` names); when given they
    replace the d_models / n_layers / ffns / experts menu."""
    stage1_epochs: int = 1
    """Stage-1 epochs (passes over the training windows, each capped by stage1_steps)."""

    def __post_init__(self) -> None:
        from quantray.config.price import PriceModelConfig

        for name in self.presets:
            if name not in PriceModelConfig.PRESETS:
                known = list(PriceModelConfig.PRESETS)
                raise ConfigError(
                    f'Budget {self.name}: unknown stage-1 preset "{name}".'
                    f"{did_you_mean(name, known)} Known presets: {', '.join(known)}."
                )
        if self.stage1_epochs < 1:
            raise ConfigError(f"Budget {self.name}: stage1_epochs must be >= 1")
        if max(self.top_ks) > min(self.num_experts):
            raise ConfigError(
                f"Budget {self.name}: top_ks {self.top_ks} must not exceed the smallest expert "
                f"count in {self.num_experts}; lower top_ks or raise num_experts"
            )


BUDGETS: dict[str, Budget] = {
    # CI: three trials, a few seconds of training each; two cheap architectures.
    "smoke": Budget(
        name="smoke", num_samples=3, max_concurrent=2, stage1_steps=10,
        stage1_eval_samples=128, smoke_stage1=True, epochs=2, steps_per_epoch=10, patience=2,
        grace_period=1, d_models=(16,), n_layers=(1,), ffns=("swiglu", "moe"),
        num_experts=(2,), top_ks=(1,), hidden_sizes=(16, 32), startup_trials=2,
    ),
    # The default: a complete search in well under 15 minutes on a 2-core laptop.
    "small": Budget(
        name="small", num_samples=32, max_concurrent=2, stage1_steps=300,
        stage1_eval_samples=512, smoke_stage1=False, epochs=12, steps_per_epoch=80,
        patience=4, grace_period=3, d_models=(16, 32, 48), n_layers=(1, 2),
        ffns=("swiglu", "geglu", "moe"), num_experts=(2, 4), top_ks=(1, 2),
        hidden_sizes=(32, 64), startup_trials=6,
    ),
    # A GPU-cluster search: the four stage-1 size presets (2.5M..160M parameters), each
    # trained for 10 full epochs (capped at 2,000 steps each), stage 2 on top.
    "full": Budget(
        name="full", num_samples=64, max_concurrent=8, stage1_steps=2000,
        stage1_eval_samples=2048, smoke_stage1=False, epochs=30, steps_per_epoch=None,
        patience=6, grace_period=5, d_models=(32, 64, 128), n_layers=(1, 2, 4),
        ffns=("swiglu", "geglu", "moe"), num_experts=(4, 8), top_ks=(1, 2),
        hidden_sizes=(32, 64, 128), startup_trials=12,
        presets=("tiny", "small", "base", "large"), stage1_epochs=10,
    ),
}  # fmt: skip


def get_budget(name: str) -> Budget:
    """The named budget; a ConfigError with a did-you-mean hint for an unknown name."""
    if name not in BUDGETS:
        names = list(BUDGETS)
        raise ConfigError(
            f'unknown budget "{name}".{did_you_mean(name, names)} Known: {", ".join(names)}.'
        )
    return BUDGETS[name]


@dataclass(frozen=True)
class TuneSettings(Config):
    """Everything the driver decides about one search (the CLI flags, resolved)."""

    budget: Budget
    """Trial count, per-trial training length and architecture menu."""
    data_path: str
    """Absolute path of the bars file or directory."""
    storage_path: str
    """Tune storage: a local directory or a URI (s3://, gs://, ...)."""
    name: str
    """Experiment name: the run lives in ``storage_path/name``."""
    cost: str = "us_equity"
    """Cost preset used in training and evaluation."""
    seed: int = 0
    """Seeds the TPE sampler, every stage-1 model and every stage-2 training."""
    cpus_per_trial: float = 1.0
    """CPUs reserved per trial (torch uses max(1, floor(cpus)) threads)."""
    gpus_per_trial: float = 0.0
    """GPUs reserved per trial; 0.25 packs four trials on one GPU."""
    num_samples: int | None = None
    """Override of the budget's trial count."""
    max_concurrent: int | None = None
    """Override of the budget's concurrency limit."""
    multi_objective: bool = False
    """Optimise (validation score max, validation max drawdown min) instead of the score alone."""
    objective: str = "ir"
    """Validation score trials and epochs are selected by: "ir" (information ratio vs
    buy-and-hold) or "sharpe" (``StrategyConfig.select_by``)."""
    cache_root: str | None = None
    """Stage-1 model + feature store shared by trials; default ``storage_path/stage1_cache``
    (a local or shared filesystem path: the file lock needs one)."""
    events: bool = True
    """Append trial start/end lines to ``storage_path/name/trial_events.jsonl`` (local storage)."""
    extra: dict[str, Any] = field(default_factory=dict)
    """Extra constants merged into every trial config (tests)."""
    tracking: MlflowTarget | None = None
    """MLflow target of ``--mlflow``: one run per trial (config, every epoch's report)."""

    def __post_init__(self) -> None:
        owner = "TuneSettings"
        if isinstance(self.budget, dict):  # a saved search (JSON) hands the budget back
            object.__setattr__(self, "budget", Budget.from_dict(self.budget))
        check(
            self.cpus_per_trial > 0,
            owner,
            f"cpus_per_trial must be > 0, got {self.cpus_per_trial}",
        )
        check(
            self.gpus_per_trial >= 0,
            owner,
            f"gpus_per_trial must be >= 0 (e.g. 0.25), got {self.gpus_per_trial}",
        )
        for name in ("num_samples", "max_concurrent"):
            value = getattr(self, name)
            check(value is None or value >= 1, owner, f"{name} must be >= 1, got {value}")
        check_choice(owner, "objective", self.objective, tuple(SELECTION_SCORES))
        check(
            self.cache_root is not None or self.local_storage,
            owner,
            f"storage path {self.storage_path} is a URI: also give a filesystem cache_root "
            "(--stage1-cache DIR) for the shared stage-1 store (it needs file locks)",
        )

    def to_record(self) -> dict[str, Any]:
        """What ``--resume`` needs to continue this exact search (JSON-able): every setting
        except the run-time ``tracking`` target and the test-only ``extra``."""
        record = self.to_dict()
        record.pop("tracking", None)
        record.pop("extra", None)
        return record

    @classmethod
    def from_record(cls, record: dict[str, Any], **changes: Any) -> TuneSettings:
        """The settings ``to_record`` saved (budget tuples restored), with ``changes``."""
        values = dict(record)
        budget = {
            k: tuple(v) if isinstance(v, list) else v for k, v in values.pop("budget").items()
        }
        return cls.from_dict({**values, "budget": Budget(**budget), **changes})

    @property
    def local_storage(self) -> bool:
        return "://" not in self.storage_path

    @property
    def experiment_path(self) -> str:
        return f"{self.storage_path.rstrip('/')}/{self.name}"

    def resolved_cache_root(self) -> str:
        if self.cache_root is not None:
            return str(Path(self.cache_root).resolve())
        if not self.local_storage:
            raise ValueError(
                f"storage path {self.storage_path} is a URI: give a filesystem cache_root "
                "(--stage1-cache) for the shared stage-1 store (it needs file locks)"
            )
        return str(Path(self.storage_path) / "stage1_cache")

    def valid_paths_dir(self) -> str:
        """Where trials leave their daily validation paths: beside the shared stage-1 store
        (a filesystem every trial can write, whatever the storage path is)."""
        return str(Path(self.resolved_cache_root()).parent / "valid_paths" / self.name)

    def constants(self) -> dict[str, Any]:
        """Values every trial gets besides its sampled parameters (all plain, JSON-able)."""
        events = (
            str(Path(self.experiment_path) / EVENTS_FILE)
            if self.events and self.local_storage
            else ""
        )
        return {
            "budget": self.budget.name,
            "seed": self.seed,
            "data_path": self.data_path,
            "cost": self.cost,
            "cache_root": self.resolved_cache_root(),
            "torch_threads": max(1, int(self.cpus_per_trial)),
            "events_log": events,
            "select_by": self.objective,
            "valid_paths_dir": self.valid_paths_dir(),
            **self.extra,
        }
