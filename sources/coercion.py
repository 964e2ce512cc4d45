"""Turning raw columns into the contract's types, one bad value at a time.

Pandera's own coercion stops at the first value of a column it cannot convert
and leaves the whole column untyped, so its later checks on that column fail
too. Here every column is converted vectorised with ``errors="coerce"``: a value
that cannot be read as its type becomes missing, and its row is reported.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandas.api import types

from sources.expectations import describe_dtype
from sources.problems import found_text, no_problems, problem_frame

_FLAG_WORDS = {
    **dict.fromkeys(("true", "t", "yes", "y", "1", "1.0"), True),
    **dict.fromkeys(("false", "f", "no", "n", "0", "0.0"), False),
}
# Largest integer a float64 holds exactly: beyond it "a whole number" is a guess.
_MAX_EXACT_INT = 2**53


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


def coerce_table(raw: pd.DataFrame, schema: pa.DataFrameSchema) -> Coerced:
    """Convert every contract column of a raw table to its declared type.

    Args:
        raw: The table as read (CSV as text, Parquet with its stored types),
            indexed by row position.
        schema: Its contract schema.

    Returns:
        The typed columns, the rows that failed per column, and the problems.
    """
    typed: dict[str, pd.Series] = {}
    failed: dict[str, np.ndarray] = {}
    found: list[pd.DataFrame] = []
    for name, column in schema.columns.items():
        if name not in raw.columns:
            continue
        typed[name], failed[name] = coerce_column(raw[name], str(column.dtype))
        rows = np.flatnonzero(failed[name])
        if rows.size:
            expected = describe_dtype(column)
            found.append(problem_frame(rows, name, "type", expected, found_text(raw[name], rows)))
    problems = pd.concat(found, ignore_index=True) if found else no_problems()
    return Coerced(frame=pd.DataFrame(typed, index=raw.index), failed=failed, problems=problems)


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
    if dtype == "datetime64[ns]":
        typed = _to_dates(values)
    elif dtype in ("float64", "Int64"):
        typed = _to_numbers(values, whole=dtype == "Int64")
    elif dtype == "boolean":
        typed = _to_flags(values)
    else:
        typed = values.astype("str")
    failed = (values.notna() & typed.isna()).to_numpy()
    return typed, failed


def _already_typed(values: pd.Series, dtype: str) -> bool:
    if dtype in ("datetime64[ns]", "Int64", "boolean"):
        return str(values.dtype) == dtype
    if dtype == "float64":
        return False  # still to be checked for infinities
    return str(values.dtype) == "str"


def _to_dates(values: pd.Series) -> pd.Series:
    if types.is_datetime64_any_dtype(values):
        parsed = values.dt.tz_localize(None) if values.dt.tz is not None else values
    elif values.dtype == object and types.infer_dtype(values, skipna=True) in ("date", "datetime"):
        parsed = pd.to_datetime(values, errors="coerce")
    else:
        # One explicit format: pandas would otherwise guess it from the first row.
        parsed = pd.to_datetime(values.astype("str"), format="ISO8601", errors="coerce")
    # Dates a nanosecond timestamp cannot hold (before 1677, after 2262) are typos.
    if parsed.min() < pd.Timestamp.min or parsed.max() > pd.Timestamp.max:
        parsed = parsed.mask((parsed < pd.Timestamp.min) | (parsed > pd.Timestamp.max))
    return parsed.astype("datetime64[ns]")


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
