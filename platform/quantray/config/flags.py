"""Command-line flags generated from a settings dataclass: a new field needs no flag code.

``add_flags(parser, StrategyConfig)`` adds one flag per field (``--risk-cost-weight``,
``--hard/--no-hard``, ...) with the field's docstring as its help; ``from_flags(args,
StrategyConfig, base)`` is ``base`` with every flag the user gave applied, validated by the
class's ``__post_init__`` (a bad value is a ``ConfigError``: the scripts exit 2 with it).

Fields whose type has no plain command-line form (nested settings, dicts) are left out. A flag
not given leaves no attribute on the parsed namespace (``argparse.SUPPRESS``): the base
object's value is kept, and ``--price-limit none`` can still set a field to None.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import functools
import inspect
import itertools
import textwrap
import types
import typing
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from quantray.config.base import Config, ConfigError

C = TypeVar("C", bound=Config)

_SCALARS: dict[Any, Callable[[str], Any]] = {int: int, float: float, str: str}


@functools.cache
def field_docs(cls: type) -> dict[str, str]:
    """Each field's docstring (the string literal under it in the class body), by name;
    inherited fields included."""
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if not dataclasses.is_dataclass(klass) or klass is object:
            continue
        try:
            tree = ast.parse(textwrap.dedent(inspect.getsource(klass)))
        except (OSError, TypeError):  # no source (frozen app): help stays empty
            continue
        body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
        for stmt, nxt in itertools.pairwise(body):
            if (
                isinstance(stmt, ast.AnnAssign)
                and isinstance(stmt.target, ast.Name)
                and isinstance(nxt, ast.Expr)
                and isinstance(nxt.value, ast.Constant)
                and isinstance(nxt.value.value, str)
            ):
                docs[stmt.target.id] = " ".join(nxt.value.value.split())
    fields = {f.name for f in dataclasses.fields(cls)}
    return {name: doc for name, doc in docs.items() if name in fields}  # not class attributes


def _none_or(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    def convert(text: str) -> Any:
        return None if text.lower() == "none" else parse(text)

    convert.__name__ = getattr(parse, "__name__", "value")
    return convert


def _flag_kind(hint: Any) -> tuple[str, Callable[[str], Any] | None] | None:
    """("scalar", parse) | ("bool", None) | ("list", parse) for a supported type, else None."""
    if hint is bool:
        return "bool", None
    if hint in _SCALARS:
        return "scalar", _SCALARS[hint]
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        optional = len(inner) < len(args)
        scalars = [a for a in inner if a in _SCALARS]
        if not scalars:
            return None
        parse = _SCALARS[str] if str in scalars else _SCALARS[scalars[0]]
        return "scalar", _none_or(parse) if optional else parse
    if origin is tuple and args and args[-1] is Ellipsis and args[0] in _SCALARS:
        return "list", _SCALARS[args[0]]
    return None


def _hints(cls: type) -> dict[str, Any]:
    """Each field's resolved type; a field whose annotation cannot be resolved is left out."""
    module = inspect.getmodule(cls)
    namespace = dict(vars(module)) if module else {}
    hints: dict[str, Any] = {}
    for field in dataclasses.fields(cls):
        annotation = field.type
        if isinstance(annotation, str):
            try:
                annotation = eval(annotation, namespace)
            except Exception:
                continue
        hints[field.name] = annotation
    return hints


def flag_name(field: str, prefix: str = "") -> str:
    """``--{prefix}{field with dashes}``: ``flag_name("lr", "ppo-") == "--ppo-lr"``."""
    return f"--{prefix}{field.rstrip('_').replace('_', '-')}"


def _dest(field: str, prefix: str) -> str:
    return (prefix + field).replace("-", "_")


def add_flags(
    parser: argparse.ArgumentParser,
    cls: type[Config],
    *,
    prefix: str = "",
    skip: Iterable[str] = (),
    title: str | None = None,
) -> list[str]:
    """Add a flag for every field of ``cls`` (except ``skip`` and unsupported types) to
    ``parser``, in an argument group titled ``title`` (default: the class name). Returns the
    field names that got a flag."""
    skipped = set(skip)
    docs = field_docs(cls)
    hints = _hints(cls)
    group = parser.add_argument_group(title or f"{cls.__name__} settings")
    added = []
    for field in dataclasses.fields(cls):
        if field.name in skipped or field.name not in hints:
            continue
        kind = _flag_kind(hints[field.name])
        if kind is None:
            continue
        default = field.default if field.default is not dataclasses.MISSING else None
        help_text = f"{docs.get(field.name, '')} (default: {default!r})".strip()
        help_text = help_text.replace("%", "%%")
        name, dest = flag_name(field.name, prefix), _dest(field.name, prefix)
        if kind[0] == "bool":
            group.add_argument(
                name, dest=dest, action=argparse.BooleanOptionalAction, default=argparse.SUPPRESS,
                help=help_text,
            )  # fmt: skip
        elif kind[0] == "list":
            group.add_argument(
                name, dest=dest, nargs="*", type=kind[1], default=argparse.SUPPRESS, help=help_text
            )
        else:
            group.add_argument(
                name, dest=dest, type=kind[1], default=argparse.SUPPRESS, help=help_text
            )
        added.append(field.name)
    return added


def given_flags(
    args: argparse.Namespace, cls: type[Config], *, prefix: str = "", skip: Iterable[str] = ()
) -> dict:
    """The fields of ``cls`` (except ``skip``) whose flags the user gave (name -> value)."""
    given = {}
    skipped = set(skip)
    for field in dataclasses.fields(cls):
        if field.name in skipped:
            continue
        dest = _dest(field.name, prefix)
        if hasattr(args, dest):
            value = getattr(args, dest)
            given[field.name] = tuple(value) if isinstance(value, list) else value
    return given


def from_flags(
    args: argparse.Namespace,
    cls: type[C],
    base: C | None = None,
    *,
    prefix: str = "",
    skip: Iterable[str] = (),
) -> C:
    """``base`` (default ``cls()``) with every flag of ``cls`` the user gave applied (the
    fields in ``skip``, which the script sets from flags of its own, left alone); a value the
    settings refuse is a ``ConfigError`` naming the flag."""
    base = base if base is not None else cls()
    changes = given_flags(args, cls, prefix=prefix, skip=skip)
    try:
        return base.replace(**changes) if changes else base
    except ConfigError as exc:
        flags = ", ".join(flag_name(k, prefix) for k in changes)
        raise ConfigError(f"{exc} (from {flags})") from None
