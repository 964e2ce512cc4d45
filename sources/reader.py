"""Reading a folder of raw tables (Parquet or CSV) as the contract names them.

A table ``accounts`` is read from ``accounts.parquet`` or ``accounts.csv`` in the
folder. Problems a person can fix (a missing file, a file that is not UTF-8, an
empty file) raise ``TableReadError`` with the file and what to do, never a bare
library traceback.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

EXTRACT_FILE = "extract.json"
SUFFIXES = (".parquet", ".csv")


class TableReadError(Exception):
    """A raw table could not be read; the message says which file and why."""


@dataclass(frozen=True)
class Extract:
    """What an extract says about itself in ``extract.json``.

    Attributes:
        end: The last day the extract covers; nothing may be stamped later.
        source: Who produced it (a hauler's export, the simulator).
        start: The first day its event history covers (earlier history is absent).
    """

    end: date | None
    source: str = "unknown"
    start: date | None = None


def read_extract(raw_dir: Path) -> Extract:
    """Read ``extract.json`` of a raw folder, if it has one."""
    path = raw_dir / EXTRACT_FILE
    if not path.is_file():
        return Extract(end=None)
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
        end = date.fromisoformat(meta["end_date"]) if meta.get("end_date") else None
        start = date.fromisoformat(meta["start_date"]) if meta.get("start_date") else None
    except (ValueError, KeyError, TypeError) as error:
        raise TableReadError(f"{path}: expected JSON with an ISO 'end_date' (YYYY-MM-DD); {error}") from error
    return Extract(end=end, source=str(meta.get("source", "unknown")), start=start)


def table_path(raw_dir: Path, table: str) -> Path | None:
    """The file holding a table, or None when the folder has none."""
    for suffix in SUFFIXES:
        path = raw_dir / f"{table}{suffix}"
        if path.is_file():
            return path
    return None


def read_table(path: Path) -> pd.DataFrame:
    """Read one raw table file as text-faithful columns.

    CSV columns are read as strings (types are the contract's job, so that a
    bad value is reported rather than silently turned into NaN); Parquet keeps
    its stored types.

    Args:
        path: A ``.parquet`` or ``.csv`` file.

    Returns:
        The table.

    Raises:
        TableReadError: The file is empty, not UTF-8, or not readable.
    """
    if path.stat().st_size == 0:
        raise TableReadError(f"{path}: the file is empty; re-export the table with its header row.")
    if path.suffix == ".csv":
        return _read_csv(path)
    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as error:
        raise TableReadError(f"{path}: not a readable Parquet file ({error}).") from error
    return table.to_pandas(date_as_object=False)


def _first_bad_byte(path: Path) -> str:
    """Where the first byte that is not UTF-8 sits, as line and byte offset."""
    data = path.read_bytes()
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        return f"byte {data[error.start : error.start + 1]!r} on line {line}, offset {error.start}"
    return "undecodable bytes"


def _read_csv(path: Path) -> pd.DataFrame:
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""], encoding="utf-8")
    except UnicodeDecodeError as error:  # its offset counts from the chunk pandas was decoding: find the byte
        raise TableReadError(
            f"{path}: not UTF-8 text ({_first_bad_byte(path)}); re-export the file as UTF-8."
        ) from error
    except pd.errors.EmptyDataError as error:
        raise TableReadError(f"{path}: the file has no header row; re-export it.") from error
    except pd.errors.ParserError as error:
        raise TableReadError(f"{path}: not a well-formed CSV file ({error}).") from error
    return frame
