"""Settings machinery: the ``Config`` base class (dict round-trip, unknown keys rejected
with a "did you mean" hint) and the checks every settings class uses."""

from __future__ import annotations

import dataclasses
import difflib
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

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

    MOVED: ClassVar[dict[str, str]] = {}
    """Settings a class no longer has -> where they are set now (named in the error)."""

    @classmethod
    def _unknown(cls, key: str, names: list[str]) -> str:
        """The first sentence of the error for a setting ``key`` the class does not have."""
        if key in cls.MOVED:
            return f'{cls.__name__}: "{key}" is not set here any more: it is {cls.MOVED[key]}.'
        return f'{cls.__name__}: unknown setting "{key}".{did_you_mean(key, names)}'

    @classmethod
    def from_dict(cls: type[C], values: dict[str, Any]) -> C:
        """Build from a plain dict (JSON, Tune config, checkpoint); unknown keys are an error."""
        names = [f.name for f in dataclasses.fields(cls)]
        for key in values:
            if key not in names:
                raise ConfigError(f"{cls._unknown(key, names)} Known settings: {', '.join(names)}.")
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form, safe for JSON and ``torch.save(..., weights_only=True)``."""
        return dataclasses.asdict(self)

    def replace(self: C, **changes: Any) -> C:
        """A copy with some fields changed (validated again)."""
        names = [f.name for f in dataclasses.fields(self)]
        for key in changes:
            if key not in names:
                raise ConfigError(type(self)._unknown(key, names))
        return dataclasses.replace(self, **changes)


def check(condition: bool, owner: str, message: str) -> None:
    """Raise ``ConfigError("owner: message")`` unless ``condition`` holds."""
    if not condition:
        raise ConfigError(f"{owner}: {message}")


def check_choice(owner: str, name: str, value: Any, choices: tuple[str, ...]) -> Any:
    """``value`` if it is one of ``choices``; else a ConfigError naming the valid ones and
    the closest match (``owner`` prefixes the message: the class or function checked)."""
    check(
        value in choices,
        owner,
        f'{name} must be one of {", ".join(choices)}, got "{value}".'
        f"{did_you_mean(str(value), choices)}",
    )
    return value
