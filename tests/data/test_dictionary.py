"""The data dictionary is generated from the contract and committed in step with it."""

from __future__ import annotations

from pathlib import Path

from sources.contract import TABLES, table_info
from sources.dictionary import DICTIONARY_PATH, render_data_dictionary, write_data_dictionary


def _section(text: str, table: str) -> str:
    start = text.index(f"\n## {table}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def test_the_committed_dictionary_matches_the_contract() -> None:
    committed = DICTIONARY_PATH.read_text(encoding="utf-8") if DICTIONARY_PATH.exists() else ""

    assert committed == render_data_dictionary(), (
        "docs/data-dictionary.md is out of date with sources/contract.py;"
        " regenerate it with `.venv/bin/python -m sources.dictionary` and commit it."
    )


def test_every_table_and_column_is_described_with_its_facts() -> None:
    text = render_data_dictionary()

    for name, schema in TABLES.items():
        section = _section(text, name)
        info = table_info(name)
        assert f"- Required table: {'yes' if info.required else 'no'}" in section
        assert f"- Key: `{info.key}`" in section
        assert f"- Event time: `{info.event_time}`" in section
        for column, (parent, parent_column) in info.foreign_keys.items():
            assert f"`{column}` → `{parent}.{parent_column}`" in section
        for column_name, column in schema.columns.items():
            row = next(line for line in section.splitlines() if line.startswith(f"| `{column_name}` |"))
            assert (column.description or "") in row
            assert ("| PII |" in row) == (column_name in info.pii_columns)


def test_allowed_values_and_ranges_come_from_the_checks() -> None:
    section = _section(render_data_dictionary(), "save_attempts")

    assert "one of: inside_sales, outside_specialist" in section
    assert "between 0 and 100" in section
    assert "`end_date` is on or after `start_date`" in _section(render_data_dictionary(), "service_lines")


def test_the_module_writes_the_file(tmp_path: Path) -> None:
    written = write_data_dictionary(tmp_path / "docs" / "dictionary.md")

    assert written.read_text(encoding="utf-8") == render_data_dictionary()
