"""Shared command-line pieces for the scripts in ``experiments/``.

Every script takes ``--smoke-test``, ``--data PATH``, ``--out DIR`` and ``--storage-path
DIR|URI``, checks its inputs before any Ray work starts, and turns user mistakes (bad data,
bad settings) into a clear message and exit code 2 instead of a traceback.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from quantray.config import ConfigError
from quantray.data.errors import DataError

EXIT_USER_ERROR = 2


def add_common_args(parser: argparse.ArgumentParser, default_out: str) -> None:
    """Add --smoke-test, --data, --out and --storage-path."""
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


def storage_path(args: argparse.Namespace) -> str:
    """Absolute storage path (Ray needs one); URIs pass through."""
    if args.storage_path and "://" in args.storage_path:
        return str(args.storage_path)
    return str(Path(args.storage_path or Path(args.out) / "ray").resolve())


def run(main: Callable[[], int | None]) -> None:
    """Run a script's main; user errors exit 2 with their message, no traceback."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        code = main()
    except (DataError, ConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(EXIT_USER_ERROR)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
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
