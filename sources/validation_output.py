"""What validation writes, written aside and moved into place as one set.

Every clean table, every rejects file and the report are first written into a hidden staging folder beside
``clean/``. Only once the whole run has succeeded are they moved into ``clean/`` and ``rejects/``: the old report
goes first, then each table's files replace the old ones (or the old ones are removed), then the new report
arrives last. A run that fails on the way (a bug, a full disk) leaves the previous outputs exactly as they
were, and a reader that finds a report finds the tables that go with it.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from sources.checks import RowCheck
from sources.contract import TABLES, TableInfo
from sources.folders import WorkspaceFolders
from sources.problems import reject_reasons
from sources.validation_report import REPORT_FILE

CLEAN_ROW_GROUP_ROWS = 131_072
"""Rows per Parquet row group of a clean table: a streaming reader decodes one group at a time, so small
groups bound what a feature build holds while it scans a large table."""


class StagedOutputs:
    """The clean tables, rejects and report of one validation run, held aside until ``commit``.

    Use as a context manager: the staging folder is removed on the way out, committed or not.
    """

    def __init__(self, folders: WorkspaceFolders) -> None:
        """Create the staging folder beside ``folders.clean``."""
        self.folders = folders
        folders.clean.parent.mkdir(parents=True, exist_ok=True)
        self.root = Path(tempfile.mkdtemp(prefix=f".{folders.clean.name}-staging-", dir=folders.clean.parent))
        self.clean = self.root / "clean"
        self.rejects = self.root / "rejects"
        self.clean.mkdir()
        self.rejects.mkdir()

    def __enter__(self) -> StagedOutputs:
        """The staged outputs."""
        return self

    def __exit__(self, *_: object) -> None:
        """Remove the staging folder (after a commit it holds nothing of value)."""
        shutil.rmtree(self.root, ignore_errors=True)

    def write_rejects(self, info: TableInfo, raw: pd.DataFrame, check: RowCheck) -> None:
        """Stage a table's quarantined rows: every original column as text, ``row_number`` and ``reject_reason``."""
        rows = np.flatnonzero(check.rejected)
        rejects = raw.take(rows).astype("str")
        rejects["row_number"] = rows + 1
        rejects["reject_reason"] = reject_reasons(check.problems).reindex(rows).to_numpy()
        rejects.to_parquet(self.rejects / f"{info.name}.parquet", index=False)

    def write_clean(self, info: TableInfo, kept: pd.DataFrame) -> int:
        """Stage a table's kept rows without PII, sorted by account then event time; returns how many."""
        kept = kept.drop(columns=[column for column in info.pii_columns if column in kept.columns])
        order = list(dict.fromkeys(c for c in ("account_id", info.event_time, info.key) if c in kept.columns))
        kept = kept.sort_values(order, kind="stable").reset_index(drop=True)
        kept.to_parquet(self.clean / f"{info.name}.parquet", index=False, row_group_size=CLEAN_ROW_GROUP_ROWS)
        return len(kept)

    def commit(self, report: str, *, with_clean: bool) -> None:
        """Move the staged files into place, the report last.

        Args:
            report: The report's text (JSON).
            with_clean: Whether to publish the clean tables; without them (a fatal run) the old ones are
                removed too, so no half-validated workspace feeds the features.
        """
        clean, rejects = self.folders.clean, self.folders.rejects
        clean.mkdir(parents=True, exist_ok=True)
        (clean / REPORT_FILE).unlink(missing_ok=True)
        for name in TABLES:
            staged = self.clean / f"{name}.parquet"
            _replace(staged if with_clean else None, clean / f"{name}.parquet")
            _replace(self.rejects / f"{name}.parquet", rejects / f"{name}.parquet")
        written = self.clean / REPORT_FILE
        written.write_text(report, encoding="utf-8")
        os.replace(written, clean / REPORT_FILE)


def _replace(staged: Path | None, target: Path) -> None:
    """Put ``staged`` at ``target`` (an atomic rename), or remove ``target`` when nothing was staged for it."""
    if staged is not None and staged.is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staged, target)
    else:
        target.unlink(missing_ok=True)
