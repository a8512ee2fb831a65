"""The settings of one walk-forward run (``experiments/walk_forward.py``): what it trains,
on which folds and data, with which methods and update modes.

``WalkForwardRun.to_record()`` is what the script saves as ``OUT/walk_forward.json``;
``--resume`` rebuilds the run from it with ``WalkForwardRun.from_record`` (an exact round
trip), so the user does not repeat the settings flags, and ``differences`` names any
setting a flag given on resume would change. Runtime options (Ray address, CPUs / GPUs per
fold, storage location) are not settings: they are not recorded and may change on resume.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from quantray.config import (
    Config,
    ConfigError,
    CostConfig,
    StrategyConfig,
    TrainingBudget,
    WalkForwardConfig,
    check_choice,
    did_you_mean,
)
from quantray.config.rl import LEARNED_METHODS
from quantray.data.folds import Fold
from quantray.train.price import PriceRunSpec
from quantray.train.walk_forward import UPDATES, FoldPlan


@dataclass(frozen=True)
class WalkForwardRun(Config):
    """Every setting of one walk-forward run (the script's flags, resolved)."""

    walk_forward: WalkForwardConfig
    """Where the out-of-sample blocks lie and what each fold trains on."""
    stage1: PriceRunSpec
    """Stage-1 run (model, training, the bars file trained on); each fold swaps in its split."""
    strategy: StrategyConfig
    """Stage-2 GRU settings."""
    cost: CostConfig
    """Cost model of training, validation and the out-of-sample record."""
    seed: int
    """Seed of stage 2 and of the random baseline (stage 1's is ``stage1.train.seed``)."""
    steps_per_epoch: int | None
    """Stage-2 steps per epoch (None: the trainer's default)."""
    data_path: str
    """The bars the user gave (``--data``, resolved); a smoke run trains on an extract of
    them, ``stage1.data_path``."""
    methods: tuple[str, ...] = ("gru",)
    """Learned methods per fold (``--methods``): "gru" always, plus "ppo" / "sac"; stored in
    ``LEARNED_METHODS`` order without repeats."""
    updates: tuple[str, ...] = UPDATES
    """Update modes run, in order (``--update``): "retrain" and / or "incremental"."""
    rl_budget: TrainingBudget | None = None
    """PPO / SAC training budget per fold; None exactly when only the GRU runs."""
    smoke: bool = False
    """A ``--smoke-test`` run: PPO / SAC at their smoke sizes."""
    config_file: str | None = None
    """The main job's ``best_config.json`` the stage-1 / stage-2 / cost / seed settings came
    from (``--config``, resolved); None: the defaults."""

    def __post_init__(self) -> None:
        if isinstance(self.methods, str) or isinstance(self.updates, str):
            raise ConfigError(
                "WalkForwardRun: methods and updates are tuples of names, e.g. "
                "methods=('gru', 'ppo'), updates=('retrain',)"
            )
        for m in self.methods:
            check_choice("--methods", "method", m, LEARNED_METHODS)
        if "gru" not in self.methods:
            raise ConfigError(
                f"--methods: found {','.join(self.methods)!r}; the GRU is every fold's stage 2 "
                "and always runs, so list it too (e.g. --methods gru,ppo)"
            )
        object.__setattr__(self, "methods", tuple(m for m in LEARNED_METHODS if m in self.methods))
        if not self.updates:
            raise ConfigError("--update: found no update mode; expected retrain, incremental")
        for u in self.updates:
            check_choice("--update", "update", u, UPDATES)
        object.__setattr__(self, "updates", tuple(dict.fromkeys(self.updates)))
        rl = [m for m in self.methods if m != "gru"]
        if rl and self.rl_budget is None:
            raise ConfigError(
                f"WalkForwardRun: {', '.join(rl)} need a training budget (rl_budget; flags "
                "--budget-by / --budget / --evaluations)"
            )
        if not rl and self.rl_budget is not None:
            raise ConfigError(
                "WalkForwardRun: rl_budget is for PPO / SAC, but methods is only gru; "
                "leave it None or add ppo / sac to methods"
            )

    def to_record(self) -> dict[str, Any]:
        """Every setting as plain JSON-able values (``from_record`` restores the run)."""
        return {
            "walk_forward": self.walk_forward.to_dict(),
            "stage1": self.stage1.to_dict(),
            "strategy": self.strategy.to_dict(),
            "cost": self.cost.to_dict(),
            "seed": self.seed,
            "steps_per_epoch": self.steps_per_epoch,
            "data_path": self.data_path,
            "methods": list(self.methods),
            "updates": list(self.updates),
            "rl_budget": None if self.rl_budget is None else self.rl_budget.to_dict(),
            "smoke": self.smoke,
            "config_file": self.config_file,
        }

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> WalkForwardRun:
        """The run ``to_record`` saved (after a JSON round trip too). A record with unknown
        or missing keys (another version's file) is a ConfigError naming them."""
        names = [f.name for f in dataclasses.fields(cls)]
        unknown = [k for k in record if k not in names]
        if unknown:
            hint = did_you_mean(unknown[0], names)
            raise ConfigError(f"WalkForwardRun: unknown settings {unknown}.{hint}")
        missing = [k for k in names if k not in record]
        if missing:
            raise ConfigError(f"WalkForwardRun: the record lacks {missing}")
        budget = record["rl_budget"]
        return cls(
            walk_forward=WalkForwardConfig.from_dict(record["walk_forward"]),
            stage1=PriceRunSpec.from_dict(record["stage1"]),
            strategy=StrategyConfig.from_dict(record["strategy"]),
            cost=CostConfig.from_dict(record["cost"]),
            seed=int(record["seed"]),
            steps_per_epoch=record["steps_per_epoch"],
            data_path=record["data_path"],
            methods=tuple(record["methods"]),
            updates=tuple(record["updates"]),
            rl_budget=None if budget is None else TrainingBudget.from_dict(budget),
            smoke=bool(record["smoke"]),
            config_file=record["config_file"],
        )

    def differences(self, other: WalkForwardRun) -> list[tuple[str, Any, Any]]:
        """``(setting, this value, other's value)`` for every setting that differs, nested
        ones by dotted name (``"cost.commission"``, ``"walk_forward.window"``)."""
        return _diff(self.to_record(), other.to_record(), "")

    def fold_plans(
        self, folds: list[Fold], update: str, cache_root: str, out_dir: str, threads: int = 1
    ) -> list[FoldPlan]:
        """One ``FoldPlan`` per fold for ``update`` (stage-1 cache in ``cache_root``, fold
        results in ``out_dir``, ``threads`` torch threads per fold)."""
        return [
            FoldPlan(
                fold,
                self.stage1,
                self.strategy,
                self.cost,
                self.walk_forward.embargo,
                update,
                self.seed,
                self.steps_per_epoch,
                cache_root,
                out_dir,
                threads=threads,
                methods=self.methods,
                budget=self.rl_budget,
                smoke=self.smoke,
            )
            for fold in folds
        ]


def _diff(a: Any, b: Any, name: str) -> list[tuple[str, Any, Any]]:
    """Leaves of the plain trees ``a`` and ``b`` that differ, by dotted path."""
    if isinstance(a, dict) and isinstance(b, dict):
        found = []
        for key in list(a) + [k for k in b if k not in a]:
            path = f"{name}.{key}" if name else key
            found += _diff(a.get(key), b.get(key), path)
        return found
    return [] if a == b else [(name, a, b)]
