"""The row checks of one table, or of one account shard of it, and their merge.

``check_table`` runs ``sources.checks.check_rows`` on rows read from a file (all of them, or one shard's,
with their positions in the file), stages the kept rows and keeps what the report needs: the problems with
the file's row positions and the row's key, the quarantined rows as read, and counts. ``merge_checked``
puts a table's shards back together so that the report and the rejects file are those of one pass over
the whole file.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from sources.checks import ParentKeys, RowCheck, check_rows
from sources.contract import TABLES, TableInfo, table_info
from sources.problems import reject_reasons


@dataclass(frozen=True)
class TableChecked:
    """What the row checks found in a table (or one shard of it).

    Attributes:
        rows: Rows checked.
        kept: Rows staged as clean.
        problems: The problem frame (``sources.problems``) with ``row`` the position in the file and ``key``
            the row's key as text.
        rejected: The quarantined rows as read, in file order.
        rejected_rows: Their positions in the file.
        reasons: Their reject reasons, in the same order.
        column_errors: Problems with a whole column rather than rows.
        unchecked: Foreign-key columns not checked (their parent table could not be validated).
    """

    rows: int
    kept: int
    problems: pd.DataFrame
    rejected: pd.DataFrame
    rejected_rows: np.ndarray
    reasons: np.ndarray
    column_errors: tuple[str, ...]
    unchecked: tuple[str, ...]


def check_table(
    info: TableInfo,
    raw: pd.DataFrame,
    positions: np.ndarray | None,
    extract_end: date | None,
    parents: Mapping[str, ParentKeys],
    stage: Callable[[pd.DataFrame], int],
    rows_check: Callable[..., RowCheck] = check_rows,
    *,
    unique_keys: bool = False,
) -> tuple[TableChecked, dict[str, ParentKeys]]:
    """Check rows of one table and stage its kept rows.

    Args:
        info: The table.
        raw: Its rows as read, indexed by position in ``raw``.
        positions: Each row's position in the file (from 0); None when ``raw`` is the whole file.
        extract_end: The extract's last day, if known.
        parents: Kept and quarantined keys of the parent tables' rows checked before (the same shard's).
        stage: Writes the kept rows (typed, with defaults) and returns how many it wrote.
        rows_check: The row checks (``sources.checks.check_rows``).
        unique_keys: Whether the key is known to be unique in the whole file (its duplicate check is skipped).

    Returns:
        What was found, and the kept and quarantined values of the columns other tables reference.
    """
    numbers = None if positions is None else positions + 1
    check = rows_check(info.name, raw, extract_end, parents, numbers, unique_keys=unique_keys)
    local = np.flatnonzero(check.rejected)
    problems = check.problems
    keys = raw[info.key].take(problems["row"].to_numpy()).astype("str").to_numpy()
    if positions is not None:
        problems = problems.assign(row=positions[problems["row"].to_numpy()])
    problems = problems.assign(key=keys)
    reasons = reject_reasons(check.problems).reindex(local).to_numpy()
    kept = stage(with_defaults(info, check.typed.loc[~check.rejected])) if len(local) < len(raw) else 0
    checked = TableChecked(
        rows=len(raw),
        kept=kept,
        problems=problems,
        rejected=raw.take(local),
        rejected_rows=local if positions is None else positions[local],
        reasons=reasons,
        column_errors=check.column_errors,
        unchecked=check.unchecked,
    )
    return checked, {column: check.keys(column) for column in referenced(info.name)}


def merge_checked(parts: list[TableChecked]) -> TableChecked:
    """One table's shards as one: counts summed, problems and quarantined rows in file order."""
    if len(parts) == 1:
        return parts[0]
    order = np.argsort(np.concatenate([part.rejected_rows for part in parts]), kind="stable")
    found = [part.problems for part in parts if len(part.problems)]
    problems = pd.concat(found, ignore_index=True) if found else parts[0].problems
    rejected = [part.rejected for part in parts if len(part.rejected)] or [parts[0].rejected]
    return TableChecked(
        rows=sum(part.rows for part in parts),
        kept=sum(part.kept for part in parts),
        problems=problems.sort_values("row", kind="stable", ignore_index=True) if len(problems) else problems,
        rejected=pd.concat(rejected, ignore_index=True).take(order),
        rejected_rows=np.concatenate([part.rejected_rows for part in parts])[order],
        reasons=np.concatenate([part.reasons for part in parts])[order],
        column_errors=tuple(dict.fromkeys(error for part in parts for error in part.column_errors)),
        unchecked=parts[0].unchecked,
    )


def with_defaults(info: TableInfo, kept: pd.DataFrame) -> pd.DataFrame:
    """The kept rows with every defaulted column the extract lacks, at its declared value (``TableInfo.defaults``)."""
    missing = {column: value for column, value in info.defaults.items() if column not in kept.columns}
    return kept.assign(
        **{column: pd.Series(value, index=kept.index, dtype="object") for column, value in missing.items()}
    )


def referenced(table: str) -> list[str]:
    """Columns of ``table`` that another table's foreign key points at."""
    return sorted(
        {column for name in TABLES for parent, column in table_info(name).foreign_keys.values() if parent == table}
    )
