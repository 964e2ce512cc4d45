"""The published lists as the API and the rep page send them: rows with their talking points, by business date.

``read_lists`` reads a published version's three lists (``serving.publication.catalog``) into ``ListedRow``s, each
with its talking points; ``readable_rows`` narrows them to what a user may read.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict

from models.deal import APPROVALS, DEAL_COLUMNS
from serving.auth import User
from serving.publication.catalog import LIST_FILES, TALKING_POINTS_FILE

ROW_FIELDS = (
    "list", "list_key", "rep_id", "rank", "due_date", "batch", "request_id", "account_id", "territory", "segment",
    "reason", "request_date", "churn_probability", "offer", "p_save", "expected_net_value", "saveable_value",
    "rollback_pct", "fallback_offer", "reason_codes", "guardrail_note", *DEAL_COLUMNS,
)  # fmt: skip
"""The columns of a listed row the API sends (an allow-list: nothing else of the published frames leaves)."""


class ListedPoint(BaseModel):
    """A talking point of a listed row."""

    kind: str
    rank: int
    feature: str | None = None
    direction: str = ""
    sentence: str
    audience: str | None = None
    """``customer`` (may be said) or ``rep`` (for the rep only); None where the publication predates it."""


class ListedRow(BaseModel):
    """One row of a published list."""

    model_config = ConfigDict(extra="ignore")

    list: str
    list_key: str
    rep_id: str
    rank: int
    due_date: date | None = None
    batch: str | None = None
    request_id: str | None = None
    account_id: str
    territory: str
    segment: str | None = None
    reason: str | None = None
    request_date: date | None = None
    churn_probability: float | None = None
    offer: str | None = None
    p_save: float | None = None
    expected_net_value: float | None = None
    saveable_value: float | None = None
    rollback_pct: float | None = None
    fallback_offer: str | None = None
    reason_codes: str | None = None
    guardrail_note: str | None = None
    current_monthly_rate: float | None = None
    current_lines: float | None = None
    service_stream: str | None = None
    current_container: str | None = None
    current_yards: float | None = None
    current_pickups: float | None = None
    current_service: str | None = None
    proposed_monthly_rate: float | None = None
    proposed_container: str | None = None
    proposed_yards: float | None = None
    proposed_pickups: float | None = None
    proposed_service: str | None = None
    proposed_change: str | None = None
    proposed_term_months: float | None = None
    monthly_change: float | None = None
    authority_pct: float | None = None
    authority_monthly: float | None = None
    floor_monthly_rate: float | None = None
    approval: str | None = None
    agreement_end: date | None = None
    agreement_month_to_month: bool | None = None
    compliance_notes: builtins.list[str] | None = None
    talking_points: builtins.list[ListedPoint] = []

    @property
    def approval_words(self) -> str:
        """Whether the deal needs a manager or a flip, in a rep's words (empty when the row has no deal)."""
        return "" if self.approval is None else APPROVALS.get(self.approval, self.approval)


class Lists(BaseModel):
    """A business date's published lists, as far as the caller may read them."""

    business_date: date
    notice: str | None = None
    """Said above the lists when they are not today's (last night's extract had not arrived); None when they are."""
    valuation_notice: str | None = None
    """Said when the offers were valued from the catalog's typical save rates (no save model yet); else None."""
    inbound: builtins.list[ListedRow]
    proactive: builtins.list[ListedRow]
    flips: builtins.list[ListedRow]


@dataclass(frozen=True)
class Published:
    """One published version of a date's lists, ready to filter, and the filtered views sent so far (as JSON)."""

    business_date: date
    version: str
    rows: dict[str, list[ListedRow]]
    views: dict[tuple[Any, ...], bytes] = field(default_factory=dict)


def read_lists(folder: Path, day: date) -> Published:
    """A published folder's three lists, each row with its talking points, in list order."""
    points = pd.read_parquet(folder / TALKING_POINTS_FILE)
    said: dict[str, list[ListedPoint]] = {}
    for record in _records(points):
        said.setdefault(str(record["list_key"]), []).append(ListedPoint.model_validate(_clean(record)))
    rows = {}
    for name, file in LIST_FILES.items():
        frame = pd.read_parquet(folder / file) if (folder / file).is_file() else pd.DataFrame()
        frame = frame[[c for c in ROW_FIELDS if c in frame]]
        rows[name] = [
            ListedRow.model_validate({**_clean(r), "talking_points": said.get(str(r["list_key"]), [])})
            for r in _records(frame)
        ]
    return Published(day, folder.name, rows)


def readable_rows(rows: list[ListedRow], user: User, territory: str | None, rep: str | None) -> list[ListedRow]:
    """The rows ``user`` may read, of ``territory`` and ``rep`` when given."""
    return [
        r for r in rows if user.can_read(r.territory) and territory in (None, r.territory) and rep in (None, r.rep_id)
    ]


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    columns = {str(c): frame[c].tolist() for c in frame.columns}
    return [dict(zip(columns, values, strict=True)) for values in zip(*columns.values(), strict=True)]


def _clean(record: dict[str, Any]) -> dict[str, Any]:
    """A record with missing values as None and timestamps as days."""
    out: dict[str, Any] = {}
    for key, value in record.items():
        if isinstance(value, np.ndarray):  # a list column (compliance notes) as Parquet reads it back
            out[key] = value.tolist()
        elif value is None or (not isinstance(value, str | list | dict) and pd.isna(value)):
            out[key] = None
        elif isinstance(value, pd.Timestamp):
            out[key] = value.date()
        else:
            out[key] = value
    return out
