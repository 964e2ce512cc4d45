"""The mapping of an event-route extract: how a CRM's files, columns, codes and dates become the contract's.

A hauler's CRM exports its own file names (``cancellations.csv``), column names
(``AcctNo``), codes (``PRC`` for a price complaint) and date formats
(``03/07/2024``). One YAML file beside the extract (``raw/mapping.yaml``, read by
``sources.event_mapping_file``) says, per contract table, which file holds it,
which column is which, what each code means, how each date is written and
which columns the CRM lacks and hold one value. This module is what such a
file means (``EventMapping``) and how a raw frame is mapped (``map_table``),
with a record of everything it did (``MappedTable``) for the validation report.

Mapping comes before validation and never drops a row: a code the mapping does
not know, or a date that does not match its format, is left as written and
reported here; validation then judges it by the contract's rules (quarantined
when it is outside the vocabulary or not a date).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
from pandas.api import types

MAPPING_FILE = "mapping.yaml"
"""The mapping's name in the raw folder, where every command that validates finds it."""
SHOWN_UNMAPPED = 20
"""Distinct unmapped values listed per column (the most frequent first); the rest are only counted."""
TIME_DIRECTIVES = ("%H", "%I", "%M", "%S", "%f", "%p", "%X", "%c", "%T", "%R")


@dataclass(frozen=True)
class TableMapping:
    """How one contract table is found and mapped.

    Attributes:
        table: The contract table.
        file: The CRM's file holding it, when it is not named as the table.
        columns: CRM column name -> contract column name.
        values: Contract column -> {CRM value -> contract value}.
        dates: Contract date column -> its ``strptime`` format (``%m/%d/%Y``).
        constants: Contract column the CRM lacks -> the one value it holds.
    """

    table: str
    file: Path | None = None
    columns: dict[str, str] = field(default_factory=dict)
    values: dict[str, dict[str, str]] = field(default_factory=dict)
    dates: dict[str, str] = field(default_factory=dict)
    constants: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class EventMapping:
    """A checked mapping of one event-route extract; see ``mappings/crm-example.yaml``."""

    path: Path
    tables: dict[str, TableMapping]

    def table_file(self, table: str) -> Path | None:
        """The CRM's file holding ``table``, when the mapping names one."""
        spec = self.tables.get(table)
        return spec.file if spec else None


@dataclass(frozen=True)
class DatesParsed:
    """One date column read with its format: rows read, and rows whose text did not match (left as written)."""

    format: str
    rows: int = 0
    unmatched: int = 0
    examples: tuple[str, ...] = ()
    already_dates: bool = False


@dataclass(frozen=True)
class MappedTable:
    """What mapping did to one table, as the validation report shows it.

    Attributes:
        table: The contract table.
        file: The file read.
        columns_renamed: CRM name -> contract name, for the columns the file has.
        values_mapped: Contract column -> {CRM value -> (contract value, rows)}.
        values_unmapped: Contract column -> {value left as written -> rows}, the most frequent first.
        unmapped_rows: Contract column -> rows whose value the map does not know.
        constants_filled: Contract column -> the value every row was given.
        dates_parsed: Contract column -> how its dates were read.
    """

    table: str
    file: str
    columns_renamed: dict[str, str] = field(default_factory=dict)
    values_mapped: dict[str, dict[str, tuple[str, int]]] = field(default_factory=dict)
    values_unmapped: dict[str, dict[str, int]] = field(default_factory=dict)
    unmapped_rows: dict[str, int] = field(default_factory=dict)
    constants_filled: dict[str, str] = field(default_factory=dict)
    dates_parsed: dict[str, DatesParsed] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The record as JSON-ready data."""
        return {
            "table": self.table,
            "file": self.file,
            "columns_renamed": dict(self.columns_renamed),
            "values_mapped": {
                column: {value: {"to": to, "rows": rows} for value, (to, rows) in pairs.items()}
                for column, pairs in self.values_mapped.items()
            },
            "values_unmapped": {column: dict(counts) for column, counts in self.values_unmapped.items()},
            "unmapped_rows": dict(self.unmapped_rows),
            "constants_filled": dict(self.constants_filled),
            "dates_parsed": {
                column: {
                    "format": parsed.format,
                    "rows": parsed.rows,
                    "unmatched": parsed.unmatched,
                    "examples": list(parsed.examples),
                    "already_dates": parsed.already_dates,
                }
                for column, parsed in self.dates_parsed.items()
            },
        }


def map_table(raw: pd.DataFrame, spec: TableMapping, file: Path) -> tuple[pd.DataFrame, MappedTable]:
    """Rename, fill, recode and re-date one raw table as its mapping says.

    Args:
        raw: The table as read (CSV as text, Parquet with its stored types).
        spec: The table's mapping.
        file: The file it was read from, for the record.

    Returns:
        The mapped table (same rows, same order) and what was done.
    """
    renamed = {crm: contract for crm, contract in spec.columns.items() if crm in raw.columns}
    frame = raw.rename(columns=renamed)
    filled = {column: value for column, value in spec.constants.items() if column not in frame.columns}
    frame = frame.assign(
        **{column: pd.Series(value, index=frame.index, dtype=object) for column, value in filled.items()}
    )
    mapped: dict[str, dict[str, tuple[str, int]]] = {}
    unmapped: dict[str, dict[str, int]] = {}
    unmapped_rows: dict[str, int] = {}
    for column, pairs in spec.values.items():
        if column not in frame.columns:
            continue
        frame[column], mapped[column], left = _recode(frame[column], pairs)
        unmapped_rows[column] = int(left.sum())
        unmapped[column] = {str(value): int(rows) for value, rows in left.head(SHOWN_UNMAPPED).items()}
    dates: dict[str, DatesParsed] = {}
    for column, fmt in spec.dates.items():
        if column in frame.columns:
            frame[column], dates[column] = _redate(frame[column], fmt)
    record = MappedTable(
        table=spec.table,
        file=str(file),
        columns_renamed=renamed,
        values_mapped=mapped,
        values_unmapped=unmapped,
        unmapped_rows=unmapped_rows,
        constants_filled=filled,
        dates_parsed=dates,
    )
    return frame, record


def _recode(values: pd.Series, pairs: dict[str, str]) -> tuple[pd.Series, dict[str, tuple[str, int]], pd.Series]:
    """A column with its CRM codes replaced; the codes used with their rows; the values left as written."""
    present = values.notna()
    text = values.astype("object").where(~present, values.astype("str").str.strip())
    known = present & text.isin(list(pairs))
    counts = text[known].value_counts()
    used = {str(code): (pairs[str(code)], int(rows)) for code, rows in counts.items()}
    recoded = values.astype("object").mask(known, text[known].map(pairs))
    left = text[present & ~known].value_counts()
    return recoded, used, left


def _redate(values: pd.Series, fmt: str) -> tuple[pd.Series, DatesParsed]:
    """Dates read with ``fmt`` and written as ISO text; text that does not match is left as written."""
    if types.is_datetime64_any_dtype(values):
        return values, DatesParsed(format=fmt, already_dates=True)
    present = values.notna()
    text = values[present].astype("str").str.strip()
    with_time = any(directive in fmt for directive in TIME_DIRECTIVES)
    iso = {value: _iso(value, fmt, with_time) for value in text.unique()}
    converted = text.map(iso)
    matched = converted.notna()
    out = values.astype("object").copy()
    out.loc[converted.index[matched]] = converted[matched]
    unmatched = text[~matched]
    return out, DatesParsed(
        format=fmt,
        rows=int(matched.sum()),
        unmatched=len(unmatched),
        examples=tuple(unmatched.drop_duplicates().head(3).tolist()),
    )


def _iso(text: str, fmt: str, with_time: bool) -> str | None:
    """One value as ISO text (its local time kept, any UTC offset dropped), or None when it does not match."""
    try:
        stamp = datetime.strptime(text, fmt)  # noqa: DTZ007 - a local day or time, as the contract reads them
    except ValueError:
        return None
    stamp = stamp.replace(tzinfo=None)
    return stamp.isoformat(sep="T") if with_time else stamp.date().isoformat()
