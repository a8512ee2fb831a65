"""Checks that turn one symbol's raw table into a canonical frame, or stop with a DataError.

Every check names the file, the row (``line N`` counts the header as line 1) or date, what
was found, what was expected and the fix. Nothing is dropped silently:

- unsorted dates are sorted, with a warning;
- exact duplicate rows (same date, same values) are collapsed, with a warning; duplicates
  with conflicting values are an error;
- zero-volume days (suspensions, or index files without volume) are KEPT, with a warning
  giving their count. Policy: the day stays in the calendar so every window spans real
  trading days; price features see an unchanged close; volume features use log(1 + volume)
  so zero is finite. A position held through a suspension earns the (zero) price change, and
  no order placed on a suspended day fills (``quantray.data.limits``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping

import numpy as np
import pandas as pd

from quantray.data.errors import DataError

PRICE_COLUMNS = ("open", "high", "low", "close")
REQUIRED_COLUMNS = ("date", *PRICE_COLUMNS, "volume")
OPTIONAL_COLUMNS = ("amount", "turnover", "close_unadj")
"""``close_unadj``: the UNADJUSTED close, kept beside back-adjusted prices for the exchange's
price-limit rule (``quantray.data.limits``); filled from Close when the file has Adj Close."""
CANONICAL_COLUMNS = (*PRICE_COLUMNS, "volume", *OPTIONAL_COLUMNS)

# Rounding in published bars puts open/close a hair outside [low, high]; beyond this relative
# tolerance it is an error.
RANGE_TOLERANCE = 1e-6

_UTC_OFFSET = r"(\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)\s*(?:[+-]\d{2}:?\d{2}|Z|UTC)$"
_THOUSANDS_GROUPED = r"[+-]?\d{1,3}(,\d{3})+(\.\d*)?"
_DOT_DECIMAL = r"[+-]?\d*\.\d+"

CONSTANT_RUN_DAYS = 20
"""A close unchanged on this many consecutive rows is worth a warning (stale or filled data)."""
LONG_GAP_DAYS = 365
"""A hole of more than a year between two bars is worth a warning (a missing history)."""

# Dates are tried in these formats (the one that parses every row wins), then ISO 8601.
DATE_FORMATS = ("%Y-%m-%d", "%m/%d/%Y", "%Y/%m/%d", "%Y%m%d", "%d.%m.%Y", "%Y-%m-%d %H:%M:%S")


@dataclasses.dataclass(frozen=True)
class SymbolReport:
    """What validation saw for one symbol: the summary line and any warnings."""

    symbol: str
    file: str
    rows: int
    first: pd.Timestamp
    last: pd.Timestamp
    gaps: int
    """Number of holes longer than 4 calendar days between consecutive rows."""
    largest_gap_days: int
    zero_volume_days: int
    warnings: tuple[str, ...]
    unadjusted_close: bool = False
    """The frame keeps an unadjusted close (``close_unadj``): China A-share price limits then
    follow the exchange's rounded limit price; otherwise the return rule (see
    ``quantray.data.limits``)."""

    def summary(self) -> str:
        """One line: symbol, rows, date range, gaps."""
        gap = (
            f"{self.gaps} gaps > 4 days (largest {self.largest_gap_days} days)"
            if self.gaps
            else "no gaps > 4 days"
        )
        volume = (
            "no volume data (every day tradable)"
            if self.zero_volume_days == self.rows
            else f"{self.zero_volume_days} zero-volume days"
            + (" (not tradable)" if self.zero_volume_days else "")
        )
        return (
            f"{self.symbol}: {self.rows} rows, {self.first.date()} .. {self.last.date()}, {gap}, "
            f"{volume}, price limits on "
            f"{'the unadjusted close' if self.unadjusted_close else 'returns (no unadjusted close)'}"
            f"  [{self.file}]"
        )


def _line(raw: pd.DataFrame, position: int) -> str:
    """Human location of a row: ``line N`` of a text file (header = line 1), ``row N`` else."""
    return f"{raw.attrs.get('row_label', 'line')} {int(raw['_line'].iloc[position])}"


def parse_dates(raw: pd.DataFrame, file: str) -> pd.Series:
    """Parse the date column; error on the first row that no single format explains."""
    col = raw["date"]
    if pd.api.types.is_datetime64_any_dtype(col):
        parsed = pd.to_datetime(col)
    else:
        # A UTC offset after a time of day ("2012-09-13 00:00:00-04:00", yfinance's
        # history() export) is dropped: the wall-clock date at the exchange is the bar's day.
        text = col.astype("string").str.strip().str.replace(_UTC_OFFSET, r"\1", regex=True)
        best, best_ok = None, -1
        for fmt in DATE_FORMATS:
            attempt = pd.to_datetime(text, format=fmt, errors="coerce")
            ok = int(attempt.notna().sum())
            if ok > best_ok:
                best, best_ok = attempt, ok
            if ok == len(text):
                break
        if best_ok < len(text):
            iso = pd.to_datetime(text, format="ISO8601", errors="coerce", utc=True)
            if int(iso.notna().sum()) > best_ok:
                best, best_ok = iso.dt.tz_convert(None), int(iso.notna().sum())
        assert best is not None
        if best_ok < len(text):
            bad = int(np.flatnonzero(best.isna().to_numpy())[0])
            raise DataError(
                file,
                "unparseable date",
                where=_line(raw, bad),
                found=repr(col.iloc[bad]),
                expected="a date like 2009-05-22 or 1/4/1999 (one format for the whole column)",
                fix="correct or remove that row; dates must be daily and in one format",
            )
        parsed = best
    if getattr(parsed.dt, "tz", None) is not None:
        # Tz-aware daily stamps (midnight at the exchange): keep the local date, not UTC's.
        parsed = parsed.dt.tz_localize(None)
    times = parsed - parsed.dt.normalize()
    intraday = np.flatnonzero((times != pd.Timedelta(0)).to_numpy())
    if len(intraday):
        i = int(intraday[0])
        raise DataError(
            file,
            "intraday timestamps in a daily file",
            where=_line(raw, i),
            found=f"{parsed.iloc[i]} ({len(intraday)} rows carry a time of day)",
            expected="one bar per day with dates only (time 00:00)",
            fix="resample intraday bars to daily OHLCV (open=first, high=max, low=min, "
            "close=last, volume=sum) before loading",
        )
    return parsed.reset_index(drop=True)


def _text_cells(raw: pd.DataFrame, columns: tuple[str, ...]) -> pd.Series:
    parts = [
        raw[c].astype("string").str.strip()
        for c in columns
        if c in raw.columns and (raw[c].dtype == object or pd.api.types.is_string_dtype(raw[c]))
    ]
    return pd.concat(parts).dropna() if parts else pd.Series([], dtype="string")


def decimal_comma(raw: pd.DataFrame, file: str) -> bool:
    """Whether the prices are written with a decimal comma ("198,50").

    Rule: a comma is a thousands separator only if every comma in the price columns is
    followed by exactly three digits ("1,234.56", "12,345"). A comma followed by any other
    number of digits ("198,50", "198,5", "1234,5678") marks the file as decimal-comma: every
    comma is then the decimal point (and a dot before three digits a thousands separator).
    Prices whose commas are all followed by three digits and that hold no dot anywhere
    ("198,500") could be either, so they are refused rather than guessed (x1000 or not)."""
    cells = _text_cells(raw, (*PRICE_COLUMNS, "adj_close", "close_unadj"))
    with_comma = cells[cells.str.contains(",", regex=False)]
    if with_comma.empty:
        return False
    grouped = with_comma.str.fullmatch(_THOUSANDS_GROUPED)
    if not grouped.all():
        first = with_comma[~grouped].iloc[0]
        dotted = cells.str.fullmatch(_DOT_DECIMAL) & ~cells.str.fullmatch(r"[+-]?\d{1,3}(\.\d{3})+")
        if dotted.any():
            raise DataError(
                file,
                "prices mix a decimal comma and a decimal point",
                found=f"{first!r} beside values written with '.'",
                expected="one number style for the whole file",
                fix="re-export the file with '.' as the decimal point",
            )
        return True
    if not cells.str.contains(".", regex=False).any():
        raise DataError(
            file,
            "ambiguous commas in prices",
            found=f"{with_comma.iloc[0]!r}: every comma is followed by three digits and no "
            "price has a decimal point",
            expected="prices with '.' as the decimal point (1234.5), or unambiguous decimal "
            "commas (198,50)",
            fix="re-export the file with '.' as the decimal point and no thousands separators",
        )
    return False


def _numeric(raw: pd.DataFrame, column: str, file: str, comma: bool = False) -> np.ndarray:
    """One column as float64; ``comma``: the file writes decimals with a comma."""
    col = raw[column]
    if col.dtype == object or pd.api.types.is_string_dtype(col):
        text = col.astype("string").str.strip()
        if comma:
            grouped = text.str.fullmatch(r"[+-]?\d{1,3}(\.\d{3})+(,\d*)?").fillna(False)
            text = text.mask(grouped, text.str.replace(".", "", regex=False))
            cleaned = text.str.replace(",", ".", regex=False)
        else:
            cleaned = text.str.replace(",", "", regex=False)
        values = pd.to_numeric(cleaned, errors="coerce")
        bad = values.isna() & cleaned.notna() & (cleaned != "") & (cleaned.str.lower() != "nan")
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise DataError(
                file,
                f"non-numeric value in column '{column}'",
                where=_line(raw, i),
                found=repr(col.iloc[i]),
                expected="a number",
                fix=f"correct the value in '{column}' at that line, or remove the row",
            )
        return values.to_numpy(dtype="float64", na_value=np.nan)
    if not pd.api.types.is_numeric_dtype(col):
        raise DataError(
            file,
            f"column '{column}' is not numeric",
            found=str(col.dtype),
            expected="numbers",
            fix=f"store '{column}' as numbers",
        )
    return col.to_numpy(dtype="float64", na_value=np.nan)


def _first(mask: np.ndarray) -> int | None:
    hits = np.flatnonzero(mask)
    return int(hits[0]) if len(hits) else None


Values = Mapping[str, np.ndarray]
"""Numeric columns by canonical name, each [T] float64 in file row order."""


@dataclasses.dataclass(frozen=True)
class RowRule:
    """A per-row check on the numeric columns: the first row that breaks it is a DataError."""

    problem: str
    bad: Callable[[Values], np.ndarray]
    """Column values -> [T] bool, True on the rows that break the rule."""
    found: Callable[[pd.DataFrame, Values, int], str]
    """(raw table, column values, row i) -> what the error shows as found on row i."""
    expected: str
    fix: str

    def check(self, raw: pd.DataFrame, values: Values, file: str) -> None:
        """Raise a DataError naming the first row of ``values`` that breaks the rule."""
        i = _first(self.bad(values))
        if i is not None:
            raise DataError(
                file,
                self.problem,
                where=_line(raw, i),
                found=self.found(raw, values, i),
                expected=self.expected,
                fix=self.fix,
            )


def _cell(column: str) -> Callable[[pd.DataFrame, Values, int], str]:
    """``found`` showing the row's cell in ``column`` as the file wrote it."""
    return lambda raw, _values, i: repr(raw[column].iloc[i])


def _price_rules(name: str) -> tuple[RowRule, RowRule]:
    return (
        RowRule(
            f"missing or infinite price in '{name}'",
            lambda v: ~np.isfinite(v[name]),
            _cell(name),
            "a finite positive price on every row",
            "fill the missing bar from your data source, or remove that row",
        ),
        RowRule(
            f"zero or negative price in '{name}'",
            lambda v: v[name] <= 0,
            _cell(name),
            "a price > 0",
            "correct the bar (a price of 0 usually marks a missing value)",
        ),
    )


def _inside_range_rule(name: str) -> RowRule:
    return RowRule(
        f"{name} lies outside [low, high]",
        lambda v: (
            (v[name] > v["high"] * (1 + RANGE_TOLERANCE))
            | (v[name] < v["low"] * (1 - RANGE_TOLERANCE))
        ),
        lambda _raw, v, i: f"{name}={v[name][i]} low={v['low'][i]} high={v['high'][i]}",
        f"low <= {name} <= high",
        "correct that bar; if prices are adjusted, adjust open/high/low/close alike",
    )


VALUE_RULES = (
    *(rule for name in PRICE_COLUMNS for rule in _price_rules(name)),
    RowRule(
        "high is below low",
        lambda v: v["high"] < v["low"],
        lambda _raw, v, i: f"high={v['high'][i]} low={v['low'][i]}",
        "low <= open, close <= high",
        "check whether the high and low columns are swapped, or correct that bar",
    ),
    _inside_range_rule("open"),
    _inside_range_rule("close"),
    RowRule(
        "missing or infinite volume",
        lambda v: ~np.isfinite(v["volume"]),
        _cell("volume"),
        "a volume >= 0 on every row (0 marks a suspended day)",
        "fill the volume, or write 0 for a day without trading",
    ),
    RowRule(
        "negative volume",
        lambda v: v["volume"] < 0,
        _cell("volume"),
        "volume >= 0",
        "correct that row's volume",
    ),
)
"""Prices finite and positive, OHLC consistent, volume finite and non-negative; checked in
this order, so the first broken rule is the one reported."""

UNADJUSTED_CLOSE_RULE = RowRule(
    "missing or non-positive unadjusted close",
    lambda v: ~np.isfinite(v["close_unadj"]) | (v["close_unadj"] <= 0),
    _cell("close_unadj"),
    "close_unadj > 0 on every row",
    "fill the unadjusted close, or drop the column (price limits then use the return rule)",
)
ADJUSTED_CLOSE_RULE = RowRule(
    "missing or non-positive adjusted close",
    # On the adjustment factor (close is already checked finite and positive): a factor that
    # is not a finite positive number would corrupt every back-adjusted price.
    lambda v: ~np.isfinite(v["adj_close"] / v["close"]) | (v["adj_close"] / v["close"] <= 0),
    _cell("adj_close"),
    "Adj Close > 0 on every row",
    "fill the adjusted close, or drop the Adj Close column to use raw prices",
)


def check_values(raw: pd.DataFrame, values: Values, file: str) -> None:
    """Apply ``VALUE_RULES``: the first row breaking one is a DataError."""
    for rule in VALUE_RULES:
        rule.check(raw, values, file)


def suspicious(frame: pd.DataFrame, span: np.ndarray, file: str, symbol: str) -> list[str]:
    """Warnings, not errors, for data that is valid but likely wrong: dates in the future,
    long runs of an unchanged close, and gaps of more than a year between bars."""
    out: list[str] = []
    today = pd.Timestamp.now().normalize()
    future = frame.index > today
    if future.any():
        out.append(
            f"{file}: {symbol} has {int(future.sum())} dates after today "
            f"(first {frame.index[future][0].date()}); check the date column"
        )
    close = frame["close"].to_numpy()
    starts = np.concatenate([[0], np.flatnonzero(np.diff(close) != 0) + 1])  # run starts
    lengths = np.diff(np.concatenate([starts, [len(close)]]))
    k = int(np.argmax(lengths))
    if lengths[k] >= CONSTANT_RUN_DAYS:
        first, last = frame.index[starts[k]], frame.index[starts[k] + lengths[k] - 1]
        out.append(
            f"{file}: {symbol} close is unchanged for {int(lengths[k])} rows "
            f"({first.date()} .. {last.date()}); stale or forward-filled data?"
        )
    long_gaps = np.flatnonzero(span > LONG_GAP_DAYS)
    if len(long_gaps):
        i = int(long_gaps[0])
        out.append(
            f"{file}: {symbol} has {len(long_gaps)} gaps of more than a year (first "
            f"{frame.index[i].date()} .. {frame.index[i + 1].date()}); part of the history "
            "is missing"
        )
    return out


def canonicalize(
    raw: pd.DataFrame, file: str, symbol: str, min_rows: int
) -> tuple[pd.DataFrame, SymbolReport]:
    """Validate one symbol's raw rows (canonical column names, raw values, a ``_line`` column)
    and return the canonical frame plus its report."""
    warnings: list[str] = []
    if len(raw) == 0:
        raise DataError(
            file,
            f"no data rows for symbol {symbol!r} (header only)",
            expected=f"at least {min_rows} daily bars",
            fix="check the export; the file holds column names but no rows",
        )
    dates = parse_dates(raw, file)
    comma = decimal_comma(raw, file)
    if comma:
        warnings.append(
            f"{file}: numbers are written with a decimal comma (198,50 = 198.5); read as such"
        )
    values = {c: _numeric(raw, c, file, comma) for c in (*PRICE_COLUMNS, "volume")}
    for c in OPTIONAL_COLUMNS:
        if c in raw.columns:
            values[c] = _numeric(raw, c, file, comma)
    check_values(raw, values, file)
    if "close_unadj" in values:
        UNADJUSTED_CLOSE_RULE.check(raw, values, file)
    if "adj_close" in raw.columns:
        adj = _numeric(raw, "adj_close", file, comma)
        factor = adj / values["close"]
        ADJUSTED_CLOSE_RULE.check(raw, {**values, "adj_close": adj}, file)
        values.setdefault("close_unadj", values["close"].copy())  # Close is the raw price
        if not np.allclose(factor, 1.0, rtol=1e-9, atol=0):
            # Back-adjust so returns include splits and dividends: scale all four prices by
            # the same factor, which keeps low <= open, close <= high.
            for c in PRICE_COLUMNS:
                values[c] = values[c] * factor
            warnings.append(
                f"{file}: {symbol} prices back-adjusted by Adj Close / Close (splits, dividends)"
            )

    frame = pd.DataFrame(values, index=pd.DatetimeIndex(dates, name="date"))
    frame["_line"] = raw["_line"].to_numpy()
    if not frame.index.is_monotonic_increasing:
        warnings.append(f"{file}: dates for {symbol} were not in order; sorted them")
        frame = frame.sort_index(kind="stable")
    dup = frame.index.duplicated(keep=False)
    if dup.any():
        numeric = frame.drop(columns="_line")
        first_of = numeric[dup].groupby(level=0).nunique(dropna=False)
        conflicting = first_of[(first_of > 1).any(axis=1)]
        if len(conflicting):
            day = conflicting.index[0]
            lines = frame.loc[[day], "_line"].tolist()
            raise DataError(
                file,
                "duplicate date with conflicting values",
                where=f"{day.date()} (lines {', '.join(str(n) for n in lines)})",
                found=f"{len(lines)} different bars for one day",
                expected="one bar per date",
                fix="keep the correct bar and delete the others",
            )
        n_dup = int(frame.index.duplicated().sum())
        warnings.append(f"{file}: {n_dup} exact duplicate rows for {symbol}; kept one of each")
        frame = frame[~frame.index.duplicated()]
    frame = frame.drop(columns="_line")
    if len(frame) < min_rows:
        raise DataError(
            file,
            f"too few rows for symbol {symbol!r}",
            found=f"{len(frame)} daily bars",
            expected=f"at least {min_rows} (feature warm-up + the window + the horizon)",
            fix="load a longer history, or lower the window length in the config",
        )
    zero_vol = int((frame["volume"] == 0).sum())
    if zero_vol:
        warnings.append(
            f"{file}: {symbol} has {zero_vol} zero-volume days (suspensions); kept, see the "
            "zero-volume policy in quantray.data.validate"
        )
    span = np.diff(frame.index.to_numpy()).astype("timedelta64[D]").astype(int)
    big = span[span > 4]
    warnings.extend(suspicious(frame, span, file, symbol))
    report = SymbolReport(
        symbol=symbol,
        file=file,
        rows=len(frame),
        first=frame.index[0],
        last=frame.index[-1],
        gaps=len(big),
        largest_gap_days=int(big.max()) if len(big) else 0,
        zero_volume_days=zero_vol,
        warnings=tuple(warnings),
        unadjusted_close="close_unadj" in frame.columns,
    )
    frame.attrs["symbol"] = symbol
    frame.attrs["source"] = file
    return frame, report
