"""yfinance's multi-level column layout, as ``yfinance.download(...)`` saves it.

yfinance 0.2.51 and later return daily bars with two column levels, (Price, Ticker) by
default or (Ticker, Price) with ``group_by="ticker"``, even for one ticker. ``to_csv`` writes
the levels as two header rows followed by a row that names the date index::

    Price,Close,High,Low,Open,Volume              Ticker,AAPL,AAPL,...,MSFT,MSFT,...
    Ticker,AAPL,AAPL,AAPL,AAPL,AAPL               Price,Close,High,...,Close,High,...
    Date,,,,,                                     Date,,,,,,,,,,
    2024-01-02,184.7,187.5,182.6,185.6,82488700   2024-01-02,184.7,187.5,...

and ``to_parquet`` keeps the two-level columns (and the date index). Older versions wrote
the same two rows without the level names (first cell blank). This module recognises those
files, checks their header and splits them into one flat table per ticker (columns ``Date``
and the yfinance field names, plus ``_line``), which ``quantray.data.load`` then validates
like any other file. The symbol is the ticker from the header, not the file name.

Header rules (each broken one is a ``DataError`` naming the file, the header cell, what was
found, what was expected and the fix): every column has a field name and a ticker; no
(field, ticker) pair appears twice; every ticker has Open, High, Low, Close and Volume
(Adj Close, Dividends, Stock Splits and Capital Gains are optional). A multi-ticker download
is written on the union of the tickers' calendars: a ticker's dates where ALL its cells are
blank (before its listing, after a delisting, its exchange's holidays) are left out of that
ticker, with a warning giving the count; partly blank rows are kept and fail validation.
"""

from __future__ import annotations

import difflib
import functools
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from quantray.data.errors import DataError, unparseable_csv

FIELDS: dict[str, str] = {
    "open": "Open",
    "high": "High",
    "low": "Low",
    "close": "Close",
    "adjclose": "Adj Close",
    "volume": "Volume",
    "dividends": "Dividends",
    "stocksplits": "Stock Splits",
    "capitalgains": "Capital Gains",
    "repaired?": "Repaired?",
}
"""yfinance's field names (normalised: lower case, no spaces) -> as yfinance spells them."""
REQUIRED_FIELDS = ("Open", "High", "Low", "Close", "Volume")
"""Fields every ticker needs; the others are optional."""
DATE_LABELS = ("date", "datetime")
"""Index names yfinance writes on the third header row (daily and intraday downloads)."""
HEADER_ROWS = 3
"""Lines before the first bar in a multi-level CSV: two column levels and the index name."""


@dataclass(frozen=True)
class TickerTables:
    """A multi-level file split by ticker: flat raw tables in file order, and warnings."""

    tables: dict[str, pd.DataFrame]
    """Ticker -> raw rows (``Date``, yfinance field columns, ``_line``; text or numbers)."""
    warnings: list[str] = field(default_factory=list)
    """Messages about dates left out of a ticker (all its cells blank)."""


def _norm(cell: object) -> str:
    if cell is None or (isinstance(cell, float) and np.isnan(cell)):
        return ""
    return str(cell).strip().lower().replace(" ", "").replace("_", "")


def _is_blank(cell: object) -> bool:
    return _norm(cell) == "" or _norm(cell).startswith("unnamed:")


def _field_level(levels: tuple[list[object], list[object]]) -> int:
    """Which of the two column levels holds the field names (0 or 1), or -1 if neither: the
    one with more yfinance field names (the level names are optional, so not used)."""
    hits = [sum(_norm(c) in FIELDS for c in level) for level in levels]
    if max(hits) == 0:
        return -1
    return int(np.argmax(hits))


def _blank_rows(body: pd.DataFrame) -> np.ndarray:
    """Rows whose every cell is missing or empty text."""
    text = body.astype("string").apply(lambda c: c.str.strip())
    return (text.isna() | (text == "")).all(axis=1).to_numpy()


def split_by_ticker(
    keys: list[tuple[object, object]],
    body: pd.DataFrame,
    dates: pd.Series,
    lines: np.ndarray,
    file: str,
    *,
    row_label: str,
    header_where: tuple[str, str],
    header: str,
) -> TickerTables:
    """Check a two-level header and cut ``body`` (one column per key, positional) into one
    flat table per ticker. ``header_where`` names each header row, ``header`` both, for
    messages."""
    levels = ([k[0] for k in keys], [k[1] for k in keys])
    f = _field_level(levels)
    if f < 0:
        raise DataError(
            file,
            "two header rows, but neither names yfinance price fields",
            where=header,
            found=f"{levels[0][:6]} / {levels[1][:6]}",
            expected="one row of fields (Open, High, Low, Close, Volume, ...) and one row of "
            "tickers, as yfinance.download writes them",
            fix="save the download unchanged (df.to_csv(path)), or flatten it to one header "
            "row Date, Open, High, Low, Close, Volume with one file per ticker",
        )
    t = 1 - f
    columns: dict[str, dict[str, int]] = {}
    for j, key in enumerate(keys):
        fname, ticker = key[f], key[t]
        for value, what, where in ((ticker, "ticker", header_where[t]), (fname, "field", None)):
            if _is_blank(value):
                other = fname if what == "ticker" else ticker
                raise DataError(
                    file,
                    f"a column has no {what}",
                    where=f"{where or header_where[f]}, column {j + 2}",
                    found=f"a blank {what} cell (the column's other header cell is {other!r})",
                    expected=f"a {what} in the {'Ticker' if what == 'ticker' else 'Price'} "
                    "row for every data column, as yfinance writes it",
                    fix=f"write the {what} into that header cell, or delete the column",
                )
        ticker = str(ticker).strip()
        display = FIELDS.get(_norm(fname), str(fname).strip())
        per_ticker = columns.setdefault(ticker, {})
        if display in per_ticker:
            raise DataError(
                file,
                f"column ({display}, {ticker}) appears twice",
                where=f"{header}, columns {per_ticker[display] + 2} and {j + 2}",
                found=f"two {display!r} columns for ticker {ticker!r}",
                expected="each (field, ticker) pair once",
                fix="delete one of the two columns (or fix the ticker of one of them)",
            )
        per_ticker[display] = j
    tables: dict[str, pd.DataFrame] = {}
    warnings: list[str] = []
    for ticker, cols in columns.items():
        missing = [r for r in REQUIRED_FIELDS if r not in cols]
        if missing:
            unknown = [c for c in cols if _norm(c) not in FIELDS]
            guess = difflib.get_close_matches(missing[0], unknown, n=1, cutoff=0.6)
            hint = f" (is {guess[0]!r} a misspelt {missing[0]!r}?)" if guess else ""
            raise DataError(
                file,
                f"ticker {ticker!r} has no {missing[0]!r} column",
                where=header,
                found=f"{ticker} columns {list(cols)}",
                expected="Open, High, Low, Close and Volume for every ticker (Adj Close optional)",
                fix=f"download {ticker} again, or add its missing column{hint}",
            )
        part = pd.DataFrame({name: body.iloc[:, j].to_numpy() for name, j in cols.items()})
        blank = _blank_rows(part)
        if blank.all():
            raise DataError(
                file,
                f"ticker {ticker!r} has no bars: every cell in its columns is blank",
                where=header,
                found=f"{len(part)} rows, all blank for {ticker}",
                expected="daily bars for every ticker in the header",
                fix=f"check the symbol {ticker!r} (yfinance leaves a failed download blank), "
                "or delete its columns",
            )
        part.insert(0, "Date", dates.to_numpy())
        part["_line"] = lines
        part = part[~blank].reset_index(drop=True)
        if blank.any():
            warnings.append(
                f"{file}: {ticker} has no bars on {int(blank.sum())} of the file's "
                f"{len(blank)} dates (all its cells blank: not listed yet, delisted, or an "
                "exchange holiday); those dates are left out of its calendar"
            )
        part.attrs["row_label"] = f"ticker {ticker}, {row_label}"
        tables[ticker] = part
    return TickerTables(tables, warnings)


def _looks_multilevel(head: pd.DataFrame) -> bool:
    """Two header rows and a ``Date,,,`` row naming the index, the way pandas writes
    two-level columns, with yfinance field names in one of the header rows."""
    if head.shape[0] < HEADER_ROWS or head.shape[1] < 2:
        return False
    top, second, index_row = (head.iloc[i].tolist() for i in range(HEADER_ROWS))
    if _norm(index_row[0]) not in DATE_LABELS or not all(_is_blank(c) for c in index_row[1:]):
        return False
    if all(_is_blank(c) for c in top[1:]) or all(_is_blank(c) for c in second[1:]):
        return False
    return _field_level((top[1:], second[1:])) >= 0


def read_csv(path: Path, file: str) -> TickerTables | None:
    """Split a yfinance multi-level CSV by ticker; ``None`` when the file is not one (the
    ordinary one-header-row reader then handles it)."""
    # Every cell as text, no header: the header block and the body are read separately.
    read = functools.partial(pd.read_csv, path, header=None, dtype=str, encoding="utf-8-sig")
    try:
        head = read(nrows=HEADER_ROWS, keep_default_na=False)
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError):
        return None
    if not _looks_multilevel(head):
        return None
    try:
        body = read(skiprows=HEADER_ROWS, skip_blank_lines=False)
    except pd.errors.EmptyDataError:
        raise DataError(
            file,
            "no data rows after the yfinance header",
            where=f"line {HEADER_ROWS + 1} (the first bar's line)",
            found="the end of the file: only the Price / Ticker / Date header lines",
            expected=f"one line of bars per date after line {HEADER_ROWS}",
            fix="download again; the file holds the header only",
        ) from None
    except (pd.errors.ParserError, ValueError) as exc:
        raise unparseable_csv(file, exc, first_line=HEADER_ROWS + 1) from None
    if body.shape[1] != head.shape[1]:
        raise DataError(
            file,
            "data rows and header rows have different widths",
            where=f"line {HEADER_ROWS + 1}",
            found=f"{body.shape[1]} fields per row, {head.shape[1]} header cells",
            expected="one header cell per field",
            fix="re-save the download unchanged, or repair the header rows",
        )
    lines = np.arange(HEADER_ROWS + 1, HEADER_ROWS + 1 + len(body))
    keep = ~_blank_rows(body)
    body, lines = body[keep].reset_index(drop=True), lines[keep]
    keys = list(zip(head.iloc[0, 1:], head.iloc[1, 1:], strict=True))
    return split_by_ticker(
        keys,
        body.iloc[:, 1:],
        body.iloc[:, 0],
        lines,
        file,
        row_label="line",
        header_where=("line 1", "line 2"),
        header="header lines 1-2",
    )


def split_frame(raw: pd.DataFrame, file: str) -> TickerTables:
    """Split a frame with two-level columns (a Parquet file saved from
    ``yfinance.download``) by ticker. The dates are the index, or a ``Date`` column."""
    if raw.columns.nlevels != 2:
        raise DataError(
            file,
            f"{raw.columns.nlevels} column levels",
            found=f"column names like {list(raw.columns[:3])}",
            expected="one level (Date, Open, ...) or yfinance's two (Price, Ticker)",
            fix="save the frame with flat columns, or as yfinance.download returns it",
        )
    keys = list(raw.columns)
    date_cols = [
        j for j, k in enumerate(keys) if any(_norm(c) in DATE_LABELS for c in k) and any(
            _is_blank(c) for c in k
        )
    ]  # fmt: skip
    if isinstance(raw.index, pd.DatetimeIndex):
        dates = pd.Series(raw.index)
    elif date_cols:
        dates = raw.iloc[:, date_cols[0]].reset_index(drop=True)
    else:
        raise DataError(
            file,
            "no dates in a two-level (yfinance) frame",
            found=f"index {type(raw.index).__name__}, columns like {keys[:3]}",
            expected="a DatetimeIndex named Date, as yfinance.download returns it",
            fix="save the download without reset_index(), or add a ('Date', '') column",
        )
    body = raw.drop(columns=[keys[j] for j in date_cols]) if date_cols else raw
    body = body.reset_index(drop=True)
    return split_by_ticker(
        list(body.columns),
        body,
        dates,
        np.arange(1, len(body) + 1),
        file,
        row_label="row",
        header_where=("column level 0", "column level 1"),
        header="the two column levels",
    )
