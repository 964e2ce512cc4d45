"""What an extract left out: the optional tables and columns it lacks, and the values that stand in for them.

Validation finds it once (``shape_of``) and keeps it in its report under ``extract_shape``; every command after
it says it in one sentence (``ExtractShape.sentence``) and a training run keeps it as tags
(``ExtractShape.tags``). An absent table's features are left out, never zeros; an absent descriptive column
of the accounts (territory, segment, city, state) takes its declared default (``TableInfo.defaults``: one
territory ``all``, segment ``unknown``), so lists are still dealt by territory and the lists say so. That one
territory's offers are priced at the cost index ``ONE_TERRITORY_COST_INDEX`` (1.0, the average territory;
``save.offers.cost_to_serve.one_territory_index``), said with the defaults (``ExtractShape.assumed``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sources.contract import TABLES, table_info

TAG_PREFIX = "extract."
TERRITORY_COLUMN = "accounts.territory"
ONE_TERRITORY_COST_INDEX = 1.0
"""The cost index of the one territory an extract without territories gets (``models.cost_to_serve``): 1.0, the
reference every territory's index is relative to, so its offers are priced at the cost model's own figures."""
COST_INDEX_SETTING = "save.offers.cost_to_serve.one_territory_index"


@dataclass(frozen=True)
class ExtractShape:
    """The optional parts of the contract an extract does not carry.

    Attributes:
        absent_tables: Optional tables without a file or without rows.
        absent_columns: Optional columns (``table.column``) missing from a table that is present.
        defaulted: Of those, the columns the clean table still has, each with the value it took.
    """

    absent_tables: tuple[str, ...] = ()
    absent_columns: tuple[str, ...] = ()
    defaulted: dict[str, str] = field(default_factory=dict)

    @property
    def assumed(self) -> dict[str, str]:
        """Settings that stand in for what the extract lacks, each with its default: the one territory's cost index."""
        if TERRITORY_COLUMN not in self.defaulted:
            return {}
        return {COST_INDEX_SETTING: str(ONE_TERRITORY_COST_INDEX)}

    @property
    def complete(self) -> bool:
        """Whether the extract carries every table and column of the contract."""
        return not self.absent_tables and not self.absent_columns

    def sentence(self) -> str:
        """What was skipped, in one sentence (empty when nothing was)."""
        if self.complete:
            return ""
        parts = []
        if self.absent_tables:
            parts.append(f"without the tables {', '.join(self.absent_tables)} (their features are left out)")
        plain = [c for c in self.absent_columns if c not in self.defaulted]
        if plain:
            parts.append(f"without the columns {', '.join(plain)}")
        if self.defaulted:
            set_to = ", ".join(f"{column} '{value}'" for column, value in self.defaulted.items())
            parts.append(f"with defaults for what it lacks ({set_to})")
        if self.assumed:
            territory = self.defaulted[TERRITORY_COLUMN]
            parts.append(
                f"its one territory '{territory}' is priced at the cost index {self.assumed[COST_INDEX_SETTING]},"
                f" the average territory (unless {COST_INDEX_SETTING} says otherwise)"
            )
        return "This extract is " + "; ".join(parts) + "."

    def tags(self) -> dict[str, str]:
        """The shape as run tags: ``extract.absent_tables``, ``.absent_columns``, ``.defaulted`` and ``.assumed``."""
        return {
            f"{TAG_PREFIX}absent_tables": ",".join(self.absent_tables) or "none",
            f"{TAG_PREFIX}absent_columns": ",".join(self.absent_columns) or "none",
            f"{TAG_PREFIX}defaulted": ",".join(f"{c}={v}" for c, v in self.defaulted.items()) or "none",
            f"{TAG_PREFIX}assumed": ",".join(f"{k}={v}" for k, v in self.assumed.items()) or "none",
        }

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready data (``from_dict`` reads it back; ``assumed`` follows from ``defaulted``)."""
        return {
            "absent_tables": list(self.absent_tables),
            "absent_columns": list(self.absent_columns),
            "defaulted": dict(self.defaulted),
            "assumed": self.assumed,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> ExtractShape:
        """The shape ``to_dict`` wrote (an older report without one: nothing known to be skipped)."""
        data = data or {}
        return cls(
            absent_tables=tuple(data.get("absent_tables", ())),
            absent_columns=tuple(data.get("absent_columns", ())),
            defaulted=dict(data.get("defaulted", {})),
        )


def shape_of(columns: Mapping[str, Sequence[str]]) -> ExtractShape:
    """The shape of an extract from the columns of each table it holds.

    Args:
        columns: For every contract table read with rows kept, its file's columns (a table not named is absent).

    Returns:
        The absent optional tables, the absent optional columns (PII columns, which never leave the raw layer,
        are not counted) and the defaults standing in.
    """
    absent_tables = tuple(name for name in TABLES if name not in columns and not table_info(name).required)
    absent_columns: list[str] = []
    defaulted: dict[str, str] = {}
    for name, present in columns.items():
        info = table_info(name)
        for column, spec in TABLES[name].columns.items():
            if spec.required or column in present or column in info.pii_columns:
                continue
            absent_columns.append(f"{name}.{column}")
            if column in info.defaults:
                defaulted[f"{name}.{column}"] = info.defaults[column]
    return ExtractShape(absent_tables, tuple(absent_columns), defaulted)
