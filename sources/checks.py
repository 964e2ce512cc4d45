"""Vectorised row checks of one table: the contract's checks and the rules between rows.

``check_rows`` runs them all on one raw table; each check returns a problem
frame (see ``sources.problems``). Only the messages of failing rows are worded;
nothing loops over all rows in Python, so a 40M-row extract is checked at
column speed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cache

import numpy as np
import pandas as pd
import pandera.pandas as pa
import polars as pl
import pyarrow as arrow
import pyarrow.compute as pc

from sources.coercion import Coerced, DateRange, coerce_table
from sources.contract import TABLES, table_info
from sources.expectations import DateOrder, date_orders, describe_check, describe_nullable
from sources.problems import concat_problems, found_text, no_problems, problem_frame
from sources.validation_shards import per_run


@dataclass(frozen=True)
class ParentKeys:
    """The values of a parent table's key column after the parent's own checks."""

    kept: pd.Series
    quarantined: pd.Series


@dataclass(frozen=True)
class RowCheck:
    """What the row checks found in one table.

    Attributes:
        typed: Every row, typed per contract (a value that failed to convert is missing).
        rejected: Per row, whether it is quarantined.
        problems: The problem frame: one line per failing row, column and rule.
        column_errors: Problems with a whole column rather than rows.
        unchecked: Foreign-key columns not checked because their parent table
            could not be validated.
    """

    typed: pd.DataFrame
    rejected: np.ndarray
    problems: pd.DataFrame
    column_errors: tuple[str, ...]
    unchecked: tuple[str, ...]

    def keys(self, column: str) -> ParentKeys:
        """The kept and quarantined values of a column, for the tables that reference it."""
        values = self.typed[column]
        return ParentKeys(kept=values.loc[~self.rejected], quarantined=values.loc[self.rejected])


def check_rows(
    table: str,
    raw: pd.DataFrame,
    extract_end: date | None,
    parents: Mapping[str, ParentKeys],
    numbers: np.ndarray | None = None,
    *,
    unique_keys: bool = False,
) -> RowCheck:
    """Run every row check of one table.

    Args:
        table: The contract table.
        raw: The table as read, indexed by row position, with every required column.
        extract_end: The extract's last day; None skips the check for later dates.
        parents: Kept and quarantined keys of the tables checked before, by
            ``table.column``; a foreign key whose parent is missing here is not checked.
        numbers: Each row's number in its file (from 1), when ``raw`` holds some rows of it (one account
            shard); by default its position + 1. Only messages quote them: problems keep positions in ``raw``.
        unique_keys: Whether the key is known to be unique in the whole file (``sources.validation_shards``
            saw no key twice): the duplicate check is then skipped.

    Returns:
        The typed rows, which of them are rejected, and why.
    """
    info = table_info(table)
    coerced = coerce_table(raw, TABLES[table], DateRange(extract_end))
    contract, column_errors = contract_problems(raw, coerced, table)
    found = [
        coerced.problems,
        contract,
        no_problems() if unique_keys else duplicate_problems(raw, info.key, numbers),
        date_order_problems(coerced.frame, date_orders(table)),
    ]
    if extract_end is not None:
        found.append(after_end_problems(coerced.frame, info.date_columns, extract_end))
    unchecked = []
    for column, (parent, parent_column) in info.foreign_keys.items():
        reference = f"{parent}.{parent_column}"
        if reference in parents:
            found.append(orphan_problems(coerced.frame, column, reference, parents[reference]))
        else:
            unchecked.append(column)
    problems = concat_problems(found)
    rejected = np.zeros(len(raw), dtype=bool)
    rejected[problems["row"].to_numpy()] = True
    return RowCheck(coerced.frame, rejected, problems, tuple(column_errors), tuple(unchecked))


@cache
def _checks_only(table: str) -> pa.DataFrameSchema:
    """The contract schema without its dtypes: ``coerce_table`` has typed the columns already."""
    schema = TABLES[table]
    return schema.update_columns({name: {"dtype": None, "coerce": False} for name in schema.columns})


def contract_problems(raw: pd.DataFrame, coerced: Coerced, table: str) -> tuple[pd.DataFrame, list[str]]:
    """Run the contract's pandera checks (lazily) on a typed table.

    A value that failed to convert is missing in the typed table; its
    ``not_nullable`` failure is dropped here because it was reported already.

    Args:
        raw: The table as read, to quote failing values as written.
        coerced: The typed table from ``coerce_table``.
        table: The contract table.

    Returns:
        Row problems, and problems that concern a whole column (which should
        not happen after ``coerce_table``; they are reported, not raised).
    """
    try:
        _checks_only(table).validate(coerced.frame, lazy=True, inplace=True)  # checks only: nothing to copy
    except pa.errors.SchemaErrors as errors:
        cases = errors.failure_cases
    else:
        return no_problems(), []
    whole = cases["index"].isna()
    column_problems = [
        f"column {case.column}: {case.check} failed ({case.failure_case})" for case in cases.loc[whole].itertuples()
    ]
    frames = []
    for (name, check), group in cases.loc[~whole].groupby(["column", "check"], sort=True):
        rows = group["index"].to_numpy(dtype="int64")
        column = TABLES[table].columns[name]
        if check == "not_nullable":
            rows = rows[~coerced.failed[name][rows]]
            rule, expected = "missing value", describe_nullable(column)
        else:
            contract_check = column.checks[int(group["check_number"].iloc[0])]
            rule, expected = contract_check.name, describe_check(contract_check)
        frames.append(problem_frame(rows, name, rule, expected, found_text(raw[name], rows)))
    return concat_problems(frames), column_problems


def duplicate_problems(raw: pd.DataFrame, key: str, numbers: np.ndarray | None = None) -> pd.DataFrame:
    """Rows that share a key: exact copies after the first, and every row of a conflict.

    Args:
        raw: The table as read, indexed by row position; content is compared
            on the raw values.
        key: The key column.
        numbers: Each row's number in its file, as the conflict message quotes it (default: position + 1).

    Returns:
        One problem per rejected row.
    """
    keys = raw[key]
    shared = keys.notna().to_numpy() & _duplicated(keys)
    if not shared.any():
        return no_problems()
    candidates = raw.loc[shared]
    copy = candidates.duplicated(keep="first").to_numpy()
    distinct = candidates.loc[~copy, key]
    conflict = distinct.loc[distinct.duplicated(keep=False)]
    expected = f"each {key} on one row"
    copies = candidates.index.to_numpy()[copy]
    frames = [problem_frame(copies, key, "duplicate row", expected, "an exact copy of an earlier row")]
    if not conflict.empty:
        rows = conflict.index.to_numpy()
        quoted = pd.Series(rows + 1 if numbers is None else numbers[rows], index=conflict.index).astype("str")
        listed = quoted.groupby(conflict.to_numpy()).agg(lambda group: ", ".join(group.iloc[:5]))
        found = "rows " + conflict.map(listed) + " share it with different content"
        frames.append(problem_frame(rows, key, "duplicate key", expected, found))
    return concat_problems(frames)


def _duplicated(keys: pd.Series) -> np.ndarray:
    """Which values occur more than once, through polars: pandas factorises Arrow text slowly."""
    try:
        values = pl.Series(arrow.array(keys, from_pandas=True))
    except (arrow.ArrowException, TypeError, ValueError):  # mixed Python objects: pandas' own way
        return keys.duplicated(keep=False).to_numpy()
    return values.is_duplicated().to_numpy()


def orphan_problems(frame: pd.DataFrame, column: str, parent: str, keys: ParentKeys) -> pd.DataFrame:
    """Rows whose foreign key is not among the kept rows of the parent table.

    Args:
        frame: The typed child table.
        column: The foreign-key column.
        parent: The parent column as ``table.column``, for the message.
        keys: The parent's kept and quarantined key values.

    Returns:
        One problem per orphan row.
    """
    values = frame[column]
    rows = np.flatnonzero(values.notna().to_numpy() & ~_is_in(values, keys.kept))
    if not rows.size:
        return no_problems()
    orphans = values.take(rows).reset_index(drop=True)
    where = np.where(_is_in(orphans, keys.quarantined), "which was quarantined there", "which is not there")
    found: pd.Series = "'" + orphans + "', " + where
    return problem_frame(rows, column, "orphan", f"an existing {parent}", found)


def _is_in(values: pd.Series, allowed: pd.Series) -> np.ndarray:
    """Membership through Arrow: pandas' own ``isin`` on text turns ``allowed`` into a Python list.

    Looked up once per run of equal values (``sources.validation_shards.per_run``): a child table exported by
    account repeats each account id along its rows.
    """
    array = arrow.array(values, from_pandas=True)
    array = array.combine_chunks() if isinstance(array, arrow.ChunkedArray) else array
    value_set = arrow.array(allowed, from_pandas=True).cast(array.type)
    return per_run(array, lambda some: np.asarray(pc.is_in(some, value_set=value_set).fill_null(False)))


def after_end_problems(frame: pd.DataFrame, columns: Iterable[str], extract_end: date) -> pd.DataFrame:
    """Dates after the last day the extract covers (a row from the future).

    Args:
        frame: The typed table.
        columns: Its date columns.
        extract_end: The extract's last day; a time on that day is still fine.

    Returns:
        One problem per late date.
    """
    limit = pd.Timestamp(extract_end + timedelta(days=1))
    expected = f"a date on or before the extract's end {extract_end.isoformat()}"
    frames: list[pd.DataFrame] = []
    for name in (column for column in columns if column in frame.columns):
        rows = np.flatnonzero((frame[name] >= limit).to_numpy())
        if rows.size:
            frames.append(problem_frame(rows, name, "after extract end", expected, _dates(frame[name], rows)))
    return concat_problems(frames)


def date_order_problems(frame: pd.DataFrame, orders: Iterable[DateOrder]) -> pd.DataFrame:
    """Rows whose later date comes before their earlier one (an end before its start).

    Args:
        frame: The typed table.
        orders: The table's date-order rules.

    Returns:
        One problem per broken rule and row.
    """
    frames: list[pd.DataFrame] = []
    for order in orders:
        if order.later not in frame.columns or order.earlier not in frame.columns:
            continue
        rows = np.flatnonzero((frame[order.later] < frame[order.earlier]).to_numpy())
        if rows.size:
            expected = f"on or after {order.earlier} " + _dates(frame[order.earlier], rows)
            found = _dates(frame[order.later], rows)
            frames.append(problem_frame(rows, order.later, "date order", expected, found))
    return concat_problems(frames)


def _dates(values: pd.Series, rows: np.ndarray) -> pd.Series:
    return values.take(rows).dt.strftime("%Y-%m-%d").reset_index(drop=True)
