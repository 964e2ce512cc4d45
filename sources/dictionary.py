"""The data dictionary: the contract's declarations rendered as Markdown for people.

``docs/data-dictionary.md`` is generated from ``sources/contract.py`` (and the
date-order rules in ``sources/expectations.py``); a test keeps the committed
file equal to ``render_data_dictionary()``. Regenerate it with::

    .venv/bin/python -m sources.dictionary
"""

from __future__ import annotations

from pathlib import Path

import pandera.pandas as pa
from rich.console import Console

from sources.contract import DATE, EARLIEST_DAY, LATEST_DAY, MONEY_CEILING, TABLES, TIMESTAMPS, TableInfo, table_info
from sources.expectations import DATE_FORMAT, date_orders, describe_check

DICTIONARY_PATH = Path(__file__).resolve().parents[1] / "docs" / "data-dictionary.md"

_TYPE_NAMES = {
    "string[pyarrow]": "text",
    "float64": "number",
    "Int64": "whole number",
    "boolean": "true/false",
    "datetime64[ns]": f"date ({DATE_FORMAT})",
}

_PREAMBLE = f"""\
# Data dictionary

<!-- Generated from sources/contract.py by `.venv/bin/python -m sources.dictionary`. Do not edit by hand. -->

Every table savedesk reads, as the data contract declares it. An extract is a
folder `raw/` holding one file per table, `<table>.parquet` or `<table>.csv`
(UTF-8 with a header row), and `extract.json` with the extract's last day:
`{{"end_date": "{DATE_FORMAT}"}}`.

How `savedesk validate` applies it:

- A required table or required column that is missing, a file that cannot be
  read (empty, not UTF-8, not Parquet), a required table with a header and no
  rows, or a table with more of its rows quarantined than its limit (20 % by
  default, judged from 20 rows; `[validation]` in `savedesk.toml`) stops
  validation: nothing is cleaned until the files are fixed.
- An optional table with a header and no rows, or whose every row was
  quarantined, is absent: its features are left out, never zeros.
- A row that breaks a rule is quarantined in `rejects/<table>.parquet` with its
  reason: a value of the wrong type or outside its allowed values, an empty
  value where one is required, a key shared by rows with different content
  (all of them; an exact copy loses only the copy), a foreign key without a kept
  parent row (so a quarantined parent takes its children with it), any date
  after the extract's end, or a broken date order listed under the table.
- Every value has a sane range: dates from {EARLIEST_DAY.isoformat()} to the extract's end
  ({LATEST_DAY.isoformat()} when the end is unknown), money from 0 to {MONEY_CEILING:,} dollars,
  and each column's own bounds below.
- Dates are written {DATE_FORMAT}, with or without a time; true/false columns also
  accept yes/no and 1/0. {TIMESTAMPS}
- PII columns never leave the raw layer: they are not written to `clean/`.
- *Event time* is the day a row became known; *known later* columns are filled
  in afterwards, so features treat them as unknown when they lie after `as_of`.
"""


def render_data_dictionary() -> str:
    """The data dictionary of every contract table, as Markdown.

    Returns:
        The text of ``docs/data-dictionary.md``.
    """
    parts = [_PREAMBLE, _overview()]
    parts += [_table_section(table_info(name)) for name in TABLES]
    return "\n".join(parts)


def write_data_dictionary(path: Path = DICTIONARY_PATH) -> Path:
    """Write the rendered dictionary to a file.

    Args:
        path: Where to write; ``docs/data-dictionary.md`` by default.

    Returns:
        The path written.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_data_dictionary(), encoding="utf-8")
    return path


def _overview() -> str:
    rows = [
        "## Tables\n",
        "| Table | Required | Key | What a row is |",
        "|---|---|---|---|",
    ]
    for name, schema in TABLES.items():
        info = table_info(name)
        rows.append(f"| [{name}](#{name}) | {_yes(info.required)} | `{info.key}` | {_cell(schema.description or '')} |")
    return "\n".join(rows) + "\n"


def _table_section(info: TableInfo) -> str:
    schema = TABLES[info.name]
    foreign = ", ".join(f"`{c}` → `{t}.{p}`" for c, (t, p) in info.foreign_keys.items()) or "none"
    rules = "; ".join(order.describe() for order in date_orders(info.name)) or "none"
    lines = [
        f"## {info.name}\n",
        f"{schema.description}\n",
        f"- Required table: {_yes(info.required)}",
        f"- Key: `{info.key}`",
        f"- Foreign keys: {foreign}",
        f"- Event time: `{info.event_time}`",
        f"- Known later: {', '.join(f'`{c}`' for c in info.known_later) or 'none'}",
        f"- Date order: {rules}",
        "",
        "| Column | Type | Required | May be empty | Allowed values | PII | Description |",
        "|---|---|---|---|---|---|---|",
    ]
    lines += [_column_row(name, column) for name, column in schema.columns.items()]
    return "\n".join(lines) + "\n"


def _column_row(name: str, column: pa.Column) -> str:
    allowed = "; ".join(describe_check(check) for check in column.checks)
    if str(column.dtype) == DATE:
        allowed = f"from {EARLIEST_DAY.isoformat()} to the extract's end"
    pii = "PII" if (column.metadata or {}).get("pii") else ""
    kind = _TYPE_NAMES.get(str(column.dtype), str(column.dtype))
    cells = [f"`{name}`", kind, _yes(column.required), _yes(column.nullable), allowed, pii, column.description or ""]
    return "| " + " | ".join(_cell(cell) for cell in cells) + " |"


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


if __name__ == "__main__":
    written = write_data_dictionary()
    Console().print(f"Wrote {written}")
