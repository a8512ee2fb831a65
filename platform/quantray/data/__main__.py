"""``python -m quantray.data validate PATH...``: check daily-bar files before a run.

``python -m quantray.data download --source yfinance|akshare --symbols ... --out DIR``
fetches bars with the optional extras (see ``quantray.data.download``).

Exit 0 and one summary line per symbol (rows, date range, gaps) when every file is good;
exit 2 and a message naming the file, the row or date, what was found, what was expected
and how to fix it, when one is not. Warnings (sorted dates, zero-volume days) go to stderr.
"""

from __future__ import annotations

import argparse
import logging
import sys

import pandas as pd

from quantray.data.download import download
from quantray.data.errors import DataError
from quantray.data.load import default_min_rows, load_bars_with_reports


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m quantray.data", description=__doc__.split("\n")[0]
    )
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser("validate", help="validate CSV/Parquet daily-bar files or directories")
    check.add_argument("paths", nargs="+", help="files or directories of daily bars")
    check.add_argument(
        "--min-rows",
        type=int,
        default=None,
        help=f"fewest bars per symbol (default {default_min_rows()}: feature warm-up + window "
        "+ horizon)",
    )
    fetch = sub.add_parser("download", help="download daily bars (needs the optional extras)")
    fetch.add_argument("--source", required=True, help="yfinance (US) or akshare (China A-shares)")
    fetch.add_argument("--symbols", nargs="+", required=True)
    fetch.add_argument("--start", default="2010-01-01")
    fetch.add_argument("--end", default=pd.Timestamp.today().strftime("%Y-%m-%d"))
    fetch.add_argument("--out", required=True, help="directory for one CSV per symbol")
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.WARNING, format="warning: %(message)s", stream=sys.stderr)
    if args.command == "download":
        try:
            paths = download(args.source, args.symbols, args.start, args.end, args.out)
        except DataError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        print(f"ok: wrote and validated {len(paths)} files in {args.out}")
        return 0
    try:
        _, reports = load_bars_with_reports(args.paths, min_rows=args.min_rows)
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(
            f"error: {exc.filename}: cannot read ({exc.strerror}); check permissions",
            file=sys.stderr,
        )
        return 2
    for report in reports:
        print(report.summary())
    print(f"ok: {len(reports)} symbols valid")
    return 0


if __name__ == "__main__":
    sys.exit(main())
