"""The raw folder as validation reads it: each table from its file, mapped when the extract has a mapping.

Validation asks ``MappedFolder`` for a table's file and its frame; without a
mapping both are what ``sources.reader`` gives. With one (``raw/mapping.yaml``,
or the file ``savedesk validate --mapping`` names) the file is the CRM's and
the frame is renamed, filled, recoded and re-dated (``sources.event_mapping``),
and what was done is kept for the report.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from sources.event_mapping import MAPPING_FILE, EventMapping, MappedTable, map_table
from sources.event_mapping_file import find_event_mapping
from sources.extract_mapping import MappingError
from sources.reader import read_table, table_path
from sources.validation_report import Problem


@dataclass
class MappedFolder:
    """The extract's folder read through its mapping (or as it is, without one).

    Attributes:
        raw_dir: The extract's folder.
        mapping: The checked mapping, or None.
        problems: A mapping that could not be loaded, as a fatal problem.
        records: What mapping did to each table read, in reading order.
    """

    raw_dir: Path
    mapping: EventMapping | None = None
    problems: list[Problem] = field(default_factory=list)
    records: list[MappedTable] = field(default_factory=list)

    def table_path(self, table: str) -> Path | None:
        """The file holding ``table``: the one the mapping names, else the one named as the table."""
        mapped = self.mapping.table_file(table) if self.mapping else None
        return mapped or table_path(self.raw_dir, table)

    def read(self, table: str, path: Path) -> pd.DataFrame:
        """Read ``table`` from ``path`` (rows indexed by position) and map it.

        Raises:
            TableReadError: The file cannot be read.
        """
        raw = read_table(path).reset_index(drop=True)
        if self.mapping is None or table not in self.mapping.tables:
            return raw
        frame, record = map_table(raw, self.mapping.tables[table], path)
        self.records.append(record)
        return frame

    def report(self) -> dict[str, Any] | None:
        """What the mapping did, per table, for the validation report; None without a mapping."""
        if self.mapping is None:
            return None
        default = self.raw_dir / MAPPING_FILE
        elsewhere = self.mapping.path.resolve() != default.resolve()
        return {
            "file": str(self.mapping.path),
            "note": (
                f"Commands that validate again (features, train, nightly) read {default}: copy the mapping there."
                if elsewhere
                else ""
            ),
            "tables": [record.to_dict() for record in self.records],
        }


def mapped_folder(raw_dir: Path, mapping: EventMapping | None = None) -> MappedFolder:
    """The folder read through ``mapping``, or through ``raw/mapping.yaml`` when none is given.

    A mapping file with a mistake is not raised here: it becomes the folder's
    fatal problem, so every command that validates says it in one sentence.
    """
    if mapping is not None:
        return MappedFolder(raw_dir, mapping)
    try:
        return MappedFolder(raw_dir, find_event_mapping(raw_dir))
    except MappingError as error:
        problem = Problem(
            table="mapping",
            file=str(raw_dir / MAPPING_FILE),
            column=None,
            expected="a mapping whose keys fit the contract and the extract's files",
            found=str(error),
            fatal=True,
            action=f"Fix the key named above in {raw_dir / MAPPING_FILE} (keys: mappings/README.md).",
        )
        return MappedFolder(raw_dir, problems=[problem])
