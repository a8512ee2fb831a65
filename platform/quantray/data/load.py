"""Read daily bars from CSV or Parquet into canonical per-symbol frames.

Accepted layouts: one file per symbol (the symbol is the file name), a directory of such
files, one long file with a symbol column, or yfinance's multi-level layout (one or more
tickers, CSV or Parquet, see ``quantray.data.yfinance_layout``). Parquet is recognised by its
name (.parquet, .pq) or its magic bytes. Accepted headers: yfinance-style English
(Date, Open, High, Low, Close, Adj Close, Volume) and akshare-style Chinese (日期, 股票代码,
开盘, 收盘, 最高, 最低, 成交量, 成交额, 振幅, 涨跌幅, 涨跌额, 换手率). The result for each symbol:
a sorted unique DatetimeIndex named ``date`` and float64 columns open, high, low, close,
volume (+ amount, turnover, close_unadj when present). Every file goes through the checks in
``quantray.data.validate``; a bad file raises ``DataError`` before anything is returned.
"""

from __future__ import annotations

import datetime
import difflib
import gzip
import hashlib
import logging
import zlib
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from quantray.config import DataConfig
from quantray.data import yfinance_layout
from quantray.data.errors import DataError, unparseable_csv
from quantray.data.features import FEATURE_WARMUP
from quantray.data.validate import REQUIRED_COLUMNS, SymbolReport, canonicalize
from quantray.data.yfinance_layout import TickerTables

log = logging.getLogger("quantray.data")
_WARNED: set[str] = set()

DATA_SUFFIXES = (".csv", ".csv.gz", ".txt", ".parquet", ".pq")
PARQUET_MAGIC = b"PAR1"
"""First four bytes of every Parquet file: a Parquet file loads whatever its name."""

# Normalised header (lower case, no spaces/underscores) -> canonical name.
_ALIASES: dict[str, str] = {
    "date": "date",
    "datetime": "date",
    "timestamp": "date",
    "tradedate": "date",
    "日期": "date",
    "交易日期": "date",
    "open": "open",
    "开盘": "open",
    "开盘价": "open",
    "high": "high",
    "最高": "high",
    "最高价": "high",
    "low": "low",
    "最低": "low",
    "最低价": "low",
    "close": "close",
    "收盘": "close",
    "收盘价": "close",
    "adjclose": "adj_close",
    "closeunadj": "close_unadj",
    "unadjclose": "close_unadj",
    "unadjustedclose": "close_unadj",
    "rawclose": "close_unadj",
    "不复权收盘": "close_unadj",
    "volume": "volume",
    "vol": "volume",
    "成交量": "volume",
    "amount": "amount",
    "成交额": "amount",
    "turnover": "turnover",
    "换手率": "turnover",
    "symbol": "symbol",
    "ticker": "symbol",
    "code": "symbol",
    "股票代码": "symbol",
    "代码": "symbol",
}
# Known columns we do not use: derived from the bars we keep, or irrelevant to daily bars.
_IGNORED = {
    "振幅",
    "涨跌幅",
    "涨跌额",
    "openint",
    "openinterest",
    "dividends",
    "stocksplits",
    "capitalgains",
    "名称",
    "股票名称",
}


def default_min_rows(config: DataConfig | None = None) -> int:
    """Fewest bars a symbol needs: feature warm-up + one window + one horizon."""
    config = config or DataConfig()
    return FEATURE_WARMUP + config.window + config.horizon


def _normalise(name: object) -> str:
    return str(name).strip().lower().replace(" ", "").replace("_", "").replace("-", "")


def is_parquet(path: Path) -> bool:
    """A .parquet / .pq name, or Parquet's magic bytes at the start of the file."""
    if path.name.lower().endswith((".parquet", ".pq")):
        return True
    with open(path, "rb") as handle:
        return handle.read(len(PARQUET_MAGIC)) == PARQUET_MAGIC


_SEP_NAMES = {",": "commas", ";": "semicolons", "\t": "tabs", "|": "vertical bars"}


def sniff_delimiter(header_line: str) -> str:
    """The column separator of a CSV from its header line: the most frequent of comma,
    semicolon, tab and vertical bar (comma when none appears: a one-column file)."""
    counts = {sep: header_line.count(sep) for sep in _SEP_NAMES}
    best = max(counts, key=lambda sep: counts[sep])
    return best if counts[best] > counts[","] else ","


def _first_line(path: Path, encoding: str) -> str:
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    with opener(path, "rt", encoding=encoding) as handle:
        return handle.readline(65536)


def _check_unique_header(names: list[str], file: str) -> None:
    """Two columns with the same name: pandas would rename the second and it would be lost."""
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise DataError(
                file,
                f"column {name!r} appears more than once in the header",
                found=f"header {names}",
                expected="each column name once",
                fix=f"delete or rename the extra {name!r} column",
            )
        seen.add(name)


def _is_date_like(index: pd.Index) -> bool:
    if isinstance(index, pd.DatetimeIndex):
        return True
    return index.dtype == object and len(index) > 0 and isinstance(index[0], datetime.date)


def _dates_from_index(raw: pd.DataFrame, file: str) -> pd.DataFrame:
    """Parquet written from a frame indexed by date (named or not, datetime64 or date32):
    the index becomes the date column. A date index AND a date column must agree."""
    if not _is_date_like(raw.index):
        return raw.reset_index(drop=True)
    date_columns = [c for c in raw.columns if _ALIASES.get(_normalise(c)) == "date"]
    if not date_columns:
        return raw.rename_axis("date").reset_index()
    column = pd.to_datetime(raw[date_columns[0]], errors="coerce").to_numpy()
    index = pd.to_datetime(raw.index).to_numpy()
    if len(column) == len(index) and (column == index).all():
        return raw.reset_index(drop=True)
    i = int(np.flatnonzero(column != index)[0])
    raise DataError(
        file,
        f"both a date index and a date column ({date_columns[0]!r}), and they differ",
        where=f"row {i + 1}",
        found=f"index {raw.index[i]!r}, column {raw[date_columns[0]].iloc[i]!r}",
        expected="the dates once: as the index or as a column",
        fix="drop one of them before saving (frame.reset_index(drop=True) or "
        "frame.drop(columns=...))",
    )


def _read_table(path: Path) -> pd.DataFrame | TickerTables:
    """Read one file into a raw frame (no type coercion of dates) with a ``_line`` column,
    or, for yfinance's multi-level layout, into one such frame per ticker."""
    file = str(path)
    if path.stat().st_size == 0:
        raise DataError(
            file,
            "file is empty",
            found="0 bytes",
            expected="a CSV or Parquet file of daily bars with a header row",
            fix="re-export the data; the file was probably truncated",
        )
    name = path.name.lower()
    if is_parquet(path):
        try:
            raw = pd.read_parquet(path)
        except Exception as exc:
            raise DataError(
                file,
                "could not be read as Parquet",
                found=f"{type(exc).__name__}: {exc}",
                expected="a Parquet file of daily bars",
                fix="check the file is complete Parquet, or export CSV instead",
            ) from None
        if isinstance(raw.columns, pd.MultiIndex):
            return yfinance_layout.split_frame(raw, file)
        raw = _dates_from_index(raw, file)
        raw["_line"] = np.arange(1, len(raw) + 1)
        raw.attrs["row_label"] = "row"
        return raw
    if not name.endswith(".gz"):
        with open(path, "rb") as handle:
            head = handle.read(4096)
        if b"\x00" in head:
            raise DataError(
                file,
                "unreadable file: it is binary, not text CSV",
                found="NUL bytes in the first 4 KiB",
                expected="a text CSV (comma-separated, header row) or a .parquet file",
                fix="export the sheet as CSV (an .xlsx renamed to .csv will not work)",
            )
    try:
        return _read_csv(path, file)
    except (OSError, EOFError, zlib.error) as exc:
        if not name.endswith(".gz"):
            raise
        raise DataError(
            file,
            "could not be decompressed as gzip",
            found=f"{type(exc).__name__}: {exc}",
            expected="a complete gzip-compressed CSV (the name ends in .gz)",
            fix="re-download or re-compress the file (gzip FILE.csv), or drop the .gz suffix "
            "if it is plain text",
        ) from None


def _read_csv(path: Path, file: str) -> pd.DataFrame | TickerTables:
    tickers = yfinance_layout.read_csv(path, file)
    if tickers is not None:
        return tickers
    last_error: Exception | None = None
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            sep = sniff_delimiter(_first_line(path, encoding))
            names = pd.read_csv(path, encoding=encoding, header=None, nrows=1, sep=sep, dtype=str)
            _check_unique_header(
                [str(c).strip() for c in names.iloc[0].tolist() if pd.notna(c)], file
            )
            header = pd.read_csv(path, encoding=encoding, nrows=0, sep=sep).columns
            # Codes like 000001 and dates must stay text: parsing them as numbers loses
            # leading zeros and formats.
            as_text = {c: str for c in header if _ALIASES.get(_normalise(c)) in ("symbol", "date")}
            raw = pd.read_csv(
                path, encoding=encoding, skip_blank_lines=False, dtype=as_text, sep=sep
            )
            if sep != ",":
                _warn_once([f"{file}: columns are separated by {_SEP_NAMES[sep]}; read as such"])
            break
        except UnicodeDecodeError as exc:
            last_error = exc
        except DataError:
            raise
        except pd.errors.EmptyDataError:
            raise DataError(
                file,
                "file is empty",
                found="no header and no rows",
                expected="a header row and daily bars",
                fix="re-export the data",
            ) from None
        except (pd.errors.ParserError, ValueError) as exc:
            raise unparseable_csv(file, exc) from None
    else:
        raise DataError(
            file,
            "unreadable file: not UTF-8 or GB18030 text",
            found=str(last_error),
            expected="a text CSV in UTF-8 (or GBK/GB18030 for Chinese exports)",
            fix="re-save the file as UTF-8 CSV",
        )
    raw["_line"] = np.arange(2, len(raw) + 2)
    raw.attrs["row_label"] = "line"
    blank = raw.drop(columns="_line").isna().all(axis=1)
    return raw[~blank.to_numpy()].reset_index(drop=True)


def _map_columns(raw: pd.DataFrame, file: str) -> tuple[pd.DataFrame, list[str]]:
    """Rename to canonical names; error on a missing required column with a near-name hint."""
    rename: dict[object, str] = {}
    unknown: list[str] = []
    for col in raw.columns:
        if col == "_line":
            continue
        key = _normalise(col)
        if key in _ALIASES and _ALIASES[key] in rename.values():
            other = next(c for c, canon in rename.items() if canon == _ALIASES[key])
            raise DataError(
                file,
                f"columns {str(other)!r} and {str(col)!r} both mean '{_ALIASES[key]}'",
                found=f"columns {[str(c) for c in raw.columns if c != '_line']}",
                expected=f"one '{_ALIASES[key]}' column",
                fix=f"delete or rename one of {str(other)!r} and {str(col)!r}",
            )
        if key in _ALIASES:
            rename[col] = _ALIASES[key]
        elif key not in _IGNORED:
            unknown.append(str(col))
    for need in REQUIRED_COLUMNS:
        if need in rename.values():
            continue
        aliases = [a for a, c in _ALIASES.items() if c == need]
        guess = ""
        for col in unknown:
            if difflib.get_close_matches(_normalise(col), aliases, n=1, cutoff=0.7):
                guess = f' Did you mean to name column "{col}" as "{need}"?'
                break
        raise DataError(
            file,
            f"missing required column '{need}'",
            found=f"columns {[str(c) for c in raw.columns if c != '_line']}",
            expected="Date, Open, High, Low, Close, Volume (English) or 日期, 开盘, 最高, 最低, "
            "收盘, 成交量 (Chinese), any case",
            fix=f"rename the column in the file header.{guess}",
        )
    out = raw[[*rename, "_line"]].rename(columns=rename)
    out.attrs = dict(raw.attrs)
    return out, unknown


def _files(path: Path) -> list[Path]:
    if not path.exists():
        raise DataError(
            str(path),
            "path does not exist",
            expected="a CSV/Parquet file or a directory of them",
            fix="check the spelling, or run from the directory the path is relative to",
        )
    if path.is_dir():
        files = _data_files(path)
        if not files:
            raise DataError(
                str(path),
                "directory holds no data files",
                expected=f"files ending in {', '.join(DATA_SUFFIXES)}",
                fix="point at the directory that holds the CSV/Parquet bars",
            )
        return files
    return [path]


NOT_DATA_STEMS = ("readme", "license", "licence", "notes", "provenance", "changelog")
"""File names (before the first dot, any case) that are never bars, whatever their suffix."""


def _data_files(directory: Path) -> list[Path]:
    """The data files of a directory, sorted. Skipped, with a warning naming each: entries
    that are directories, documentation (README.txt, NOTES, ...), files without a data suffix
    and .txt files whose first line is not a delimited header. A link to nothing is an error."""
    files: list[Path] = []
    skipped: list[str] = []
    for entry in sorted(directory.iterdir()):
        lower = entry.name.lower()
        if not lower.endswith(DATA_SUFFIXES):
            if not lower.startswith("."):
                skipped.append(f"{entry.name} (not {'/'.join(DATA_SUFFIXES)})")
            continue
        if entry.is_symlink() and not entry.exists():
            raise DataError(
                str(entry),
                "broken symbolic link in the data directory",
                found=f"a link to {entry.readlink()}, which does not exist",
                expected="a CSV/Parquet file",
                fix="fix the link's target or delete the link",
            )
        if entry.is_dir():
            skipped.append(f"{entry.name} (a directory: not searched)")
        elif lower.split(".")[0] in NOT_DATA_STEMS:
            skipped.append(f"{entry.name} (documentation)")
        elif lower.endswith(".txt") and not _looks_delimited(entry):
            skipped.append(f"{entry.name} (first line is not a delimited header)")
        else:
            files.append(entry)
    if skipped:
        _warn_once([f"{directory}: skipped {', '.join(skipped)}"])
    return files


def _looks_delimited(path: Path) -> bool:
    with open(path, "rb") as handle:
        first = handle.readline(4096).decode("utf-8", errors="replace")
    return max(first.count(sep) for sep in _SEP_NAMES) >= len(REQUIRED_COLUMNS) - 1


def _symbol_of(path: Path) -> str:
    name = path.name
    for suffix in sorted(DATA_SUFFIXES, key=len, reverse=True):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return path.stem


def _warn_once(messages: Iterable[str]) -> None:
    # Once per process: Tune trials and env runners reload the same files.
    for message in messages:
        if message not in _WARNED:
            _WARNED.add(message)
            log.warning(message)


def _symbol_tables(path: Path, file: str) -> list[tuple[str, pd.DataFrame]]:
    """The raw rows of each symbol in one file, with canonical column names: by ticker for
    yfinance's multi-level layout, by the symbol column of a long file, else the whole file
    under the file's name."""
    table = _read_table(path)
    if isinstance(table, TickerTables):
        _warn_once(table.warnings)
        mapped = [(ticker, *_map_columns(rows, file)) for ticker, rows in table.tables.items()]
        if any(unknown for *_, unknown in mapped):
            log.info("%s: ignoring columns %s", file, sorted({u for *_, us in mapped for u in us}))
        return [(ticker, rows) for ticker, rows, _ in mapped]
    raw, unknown = _map_columns(table, file)
    if unknown:
        log.info("%s: ignoring columns %s", file, unknown)
    if "symbol" not in raw.columns:
        return [(_symbol_of(path), raw)]
    raw["symbol"] = raw["symbol"].astype("string").str.strip()
    blank = (raw["symbol"].isna() | (raw["symbol"] == "")).to_numpy()
    if blank.any():
        i = int(np.flatnonzero(blank)[0])
        raise DataError(
            file,
            "blank symbol in a long file",
            where=f"{raw.attrs.get('row_label', 'line')} {int(raw['_line'].iloc[i])}",
            found=f"{int(blank.sum())} rows without a symbol",
            expected="a symbol (ticker or code) on every row",
            fix="fill the symbol on those rows, or delete them",
        )
    groups = [
        (str(sym), part.drop(columns="symbol").reset_index(drop=True))
        for sym, part in raw.groupby("symbol", sort=True)
    ]
    for _, part in groups:
        part.attrs = dict(raw.attrs)
    return groups


def load_bars_with_reports(
    paths: str | Path | Iterable[str | Path], *, min_rows: int | None = None
) -> tuple[dict[str, pd.DataFrame], list[SymbolReport]]:
    """Like ``load_bars`` but also returns one ``SymbolReport`` per symbol."""
    if isinstance(paths, (str, Path)):
        paths = [paths]
    min_rows = default_min_rows() if min_rows is None else min_rows
    bars: dict[str, pd.DataFrame] = {}
    reports: list[SymbolReport] = []
    for given in paths:
        for path in _files(Path(given)):
            file = str(path)
            for symbol, part in _symbol_tables(path, file):
                if symbol in bars:
                    raise DataError(
                        file,
                        f"symbol {symbol!r} appears in more than one file",
                        found=f"also in {bars[symbol].attrs['source']}",
                        expected="each symbol once",
                        fix="remove the duplicate file or rename one of them",
                    )
                frame, report = canonicalize(part, file, symbol, min_rows)
                _warn_once(report.warnings)
                bars[symbol] = frame
                reports.append(report)
    return bars, reports


def load_bars(
    path: str | Path | Iterable[str | Path], *, min_rows: int | None = None
) -> dict[str, pd.DataFrame]:
    """Load and validate daily bars: ``{symbol: frame}`` with canonical float64 columns.

    Raises ``DataError`` (a ``ValueError``) naming the file, row/date, what was found, what
    was expected and the fix, for any problem listed in ``quantray.data.validate``.
    """
    return load_bars_with_reports(path, min_rows=min_rows)[0]


def data_hash(bars: dict[str, pd.DataFrame]) -> str:
    """Content hash of canonical bars (symbols, dates, values): keys feature caches."""
    digest = hashlib.sha256()
    for symbol in sorted(bars):
        frame = bars[symbol]
        digest.update(symbol.encode())
        digest.update(frame.index.to_numpy().astype("datetime64[ns]").tobytes())
        for col in sorted(frame.columns):
            digest.update(col.encode())
            digest.update(np.ascontiguousarray(frame[col].to_numpy(dtype="float64")).tobytes())
    return digest.hexdigest()[:16]
