"""Random extracts for the reader and validation, and the property every one of them must keep.

An extract is drawn table by table: absent, an empty file, a header alone, or rows, as CSV (UTF-8, UTF-8 with a
byte-order mark, Latin-1, Windows-1252; fields quoted when needed or always) or Parquet (columns as text, or in a
native type of their own: dates, timestamps, zoned timestamps, numbers, flags, sometimes the wrong one). Most rows
are good; dirty ones carry junk: other date formats, UTC offsets (mixed in one column), days a timestamp cannot
hold, money beyond its ceiling, infinities, codes outside their vocabulary, control characters, other scripts.
Foreign keys mostly find their parents, so every check is reached; the extract's end and the reject limit vary too.

Hypothesis draws one seed per extract (``extracts``) and everything else follows from it, so the shares above
hold (Hypothesis's own mutations would repeat one shape of files many times) and a failure names its seed.
``check_validation`` is the property: validation ends with a report (a fatal problem a person can act on, or rows
quarantined with their reasons), never an exception, and per table rows read = rows kept + rows rejected, as the
clean and rejects files hold them. ``tests/data/test_reader_fuzz.py`` runs it under pytest; ``bench/reader_fuzz.py``
runs it longer.
"""

from __future__ import annotations

import csv
import json
import math
import random
import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import strategies as st

from sources.contract import DATE, TABLES, table_info
from sources.folders import WorkspaceFolders
from sources.reject_limits import RejectLimits
from sources.validation import validate_workspace
from sources.validation_report import REPORT_FILE, ValidationReport

ROW_COUNTS = (1, 2, 3, 4, 5, 6, 6, 24)
"""Rows of a table with rows; now and then 24, so a reject limit (judged from 20 rows) can be crossed."""
ENCODINGS = ("utf-8", "utf-8", "utf-8", "utf-8", "utf-8-sig", "utf-8-sig", "latin-1", "cp1252")
PREFIX = {"accounts": "A", "service_lines": "L", "rate_changes": "R", "service_events": "E", "invoices": "I",
          "contacts": "C", "cancellation_requests": "Q", "save_attempts": "S", "proactive_calls": "P"}  # fmt: skip
FOREIGN = {"account_id": "accounts", "line_id": "service_lines", "request_id": "cancellation_requests"}
LATER = ("close_date", "end_date", "due_date", "paid_date", "resolved_date")
"""Dates that come after the row's event time: drawn later, so good rows keep their date order."""
JUNK = ("", " ", "n/a", "NULL", "-", "abc", "Ünïcødé", "名前", "1e400", "-0", "NaN", "inf", "☃", "0x1F", "'", '"', "\t",
        "a,b", "line\nbreak", "cr\rreturn", "\x00", "\u202e", "𝔘")  # fmt: skip
ODD_DAYS = ("0001-01-01", "1066-10-14", "1677-09-21", "2262-04-12", "9999-12-31", "2024-02-30", "99999-01-01")
TIMES = ("T10:30:00", " 23:59", "T00:00:00.123", "T10", "T25:99")
OFFSETS = ("Z", "+00:00", "-06:00", "+05:30", "+0200", "-05", " +01:00", "UTC", "+14:00")
NATIVE_FOR = {DATE: ("date", "timestamp", "zoned"), "float64": ("float", "int"), "Int64": ("int",),
              "boolean": ("bool",)}  # fmt: skip
"""Parquet types a column may be written in; now and then it is another (``WRONG_NATIVE``)."""
WRONG_NATIVE = {DATE: ("int", "bool", "float"), "float64": ("bool", "date"), "Int64": ("float", "bool"),
                "boolean": ("int", "timestamp")}  # fmt: skip


@dataclass
class Drawn:
    """One table as drawn: how it is written, and its rows."""

    name: str
    kind: str  # "absent", "empty file", "csv" or "parquet"
    columns: list[str] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)
    encoding: str = "utf-8"
    native: dict[str, str] = field(default_factory=dict)
    """Parquet columns written in a type of their own (``date``, ``timestamp``, ``zoned``, ``float``, ``int``,
    ``bool``), the others as text."""
    quote_all: bool = False
    """CSV: every field quoted (else only those that need it)."""


@dataclass
class Extract:
    """A drawn extract: its tables, ``extract.json``'s end date (a day, junk, or nothing) and the reject limit."""

    seed: int
    tables: dict[str, Drawn]
    end: Any
    max_reject_rate: float


def extracts() -> st.SearchStrategy[Extract]:
    """Random extracts, one seed each."""
    return st.integers(min_value=0, max_value=2**63).map(extract_of)


def extract_of(seed: int) -> Extract:
    """The extract a seed makes: every table, parents first, the extract's end and the reject limit."""
    rnd = random.Random(seed)  # noqa: S311 - a fuzzer's dice, not a secret
    tables: dict[str, Drawn] = {}
    for name in TABLES:
        tables[name] = _table(rnd, name, {table: len(drawn.rows) for table, drawn in tables.items()})
    roll = rnd.random()
    if roll < 0.85:
        end: Any = (date(2021, 1, 1) + timedelta(days=rnd.randrange(2_000))).isoformat()
    else:
        end = rnd.choice([None, None, None, "9999-12-31", "0001-01-01", "31/12/2024", "", "2019-06-30"])
    return Extract(seed, tables, end, rnd.choice([0.2, 0.2, 0.5, 1.0]))


def _table(rnd: random.Random, name: str, parents: dict[str, int]) -> Drawn:
    """One table: mostly good rows, some dirty ones, now and then a broken file."""
    info = table_info(name)
    if rnd.random() < (0.02 if info.required else 0.25):
        return Drawn(name, "empty file" if rnd.random() < 0.1 else "absent")
    kind = rnd.choice(["csv", "parquet"])
    schema = TABLES[name]
    columns = [c for c in schema.columns if schema.columns[c].required or rnd.random() < 0.7]
    if rnd.random() < 0.03:
        columns.remove(rnd.choice(info.required_columns))  # a required column missing: fatal
    if rnd.random() < 0.1:
        columns.append("driver_note")
    native = {}
    if kind == "parquet":
        for column in columns:
            dtype = str(schema.columns[column].dtype) if column in schema.columns else None
            if dtype in NATIVE_FOR and rnd.random() < 0.3:
                native[column] = rnd.choice(WRONG_NATIVE[dtype] if rnd.random() < 0.05 else NATIVE_FOR[dtype])
    count = rnd.choice(ROW_COUNTS) if rnd.random() > (0.02 if info.required else 0.06) else 0  # 0: a header alone
    rows = []
    for number in range(count):
        dirty = rnd.random() < 0.12
        row = {}
        for column in columns:
            spec = schema.columns.get(column)
            if column in native:
                top = _ceiling(spec) if spec is not None else 20.0
                row[column] = _native(rnd, native[column], good=not dirty, later=column in LATER, top=top)
            elif spec is None:
                row[column] = _text(rnd, 4)
            elif dirty and rnd.random() < 0.3:
                row[column] = _junk(rnd, str(spec.dtype))
            else:
                row[column] = _good(rnd, name, column, spec, number, parents)
        rows.append(row)
    return Drawn(name, kind, columns, rows, rnd.choice(ENCODINGS), native, rnd.random() < 0.5)


def _good(rnd: random.Random, table: str, name: str, column: Any, row: int, parents: dict[str, int]) -> Any:
    """A value the contract accepts (as text), so that good rows reach the clean layer."""
    dtype = str(column.dtype)
    allowed = [check.statistics["allowed_values"] for check in column.checks if check.name == "isin"]
    if name == table_info(table).key:
        return f"{PREFIX[table]}{row + 1}"
    if name in FOREIGN:  # mostly a parent row that exists; now and then one that does not (an orphan)
        parent = FOREIGN[name]
        return f"{PREFIX[parent]}{rnd.randint(1, max(parents.get(parent, 0), 1)) if rnd.random() > 0.03 else 99}"
    if column.nullable and rnd.random() < 0.2:
        return None
    if dtype == DATE:
        day = date(2020 if name in LATER else 2019, 1, 1) + timedelta(days=rnd.randrange(365))
        return day.isoformat() + rnd.choice(["", "", "", "T08:00:00-06:00", "T12:00:00Z", " 09:30", "T23:59:59+05:30"])
    if dtype in ("float64", "Int64"):
        top = _ceiling(column)
        if top < 20 and dtype == "float64":  # a share (a propensity): a good value is a fraction, not a count
            return str(round(rnd.uniform(0.01, top), 3))
        return str(rnd.randint(1, max(int(top), 1)))
    if dtype == "boolean":
        return rnd.choice(["true", "False", "yes", "N", "1", "0"])
    if allowed:
        return rnd.choice(list(allowed[0]))
    return rnd.choice({"state": ["CA", "NV"], "rep_id": ["R1", "R2", "r1"]}.get(name, ["Fresno", "Austin"]))


def _ceiling(column: Any) -> float:
    """The largest number good rows draw for a numeric column: 20, or the column's own maximum when smaller."""
    bounds = [check.statistics.get("max_value") for check in column.checks]
    return float(min([20, *(bound for bound in bounds if isinstance(bound, int | float))]))


def _junk(rnd: random.Random, dtype: str) -> Any:
    """A cell as text (or missing) that may break any rule of a column of ``dtype``."""
    roll = rnd.random()
    if roll < 0.15:
        return None
    if roll < 0.35:
        return rnd.choice(JUNK)
    if roll < 0.5:
        return _text(rnd, 6)
    if dtype == DATE:
        day = date(2015, 1, 1) + timedelta(days=rnd.randrange(4_000))
        return rnd.choice([
            day.strftime("%m/%d/%Y"), day.strftime("%d.%m.%Y"), rnd.choice(ODD_DAYS),
            day.isoformat() + rnd.choice(TIMES) + rnd.choice(OFFSETS),
            date.fromordinal(rnd.randint(1, date.max.toordinal())).isoformat(),
        ])  # fmt: skip
    if dtype in ("float64", "Int64"):
        return rnd.choice([
            repr(rnd.choice([math.nan, math.inf, -math.inf, 1e308, -0.0, 5e-324])), str(rnd.randint(-(10**20), 10**20)),
            "12.50", "1,200.00", "$40", "1e6", "1000001", "-5", "2.5e-3", "12.5", repr(rnd.uniform(-1e9, 1e9)),
        ])  # fmt: skip
    if dtype == "boolean":
        return rnd.choice(["maybe", "2", "ja", "TRUE ", "", "1.5"])
    return rnd.choice(["A1", "L1", "Q1", "zz", "ca", "C4", "A1 "])


def _text(rnd: random.Random, size: int) -> str:
    """Any characters: ASCII, controls, accents, other scripts, beyond the basic plane (no lone surrogates)."""
    ranges = ((0x20, 0x7E), (0x00, 0x1F), (0xA0, 0x24F), (0x4E00, 0x4E80), (0x1F600, 0x1F64F), (0x202A, 0x202E))
    return "".join(chr(rnd.randint(*rnd.choice(ranges))) for _ in range(rnd.randint(0, size)))


def _native(rnd: random.Random, kind: str, *, good: bool, later: bool = False, top: float = 20.0) -> Any:
    """A native Parquet value: one good rows carry (in 2019, or 2020 if ``later``; numbers up to ``top``), or any."""
    if not good and rnd.random() < 0.2:
        return None
    if kind in ("date", "timestamp", "zoned"):
        year = 2020 if later else 2019
        first, last = (date(year, 1, 1), date(year, 12, 31)) if good else (date(1, 1, 2), date(9999, 12, 30))
        if kind == "zoned" and not good:
            first, last = date(1900, 1, 2), date(2200, 1, 1)
        day = date.fromordinal(rnd.randint(first.toordinal(), last.toordinal()))
        return day if kind == "date" else datetime(day.year, day.month, day.day, rnd.randrange(24), rnd.randrange(60))
    if kind == "float":
        good_value = rnd.uniform(min(1.0, top / 20), top)
        return good_value if good else rnd.choice([math.nan, math.inf, -1e300, rnd.uniform(-1e12, 1e12)])
    if kind == "int":
        return rnd.randint(1, max(int(top), 1)) if good else rnd.randint(-(2**63), 2**63 - 1)
    return rnd.random() < 0.5


def write_extract(raw: Path, tables: dict[str, Drawn], end: Any) -> dict[str, int]:
    """Write a drawn extract into ``raw``; returns the rows written per table that has a file."""
    raw.mkdir(parents=True, exist_ok=True)
    if end is not None:
        (raw / "extract.json").write_text(json.dumps({"source": "fuzz", "end_date": end}), encoding="utf-8")
    written = {}
    for name, table in tables.items():
        if table.kind == "absent":
            continue
        if table.kind == "empty file":
            (raw / f"{name}.csv").write_bytes(b"")
            continue
        if table.kind == "csv":
            frame = pd.DataFrame(table.rows, columns=table.columns, dtype=object)
            if not table.quote_all:  # pandas leaves a lone carriage return unquoted: a line break in the file
                frame = frame.map(lambda v: v.replace("\r", "\n") if isinstance(v, str) else v)
            text = frame.to_csv(index=False, quoting=csv.QUOTE_ALL if table.quote_all else csv.QUOTE_MINIMAL)
            (raw / f"{name}.csv").write_bytes(text.encode(table.encoding, errors="replace"))
        else:
            pq.write_table(_arrow(table), raw / f"{name}.parquet")
        written[name] = len(table.rows)
    return written


def _arrow(table: Drawn) -> pa.Table:
    arrays = {}
    types = {"date": pa.date32(), "timestamp": pa.timestamp("us"), "float": pa.float64(), "int": pa.int64(),
             "bool": pa.bool_()}  # fmt: skip
    for column in table.columns:
        values = [row[column] for row in table.rows]
        kind = table.native.get(column)
        if kind == "zoned":
            zone = timezone(timedelta(hours=-6))
            stamps = [v.replace(tzinfo=zone) if v is not None else None for v in values]
            arrays[column] = pa.array(stamps, pa.timestamp("us", tz="America/Chicago"))
        elif kind is not None:
            arrays[column] = pa.array(values, types[kind])
        else:
            arrays[column] = pa.array([None if v is None else str(v) for v in values], pa.string())
    return pa.table(arrays)


def run_extract(extract: Extract) -> ValidationReport:
    """Write the extract into a fresh workspace, validate it and check the property; returns the report."""
    workspace = Path(tempfile.mkdtemp(prefix="fuzz-"))
    try:
        written = write_extract(workspace / "raw", extract.tables, extract.end)
        return check_validation(workspace, written, RejectLimits(max_reject_rate=extract.max_reject_rate))
    finally:
        shutil.rmtree(workspace, ignore_errors=True)


def check_validation(workspace: Path, written: dict[str, int], limits: RejectLimits | None = None) -> ValidationReport:
    """Validate the workspace and check the property; returns the report.

    Raises:
        AssertionError: The report or the files break the property.
    """
    folders = WorkspaceFolders(raw=workspace / "raw", clean=workspace / "clean", rejects=workspace / "rejects")
    report = validate_workspace(folders, limits=limits)  # any exception fails the property
    saved = json.loads((folders.clean / REPORT_FILE).read_text(encoding="utf-8"))
    assert saved["fatal"] == report.fatal
    for problem in report.problems:
        if problem.fatal:
            assert problem.action and problem.found and problem.table in problem.message()
    for summary in report.tables:
        assert summary.rows_read == summary.rows_kept + summary.rows_rejected, summary
        if summary.status in ("ok", "absent") and summary.file:
            assert summary.rows_read == written[summary.table], (summary, written)
        clean = folders.clean / f"{summary.table}.parquet"
        if report.fatal or summary.status == "absent":
            assert not clean.exists(), summary
        else:
            assert pq.ParquetFile(clean).metadata.num_rows == summary.rows_kept, summary
        rejects = folders.rejects / f"{summary.table}.parquet"
        rejected = pq.ParquetFile(rejects).metadata.num_rows if rejects.exists() else 0
        assert rejected == summary.rows_rejected, summary
    assert not [path for path in workspace.iterdir() if path.name.startswith(".")], "a staging folder was left"
    return report
