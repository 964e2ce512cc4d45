"""Turning raw columns into the contract's types, one bad value at a time.

Pandera's own coercion stops at the first value of a column it cannot convert
and leaves the whole column untyped, so its later checks on that column fail
too. Here every column is converted vectorised with ``errors="coerce"``: a value
that cannot be read as its type becomes missing, and its row is reported.

Dates are checked against their declared range here, before they become
nanosecond timestamps (which end in 1677 and 2262): a date outside it is
missing in the typed table and reported with the range. A time with a UTC
offset keeps its local day and time as written (``sources.contract.TIMESTAMPS``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandas._libs.tslibs.nattype import NaTType
from pandas.api import types

from sources.contract import DATE, EARLIEST_DAY, LATEST_DAY
from sources.expectations import describe_dtype
from sources.problems import found_text, no_problems, problem_frame

_FLAG_WORDS = {
    **dict.fromkeys(("true", "t", "yes", "y", "1", "1.0"), True),
    **dict.fromkeys(("false", "f", "no", "n", "0", "0.0"), False),
}
# Largest integer a float64 holds exactly: beyond it "a whole number" is a guess.
_MAX_EXACT_INT = 2**53
# A UTC offset after a time of day (T10:30+02:00, 10:30:00.5Z, T10 -0600): group 1 is the local time kept.
_OFFSET = r"([T ]\d{2}(?::?\d{2}(?::?\d{2}(?:[.,]\d+)?)?)?)\s*(?:Z|UTC|[+-]\d{2}(?::?\d{2})?)$"


@dataclass(frozen=True)
class DateRange:
    """The days a date may fall on: from ``EARLIEST_DAY`` to the extract's end, or ``LATEST_DAY`` without one.

    A date outside ``[EARLIEST_DAY, LATEST_DAY]`` is out of range here; one between the extract's end and
    ``LATEST_DAY`` is left to the after-end check, which names the end.
    """

    end: date | None = None

    @property
    def expected(self) -> str:
        """The range in words, as a reject reason quotes it."""
        return f"a date from {EARLIEST_DAY.isoformat()} to {(self.end or LATEST_DAY).isoformat()}"

    def outside(self, dates: pd.Series) -> np.ndarray:
        """Which dates lie before ``EARLIEST_DAY`` or after ``LATEST_DAY`` (missing ones do not)."""
        first, after = pd.Timestamp(EARLIEST_DAY), pd.Timestamp(LATEST_DAY + timedelta(days=1))
        return ((dates < first) | (dates >= after)).to_numpy(dtype=bool)


@dataclass(frozen=True)
class Coerced:
    """A raw table turned into contract types.

    Attributes:
        frame: The contract columns present in the file, typed; a value that
            failed to convert is missing here.
        failed: Per column, a boolean array of the rows whose value failed.
        problems: One problem per failed value.
    """

    frame: pd.DataFrame
    failed: dict[str, np.ndarray]
    problems: pd.DataFrame


def coerce_table(raw: pd.DataFrame, schema: pa.DataFrameSchema, days: DateRange | None = None) -> Coerced:
    """Convert every contract column of a raw table to its declared type.

    Args:
        raw: The table as read (CSV as text, Parquet with its stored types),
            indexed by row position.
        schema: Its contract schema.
        days: The range dates must lie in; by default from ``EARLIEST_DAY`` to ``LATEST_DAY``.

    Returns:
        The typed columns, the rows that failed per column, and the problems.
    """
    days = days or DateRange()
    typed: dict[str, pd.Series] = {}
    failed: dict[str, np.ndarray] = {}
    found: list[pd.DataFrame] = []
    for name, column in schema.columns.items():
        if name not in raw.columns:
            continue
        outside = np.zeros(len(raw), dtype=bool)
        if str(column.dtype) == DATE:
            typed[name], unreadable, outside = coerce_dates(raw[name], days)
            failed[name] = unreadable | outside
        else:
            typed[name], failed[name] = coerce_column(raw[name], str(column.dtype))
            unreadable = failed[name]
        for rule, expected, rows in (
            ("type", describe_dtype(column), np.flatnonzero(unreadable)),
            ("date range", days.expected, np.flatnonzero(outside)),
        ):
            if rows.size:
                found.append(problem_frame(rows, name, rule, expected, found_text(raw[name], rows)))
    problems = pd.concat(found, ignore_index=True) if found else no_problems()
    # copy=False: the typed columns are fresh (or the raw ones, unchanged); not copying them into 2-D blocks
    frame = pd.DataFrame(typed, index=raw.index, copy=False)
    return Coerced(frame=frame, failed=failed, problems=problems)


def coerce_column(values: pd.Series, dtype: str) -> tuple[pd.Series, np.ndarray]:
    """Convert one column to a contract dtype.

    Args:
        values: The raw column.
        dtype: The contract dtype (``datetime64[ns]``, ``float64``, ``Int64``,
            ``boolean``, or text).

    Returns:
        The typed column and a boolean array of the rows whose non-missing
        value could not be converted (and is missing in the typed column).
    """
    if _already_typed(values, dtype):
        # Typical of Parquet: nothing can fail, and nothing is copied.
        return values, np.zeros(len(values), dtype=bool)
    typed: pd.Series
    if dtype == DATE:
        typed, unreadable, outside = coerce_dates(values, DateRange())
        return typed, unreadable | outside
    if dtype in ("float64", "Int64"):
        typed = _to_numbers(values, whole=dtype == "Int64")
    elif dtype == "boolean":
        typed = _to_flags(values)
    else:
        typed = values.astype("str")
    failed = (values.notna() & typed.isna()).to_numpy()
    return typed, failed


def coerce_dates(values: pd.Series, days: DateRange) -> tuple[pd.Series, np.ndarray, np.ndarray]:
    """Convert one column to dates within their range.

    Args:
        values: The raw column: text, dates, or timestamps (with or without a time zone).
        days: The range the dates must lie in.

    Returns:
        The dates as ``datetime64[ns]``, the rows whose value could not be read
        as a date, and the rows whose date lies outside ``days``; both are
        missing in the typed column.
    """
    if types.is_datetime64_any_dtype(values):
        parsed = values.dt.tz_localize(None) if values.dt.tz is not None else values  # its wall time
    elif values.dtype == object and types.infer_dtype(values, skipna=True) in ("date", "datetime"):
        parsed = _from_objects(values)
    else:
        parsed = _from_text(values.astype("str"))
    outside = days.outside(parsed)
    if outside.any():
        parsed = parsed.mask(outside)
    unreadable = (values.notna() & parsed.isna()).to_numpy() & ~outside
    return parsed.astype("datetime64[ns]"), unreadable, outside


def _already_typed(values: pd.Series, dtype: str) -> bool:
    if dtype in ("Int64", "boolean"):
        return str(values.dtype) == dtype
    if dtype == "float64":
        return False  # still to be checked for infinities
    return str(values.dtype) == "str"


def _from_text(text: pd.Series) -> pd.Series:
    """ISO 8601 dates and times; a UTC offset is dropped, keeping the local time as written."""
    try:
        # One explicit format: pandas would otherwise guess it from the first row.
        parsed = pd.to_datetime(text, format="ISO8601", errors="coerce")
    except ValueError:  # offsets that differ between rows, or beside times without one
        parsed = None
    if parsed is not None and parsed.dt.tz is None:
        return parsed
    local = text.str.replace(_OFFSET, r"\1", regex=True)
    try:
        parsed = pd.to_datetime(local, format="ISO8601", errors="coerce")
    except ValueError:
        parsed = None
    if parsed is not None and parsed.dt.tz is None:
        return parsed
    return _each(local)


def _each(local: pd.Series) -> pd.Series:
    """Row by row, for text whose offsets the pattern missed: a value still carrying an offset is unreadable."""

    def one(text: object) -> pd.Timestamp | NaTType:
        try:
            stamp = pd.to_datetime(pd.Series([text], dtype="str"), format="ISO8601", errors="coerce").iloc[0]
        except (ValueError, OverflowError):
            return pd.NaT
        return pd.NaT if stamp is pd.NaT or stamp.tzinfo is not None else stamp

    stamps = [one(text) for text in local.tolist()]
    return pd.Series(pd.DatetimeIndex(stamps, dtype="datetime64[us]"), index=local.index)


def _from_objects(values: pd.Series) -> pd.Series:
    """Python dates and datetimes (a zoned one keeps its wall time)."""
    local = values.map(lambda v: v.replace(tzinfo=None) if isinstance(v, datetime) and v.tzinfo else v)
    try:
        return pd.to_datetime(local, errors="coerce")
    except (ValueError, TypeError, OverflowError):
        return _from_text(local.astype("str"))


def _to_numbers(values: pd.Series, *, whole: bool) -> pd.Series:
    if types.is_numeric_dtype(values) and not types.is_bool_dtype(values):
        numbers = values.astype("float64")
    else:
        numbers = pd.to_numeric(values.astype("str"), errors="coerce").astype("float64")
    bad = ~np.isfinite(numbers)
    if whole:
        bad |= (numbers != np.round(numbers)) | (numbers.abs() > _MAX_EXACT_INT)
    numbers = numbers.mask(bad)
    return numbers.astype("Int64") if whole else numbers


def _to_flags(values: pd.Series) -> pd.Series:
    if types.is_bool_dtype(values):
        return values.astype("boolean")
    words = values.astype("str").str.strip().str.lower()
    return words.map(_FLAG_WORDS).astype("boolean")
