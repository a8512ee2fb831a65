"""Typed, frozen settings shared by the CLI, Ray Tune and checkpoints.

Every settings object is a frozen dataclass with a docstring under each field, validated in
``__post_init__``. ``from_dict`` rejects unknown keys with a "did you mean" hint, so a typo in
a JSON config or a Tune search space fails loudly instead of being silently ignored.
"""

from __future__ import annotations

import dataclasses
import difflib
from dataclasses import dataclass
from typing import Any, TypeVar

C = TypeVar("C", bound="Config")


class ConfigError(ValueError):
    """A settings value or key is wrong; the message says what was found and how to fix it."""


def did_you_mean(name: str, choices: list[str] | tuple[str, ...]) -> str:
    """Return ' Did you mean "x"?' for the closest choice, or '' when nothing is close."""
    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.6)
    return f' Did you mean "{close[0]}"?' if close else ""


@dataclass(frozen=True)
class Config:
    """Base class: dict round-trip with unknown-key rejection."""

    @classmethod
    def from_dict(cls: type[C], values: dict[str, Any]) -> C:
        """Build from a plain dict (JSON, Tune config, checkpoint); unknown keys are an error."""
        names = [f.name for f in dataclasses.fields(cls)]
        for key in values:
            if key not in names:
                raise ConfigError(
                    f'{cls.__name__}: unknown setting "{key}".{did_you_mean(key, names)} '
                    f"Known settings: {', '.join(names)}."
                )
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form, safe for JSON and ``torch.save(..., weights_only=True)``."""
        return dataclasses.asdict(self)

    def replace(self: C, **changes: Any) -> C:
        """A copy with some fields changed (validated again)."""
        names = [f.name for f in dataclasses.fields(self)]
        for key in changes:
            if key not in names:
                raise ConfigError(
                    f'{type(self).__name__}: unknown setting "{key}".{did_you_mean(key, names)}'
                )
        return dataclasses.replace(self, **changes)


def _check(condition: bool, owner: str, message: str) -> None:
    if not condition:
        raise ConfigError(f"{owner}: {message}")


@dataclass(frozen=True)
class DataConfig(Config):
    """Window and episode geometry shared by stage 1, stage 2 and the env."""

    window: int = 180
    """L: days of history the price model reads for one prediction."""
    horizon: int = 7
    """H: days ahead the price head predicts (returns relative to the last close)."""
    episode_len: int = 20
    """E: trading days in one stage-2 / RL episode."""

    def __post_init__(self) -> None:
        _check(self.window >= 2, "DataConfig", f"window must be >= 2, got {self.window}")
        _check(self.horizon >= 1, "DataConfig", f"horizon must be >= 1, got {self.horizon}")
        _check(
            self.episode_len >= 2, "DataConfig", f"episode_len must be >= 2, got {self.episode_len}"
        )


@dataclass(frozen=True)
class SplitConfig(Config):
    """Walk-forward split by date: train | embargo | validation | embargo | test.

    Either give the three fractions (of each symbol's usable days) or the two boundary dates
    ``valid_start`` and ``test_start`` (ISO strings); dates win when given.
    """

    train_frac: float = 0.7
    """Fraction of days in the training period (before the first embargo)."""
    valid_frac: float = 0.15
    """Fraction of days in the validation period; the test period gets the rest."""
    embargo: int = 27
    """Days dropped between periods; must be >= horizon + episode_len so no label or episode
    straddles a boundary."""
    valid_start: str | None = None
    """First validation day (ISO date). Overrides the fractions when set with test_start."""
    test_start: str | None = None
    """First test day (ISO date). The test period is never seen by training or Tune."""

    def __post_init__(self) -> None:
        _check(
            0 < self.train_frac < 1,
            "SplitConfig",
            f"train_frac must be in (0, 1), got {self.train_frac}",
        )
        _check(
            0 < self.valid_frac < 1,
            "SplitConfig",
            f"valid_frac must be in (0, 1), got {self.valid_frac}",
        )
        _check(
            self.train_frac + self.valid_frac < 1,
            "SplitConfig",
            f"train_frac + valid_frac must be < 1 so a test period remains, got "
            f"{self.train_frac} + {self.valid_frac}",
        )
        _check(self.embargo >= 0, "SplitConfig", f"embargo must be >= 0, got {self.embargo}")
        _check(
            (self.valid_start is None) == (self.test_start is None),
            "SplitConfig",
            "give both valid_start and test_start, or neither (then the fractions are used)",
        )
        if self.valid_start is not None and self.test_start is not None:
            _check(
                self.valid_start < self.test_start,
                "SplitConfig",
                f"valid_start ({self.valid_start}) must come before test_start ({self.test_start})",
            )
