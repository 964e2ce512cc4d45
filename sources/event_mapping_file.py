"""Loading an event-route mapping file: read the YAML, check every key against the contract and the files.

Every key is checked before a row is read: tables and columns against the
contract, value maps against the contract's vocabulary, date formats by
writing and reading a day with them, and the CRM's column names against the
header of the file they come from. A mistake raises ``MappingError`` (the
one-row route's error) naming the file, the key and the fix.
"""

from __future__ import annotations

import csv
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from sources.contract import DATE, TABLES
from sources.event_mapping import MAPPING_FILE, EventMapping, TableMapping
from sources.extract_mapping import MappingError
from sources.mapping_keys import KeyReader, MappingYamlLoader
from sources.reader import SUFFIXES, table_path

TABLE_KEYS = {"file", "columns", "values", "dates", "constants"}
_SAMPLE_DAY = datetime(2024, 11, 28, 13, 45, 30)  # noqa: DTZ001 - a local time, to try a format on
_TYPED = (DATE, "float64", "Int64", "boolean")
_DAY_DIRECTIVES = (("%Y", "%y"), ("%m", "%b", "%B"), ("%d",))


def find_event_mapping(raw_dir: Path, given: Path | None = None) -> EventMapping | None:
    """The extract's mapping: the file given, else ``raw/mapping.yaml`` when there is one, else None.

    Raises:
        MappingError: The file given does not exist, or the mapping has a mistake.
    """
    if given is not None:
        return load_event_mapping(given, raw_dir)
    default = raw_dir / MAPPING_FILE
    return load_event_mapping(default, raw_dir) if default.is_file() else None


def load_event_mapping(path: Path | str, raw_dir: Path) -> EventMapping:
    """Read and check an event-route mapping file.

    Args:
        path: The YAML file.
        raw_dir: The extract's folder; the mapping's ``file`` keys name files in it.

    Returns:
        The checked mapping.

    Raises:
        MappingError: The file is missing or not YAML, or a key is unknown, of the
            wrong type, or names a table, column, value, format or file that does not fit.
    """
    path = Path(path)
    if not path.is_file():
        raise MappingError(f"{path}: no such mapping file; write one (see mappings/README.md) or drop --mapping.")
    try:
        raw = yaml_load(path)
    except ValueError as error:
        raise MappingError(f"{path}: not a readable YAML file ({error}); fix its syntax.") from None
    r = KeyReader(path)
    spec = r.table(raw, "(top level)", {"tables"})
    if not isinstance(spec.get("tables"), dict) or not spec["tables"]:
        raise r.fail("tables", "missing or empty; map at least one contract table (see mappings/crm-example.yaml)")
    unknown = sorted(str(name) for name in spec["tables"] if name not in TABLES)
    if unknown:
        raise r.fail(
            f"tables.{unknown[0]}",
            f"not a contract table; key each table by its contract name ({', '.join(TABLES)})"
            " and give the CRM's file under file:",
        )
    tables = spec["tables"]
    mapping = EventMapping(path=path, tables={name: _table(name, value, raw_dir, r) for name, value in tables.items()})
    files = [table.file for table in mapping.tables.values() if table.file is not None]
    for name, table in mapping.tables.items():
        if table.file is not None and files.count(table.file) > 1:
            raise r.fail(f"tables.{name}.file", f"{table.file.name} is named for two tables; give each table its file")
    return mapping


def yaml_load(path: Path) -> Any:
    """The YAML of a mapping file, ``Yes``/``No`` kept as text.

    Raises:
        ValueError: The file is not UTF-8 YAML.
    """
    import yaml

    try:
        return yaml.load(path.read_text(encoding="utf-8"), Loader=MappingYamlLoader)  # noqa: S506 - a SafeLoader
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        raise ValueError(str(error).replace("\n", " ")) from None


def _table(name: str, value: Any, raw_dir: Path, r: KeyReader) -> TableMapping:
    key = f"tables.{name}"
    spec = r.table(value if value is not None else {}, key, TABLE_KEYS)
    contract = TABLES[name].columns
    file = _file(spec["file"], raw_dir, f"{key}.file", r) if "file" in spec else None
    columns = {r.text(k, f"{key}.columns"): r.text(v, f"{key}.columns.{k}") for k, v in _pairs(spec, "columns", key, r)}
    targets: dict[str, str] = {}
    for crm, column in columns.items():
        _contract_column(name, column, f"{key}.columns.{crm}", r)
        if column in targets:
            raise r.fail(
                f"{key}.columns.{crm}", f"{targets[column]} is renamed to {column} too; rename one column each"
            )
        targets[column] = crm
    values = {}
    for column, pairs in _pairs(spec, "values", key, r):
        where = f"{key}.values.{column}"
        column = _contract_column(name, r.text(column, where), where, r, columns)
        if not isinstance(pairs, dict) or not pairs:
            raise r.fail(where, f"expected CRM value: contract value pairs (e.g. PRC: price), got {pairs!r}")
        values[column] = {_scalar(k, where, r): _value(name, column, v, f"{where}.{k}", r) for k, v in pairs.items()}
    dates = {}
    for column, fmt in _pairs(spec, "dates", key, r):
        where = f"{key}.dates.{column}"
        column = _contract_column(name, r.text(column, where), where, r, columns)
        if str(contract[column].dtype) != DATE:
            raise r.fail(where, f"{column} is not a date column of {name}; give formats for date columns only")
        dates[column] = _format(fmt, where, r)
    constants = {}
    for column, constant in _pairs(spec, "constants", key, r):
        where = f"{key}.constants.{column}"
        column = _contract_column(name, r.text(column, where), where, r, columns)
        if column in targets:
            raise r.fail(where, f"{targets[column]} is already renamed to {column}; drop the constant or the rename")
        constants[column] = _value(name, column, constant, where, r)
    mapping = TableMapping(name, file, columns, values, dates, constants)
    _check_header(mapping, file or table_path(raw_dir, name), key, r)
    return mapping


def _pairs(spec: dict[str, Any], part: str, key: str, r: KeyReader) -> list[tuple[Any, Any]]:
    value = spec.get(part)
    if value is None:
        return []
    if not isinstance(value, dict):
        raise r.fail(f"{key}.{part}", f"expected a mapping of keys to values, got {value!r}")
    return list(value.items())


def _file(value: Any, raw_dir: Path, key: str, r: KeyReader) -> Path:
    """The CRM's file in the extract's folder: a name with its suffix, or a stem found as .parquet or .csv."""
    name = r.text(value, key)
    candidates = [raw_dir / name] if Path(name).suffix in SUFFIXES else [raw_dir / f"{name}{s}" for s in SUFFIXES]
    found = next((path for path in candidates if path.is_file()), None)
    if found is None or Path(name).name != name:
        raise r.fail(key, f"no file {name} in {raw_dir}; name a .parquet or .csv file of the extract's folder")
    return found


def _contract_column(table: str, column: str, key: str, r: KeyReader, renamed: dict[str, str] | None = None) -> str:
    if column in TABLES[table].columns:
        return column
    hint = f" ({column} is renamed to {renamed[column]}: name that)" if renamed and column in renamed else ""
    raise r.fail(
        key,
        f"{column!r} is not a column of the contract table {table}{hint}; use one of {sorted(TABLES[table].columns)}",
    )


def _scalar(value: Any, key: str, r: KeyReader) -> str:
    """A value as the CSV writes it; YAML true/false as the words true/false."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return r.text(value, key)


def _value(table: str, column: str, value: Any, key: str, r: KeyReader) -> str:
    """A contract value for ``column``, checked against its vocabulary or pattern when it is text."""
    text = _scalar(value, key, r)
    declared = TABLES[table].columns[column]
    if str(declared.dtype) not in _TYPED:  # text: its vocabulary or pattern applies to the value as written
        for check in declared.checks:
            if not bool(check(pd.Series([text])).check_passed):
                allowed = (check.statistics or {}).get("allowed_values")
                expected = f"one of {list(allowed)}" if allowed else f"a value passing {check.name} {check.statistics}"
                raise r.fail(key, f"{text!r} is outside what {table}.{column} allows; map it onto {expected}")
    return text


def _format(value: Any, key: str, r: KeyReader) -> str:
    """A ``strptime`` format that writes and reads back a day with its year, month and day."""
    fmt = r.text(value, key)
    missing = [group[0] for group in _DAY_DIRECTIVES if not any(d in fmt for d in group)]
    try:
        read = datetime.strptime(_SAMPLE_DAY.strftime(fmt), fmt)  # noqa: DTZ007 - a local day
    except ValueError as error:
        raise r.fail(key, f"{fmt!r} is not a strptime format ({error}); write it like '%m/%d/%Y'") from None
    if missing or read.date() != _SAMPLE_DAY.date():
        raise r.fail(
            key, f"{fmt!r} does not hold a whole day (it lacks {', '.join(missing)}); write it like '%m/%d/%Y'"
        )
    return fmt


def _check_header(mapping: TableMapping, file: Path | None, key: str, r: KeyReader) -> None:
    """The CRM columns the mapping names are in the file, and no two columns end up with one name."""
    header = _header(file) if file is not None else None
    if header is None:  # no file (an optional table), or one validation will report as unreadable
        return
    for crm in mapping.columns:
        if crm not in header:
            raise r.fail(
                f"{key}.columns.{crm}", f"{file} has no column {crm!r} (it has: {', '.join(header)}); fix the name"
            )
    after = [mapping.columns.get(column, column) for column in header]
    for column in sorted({c for c in after if after.count(c) > 1}):
        raise r.fail(
            f"{key}.columns",
            f"{file} would have two columns named {column}; rename the other one or leave it out of columns",
        )
    for part, columns in (("values", mapping.values), ("dates", mapping.dates)):
        for column in columns:
            if column not in after:
                raise r.fail(
                    f"{key}.{part}.{column}",
                    f"{file} has no column {column} once renamed; add its CRM name under columns, or drop this key",
                )
    for column in mapping.constants:
        if column in after:
            raise r.fail(f"{key}.constants.{column}", f"{file} already has a column {column}; drop the constant")


def _header(file: Path) -> list[str] | None:
    try:
        if file.suffix == ".csv":
            with file.open(encoding="utf-8", newline="") as handle:
                return next(csv.reader(handle), None)
        return list(pq.read_schema(file).names)
    except (OSError, UnicodeDecodeError, csv.Error, pa.ArrowException):
        return None
