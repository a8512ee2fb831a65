"""Shared command-line pieces for the scripts in ``experiments/``.

Every script takes ``--smoke-test``, ``--data PATH``, ``--out DIR`` and ``--storage-path
DIR|URI`` (the training and report scripts also ``--mlflow [URI]``), checks its inputs
before any Ray work starts, and turns user mistakes (bad data, bad settings, a missing
optional package) into a clear message and exit code 2 instead of a traceback.
"""

from __future__ import annotations

import argparse
import errno
import fcntl
import logging
import os
import secrets
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from quantray.config import ConfigError
from quantray.data.errors import DataError
from quantray.train.tracking import (
    LOCAL_STORE,
    MlflowTarget,
    end_active_run,
    open_store,
    resolve_target,
)

EXIT_USER_ERROR = 2


def add_common_args(
    parser: argparse.ArgumentParser, default_out: str, *, tracking: bool = False
) -> None:
    """Add --smoke-test, --data, --out and --storage-path; with ``tracking``, --mlflow too
    (the script then logs through ``quantray.train.tracking``, see ``mlflow_target``)."""
    parser.add_argument(
        "--smoke-test",
        action="store_true",
        help="a seconds-to-minutes run on the bundled data with tiny settings",
    )
    parser.add_argument(
        "--data",
        default=None,
        help="daily bars: a CSV/Parquet file or a directory (default: the bundled sample)",
    )
    parser.add_argument(
        "--out", default=default_out, help=f"directory for results (default: {default_out})"
    )
    parser.add_argument(
        "--storage-path",
        default=None,
        help="Ray storage for checkpoints: a local path or a URI such as s3://bucket/dir "
        "(default: OUT/ray)",
    )
    if tracking:
        parser.add_argument(
            "--mlflow",
            nargs="?",
            const=LOCAL_STORE,
            default=None,
            metavar="URI",
            help="record params, per-epoch metrics and the report files in MLflow: a "
            "tracking URI (http://host:5000, sqlite:///path.db, databricks) or a directory; "
            f"alone: a local store in OUT/{LOCAL_STORE} (needs pip install "
            '"quantray[mlflow]")',
        )


def _bounded(parse: Callable[[str], Any], noun: str, bound: str) -> Any:
    """An argparse type: ``parse(text)``, which must satisfy ``bound`` (">= 1", "> 0", ...)."""
    op, low = bound.split()
    limit = parse(low)

    def convert(text: str) -> Any:
        try:
            value = parse(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {noun} {bound}, got {text!r}") from None
        if not (value > limit if op == ">" else value >= limit):
            raise argparse.ArgumentTypeError(f"must be {bound}, got {text}")
        return value

    convert.__doc__ = f"argparse type: {noun} {bound}."
    return convert


positive_int = _bounded(int, "a whole number", ">= 1")
"""argparse type: counts where 0 or less would mean "no training"."""
non_negative_int = _bounded(int, "a whole number", ">= 0")
"""argparse type: 0 = none, e.g. no extra workers."""
positive_float = _bounded(float, "a number", "> 0")
"""argparse type: seconds, resource amounts."""


def add_timeout_arg(parser: argparse.ArgumentParser) -> None:
    """``--timeout SECONDS``: how long to wait for a joined (autoscaling) cluster to provide
    the resources asked for; without it a request the cluster cannot meet stops at once."""
    parser.add_argument(
        "--timeout",
        type=positive_float,
        default=None,
        metavar="SECONDS",
        help="with --address: wait up to this long for an autoscaling cluster to provide the "
        "requested CPUs/GPUs (default: stop at once with what is missing)",
    )


def script_parser(
    doc: str,
    default_out: str,
    *,
    tracking: bool = False,
    address: bool = False,
    timeout: bool = False,
) -> argparse.ArgumentParser:
    """The parser every script starts from: its description is the first line of the
    script's docstring ``doc``, then the common flags (``add_common_args``); with ``address``,
    ``--address`` (join a running Ray cluster); with ``timeout``, ``--timeout`` too
    (``add_timeout_arg``)."""
    parser = argparse.ArgumentParser(description=doc.split("\n")[0])
    add_common_args(parser, default_out, tracking=tracking)
    if address:
        parser.add_argument(
            "--address",
            default=None,
            help="Ray cluster to join ('auto' or host:port); default: a local Ray",
        )
    if timeout:
        add_timeout_arg(parser)
    return parser


def run_name(prefix: str) -> str:
    """A run / experiment name unique even for runs started in the same second:
    ``<prefix>-<UTC yyyymmdd-hhmmss>-<6 hex>``."""
    return f"{prefix}-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}-{secrets.token_hex(3)}"


OUT_LOCK = ".quantray-run.lock"
"""Held (flock) in ``--out`` by the run writing there: a second run on the same --out stops."""
_held_locks: dict[Path, int] = {}


def claim_out_dir(out: str | Path, storage: str | None = None) -> Path:
    """Create ``out`` and hold its run lock for the life of this process; check a local
    ``storage`` path is a writable directory. Each problem is a ``ConfigError`` (exit 2):
    ``out`` is a file, cannot be created or written, another live run holds it, or the
    storage path is not writable."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ConfigError(
            f"--out {out} is an existing file, expected a directory for the results; "
            "give a directory path (it is created if missing)"
        )
    _writable_dir(out, "--out")
    if storage and "://" not in storage:
        _writable_dir(Path(storage), "--storage-path")
    lock = (out / OUT_LOCK).resolve()
    if lock in _held_locks:
        return out  # this process already holds it (a script's main called twice)
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "another process"
        os.close(fd)
        if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            raise
        raise ConfigError(
            f"--out {out} is in use by a running job ({holder}): two runs writing one "
            "directory would overwrite each other's reports; give another --out or wait "
            "for that run to end"
        ) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"pid {os.getpid()}, started {time.strftime('%Y-%m-%d %H:%M:%S')}".encode(), 0)
    _held_locks[lock] = fd  # released when the process exits, however it exits
    return out


def _writable_dir(path: Path, flag: str) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as exc:
        raise ConfigError(
            f"{flag} {path}: cannot create or write there ({exc.strerror or exc}); choose a "
            "directory you can write, or fix its permissions"
        ) from None


def storage_path(args: argparse.Namespace) -> str:
    """Absolute storage path (Ray needs one); URIs pass through."""
    if args.storage_path and "://" in args.storage_path:
        return str(args.storage_path)
    return str(Path(args.storage_path or Path(args.out) / "ray").resolve())


def mlflow_target(args: argparse.Namespace, script: str) -> MlflowTarget | None:
    """``--mlflow`` resolved for ``script`` (None without the flag) and its store opened; a
    missing mlflow package or a store that cannot be opened is a ConfigError, so the script
    exits 2 before any work."""
    target = resolve_target(getattr(args, "mlflow", None), args.out, script)
    if target is not None:
        open_store(target)
    return target


def claim_run(
    args: argparse.Namespace, script: str | None = None
) -> tuple[Path, MlflowTarget | None]:
    """The start of a script's work once its flags are checked: with ``script``, its
    ``--mlflow`` target resolved and opened (``mlflow_target``; None without the flag), then
    ``--out`` created and held (``claim_out_dir``). Returns (out, target); a missing mlflow
    package, a store that cannot be opened or an unusable --out / --storage-path is a
    ConfigError (exit 2) before any work."""
    tracking = None if script is None else mlflow_target(args, script)
    return claim_out_dir(args.out, args.storage_path), tracking


def stage2_features(args: argparse.Namespace, out: Path, *, seed: int = 0) -> str | None:
    """The frozen-feature cache a stage-2 script reads: ``--features`` as given (None for
    ``raw``: the raw normalised features); without the flag, a small stage-1 model is trained
    once under ``OUT/stage1`` on ``--data`` (with ``seed``) and its cache is used."""
    features = args.features
    if features is None:
        from quantray.features.store import ensure_feature_cache, small_stage1_spec

        print("[stage 2] no --features given: training a small stage-1 model for features")
        spec = small_stage1_spec(args.data, smoke=args.smoke_test, seed=seed)
        features = str(ensure_feature_cache(spec, out / "stage1", progress=True))
    return None if features == "raw" else features


def run(main: Callable[[], int | None]) -> None:
    """Run a script's main; user errors exit 2 with their message, no traceback. An MLflow
    run left open by an error is ended FAILED (KILLED on Ctrl-C)."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        code = main()
    except (DataError, ConfigError) as exc:
        end_active_run("FAILED")
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(EXIT_USER_ERROR)
    except OSError as exc:
        if exc.filename is None:
            end_active_run("FAILED")
            raise
        # A path the user gave cannot be read or written: their mistake to fix, not a bug.
        end_active_run("FAILED")
        print(f"error: {exc.filename}: {exc.strerror or exc}", file=sys.stderr)
        sys.exit(EXIT_USER_ERROR)
    except KeyboardInterrupt:
        end_active_run("KILLED")
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    except BaseException:
        end_active_run("FAILED")
        raise
    sys.exit(code or 0)


def frame_to_markdown(frame: pd.DataFrame, floatfmt: str = ".4g") -> list[str]:
    """A DataFrame as Markdown table lines (index first), numbers with ``floatfmt``."""

    def cell(value: object) -> str:
        if isinstance(value, float) and value.is_integer() and abs(value) >= 1000:
            return f"{int(value):,}"  # counts (parameters, units) read better in full
        return format(value, floatfmt) if isinstance(value, float) else str(value)

    header = [str(frame.index.name or ""), *map(str, frame.columns)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for index, row in frame.iterrows():
        lines.append("| " + " | ".join([str(index), *map(cell, row.tolist())]) + " |")
    return lines
