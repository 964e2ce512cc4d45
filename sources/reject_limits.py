"""Fail loudly on empty: how much of a table may be quarantined before the whole extract is refused.

A required table whose file has no rows, or whose every row was quarantined, makes the workspace unusable: an
extract without accounts has nothing to score, and publishing empty lists would look like a quiet night. So does
any table whose share of quarantined rows is above its limit, which is how a systematic fault shows (a date
column exported as MM/DD/YYYY, a parent table lost, so that every child is an orphan). The share is judged once
a table has ``min_rows`` rows: on fewer, one bad row is already a large share.

The limits are declared once, here, with their defaults; the settings (``[validation]`` in ``savedesk.toml``,
``SAVEDESK_VALIDATION__MAX_REJECT_RATE``) may override them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from sources.contract import TABLES, TableInfo
from sources.validation_report import Problem

SHOWN_REASONS = 3
"""Reasons quoted in the fatal sentence, the most frequent first (the rejects file holds every one)."""


@dataclass(frozen=True)
class RejectLimits:
    """The share of a table's rows validation may quarantine before it refuses the extract.

    Attributes:
        max_reject_rate: The largest share of rows quarantined, for every table without its own limit.
        per_table: Limits of single tables, by table name, beating ``max_reject_rate``.
        min_rows: Rows a table needs before its share is judged (a required table that keeps no row
            is refused whatever its size).
    """

    max_reject_rate: float = 0.2
    per_table: dict[str, float] = field(default_factory=dict)
    min_rows: int = 20

    def __post_init__(self) -> None:
        """Refuse limits that cannot be right."""
        rates = {"max_reject_rate": self.max_reject_rate, **{f"per_table.{t}": r for t, r in self.per_table.items()}}
        wrong = [f"{name} = {rate} (a share from 0 to 1)" for name, rate in rates.items() if not 0 <= rate <= 1]
        wrong += [f"per_table.{name} (no such table)" for name in self.per_table if name not in TABLES]
        wrong += [f"min_rows = {self.min_rows} (at least 1)"] if self.min_rows < 1 else []
        if wrong:
            raise ValueError("validation limits: " + "; ".join(wrong) + ".")

    def rate(self, table: str) -> float:
        """The limit of one table."""
        return self.per_table.get(table, self.max_reject_rate)

    def describe(self) -> dict[str, dict[str, float]]:
        """Every table's limits, as the report keeps them."""
        return {name: {"max_reject_rate": self.rate(name), "min_rows": self.min_rows} for name in TABLES}


def empty_table(info: TableInfo, file: Path) -> Problem:
    """The fatal problem of a required table whose file holds its header and no row."""
    return Problem(
        table=info.name,
        file=str(file),
        column=None,
        expected=f"rows: {info.name} is a required table",
        found="a header and no rows",
        fatal=True,
        action=f"Export the {info.name} table with its rows into {file.name}; without them there is nothing to score.",
    )


def limit_problem(
    info: TableInfo, file: Path, rows: int, problems: pd.DataFrame, rejected: int, limits: RejectLimits
) -> Problem | None:
    """The fatal problem of a table that quarantined too much, or None.

    Args:
        info: The table.
        file: The file it was read from.
        rows: Rows read.
        problems: Its problem frame (``sources.problems``), to quote the most frequent reasons.
        rejected: Rows quarantined.
        limits: The limits.

    Returns:
        A problem naming the table, the count and the first reasons when a required table kept no row or
        the share quarantined is above the table's limit; otherwise None.
    """
    rate = limits.rate(info.name)
    share = rejected / rows if rows else 0.0
    nothing_kept = info.required and rows > 0 and rejected == rows
    if not nothing_kept and (rows < limits.min_rows or share <= rate):
        return None
    return Problem(
        table=info.name,
        file=str(file),
        column=None,
        expected=f"at most {rate * 100:g} % of its rows quarantined" + (" and some kept" if info.required else ""),
        found=f"{rejected:,} of {rows:,} rows ({share * 100:.1f} %) quarantined: {reasons(problems)}",
        fatal=True,
        action=(
            f"Fix {file.name} (every row's reason is in rejects/{info.name}.parquet) and validate again; if this"
            f" share is expected, raise validation.max_reject_rate (or validation.per_table.{info.name})."
        ),
    )


def reasons(problems: pd.DataFrame, shown: int = SHOWN_REASONS) -> str:
    """The most frequent reasons of a problem frame, each with its first value found and its count."""
    if problems.empty:
        return "no reason recorded"
    ordered = problems.sort_values("row", kind="stable")
    counts = ordered.groupby(["column", "rule"], sort=False)["row"].transform("size")
    first = ordered.assign(count=counts).drop_duplicates(["column", "rule"])
    first = first.sort_values("count", ascending=False, kind="stable").head(shown)
    return "; ".join(
        f"{column}: expected {expected}, found {found} ({count:,} rows)"
        for column, expected, found, count in zip(
            first["column"], first["expected"], first["found"], first["count"], strict=True
        )
    )
