"""A rep's CRM import file (``reps/<rep>.csv``): fixed columns, rounded numbers, cells safe in a spreadsheet.

Each row carries the recommendation's deal (``models.deal``: rates, service and term before and after, the monthly
change, the rep's authority, the price floor, the approval needed, the agreement's end and the jurisdiction's
compliance notes) and its talking points in one column per kind (``POINT_COLUMNS``), so a CRM can map each.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from models.point_wording import KINDS
from serving.publication.rep_pages import ShownPoints

POINT_COLUMNS = {kind: f"{kind}_points" for kind in KINDS}
"""Each talking-point kind's column (its sentences in page order, separated by `` | ``)."""

DEAL_CSV_COLUMNS = [
    "current_monthly_rate",
    "current_service",
    "proposed_monthly_rate",
    "proposed_service",
    "proposed_change",
    "proposed_term_months",
    "monthly_change",
    "authority_pct",
    "authority_monthly",
    "floor_monthly_rate",
    "approval",
    "agreement_end",
    "compliance_notes",
]
"""The deal's columns in the CRM file (``models.deal.DEAL_COLUMNS`` a rep reads; notes separated by `` | ``)."""

CSV_COLUMNS = [
    "rep_id",
    "due_date",
    "list",
    "rank",
    "list_key",
    "request_id",
    "account_id",
    "territory",
    "segment",
    "reason",
    "churn_probability",
    "offer",
    "p_save",
    "expected_net_value",
    "saveable_value",
    "fallback_offer",
    "reason_codes",
    "guardrail_note",
    *DEAL_CSV_COLUMNS,
    *POINT_COLUMNS.values(),
]
"""Columns of a rep's CRM import file, in order (a column the lists lack is left empty)."""

_PROBABILITIES = ("churn_probability", "p_save")
_MONEY = ("expected_net_value", "saveable_value", "current_monthly_rate", "proposed_monthly_rate", "monthly_change",
          "authority_monthly", "floor_monthly_rate")  # fmt: skip
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def rep_csvs(items: pd.DataFrame, reps: Iterable[str], shown: ShownPoints | None = None) -> dict[str, bytes]:
    """Each rep's CRM file (UTF-8, Unix line ends): their rows of ``items``, in order; only the header if none.

    Args:
        items: Every listed row in file order.
        reps: The reps to write a file for.
        shown: The talking points the rep's files show (``rep_pages.shown_points``), by ``list_key``; without
            them the point columns are empty.
    """
    crm = csv_frame(items.assign(**point_columns(items, shown or {})))
    by_rep = {str(rep): part for rep, part in crm.groupby(items["rep_id"].astype(str), sort=True)}
    return {rep: by_rep.get(rep, crm.iloc[:0]).to_csv(index=False, lineterminator="\n").encode("utf-8") for rep in reps}


def point_columns(items: pd.DataFrame, shown: ShownPoints) -> dict[str, list[str]]:
    """Each row's talking points, one column per kind (``POINT_COLUMNS``); a point of no known kind is left out."""
    keys = items["list_key"].astype(str).tolist() if "list_key" in items else [""] * len(items)
    out: dict[str, list[str]] = {column: [] for column in POINT_COLUMNS.values()}
    for key in keys:
        points = shown.get(key, [])
        for kind, column in POINT_COLUMNS.items():
            out[column].append(" | ".join(p["sentence"] for p in points if p.get("kind") == kind))
    return out


def csv_frame(items: pd.DataFrame) -> pd.DataFrame:
    """The CRM columns of every listed row: probabilities to 4 places, money to cents, text safe for spreadsheets."""
    out = items.reindex(columns=CSV_COLUMNS)
    out["compliance_notes"] = [_joined(notes) for notes in out["compliance_notes"].tolist()]
    out["agreement_end"] = pd.to_datetime(out["agreement_end"], errors="coerce").dt.date
    for column in _PROBABILITIES:
        out[column] = pd.to_numeric(out[column], errors="coerce").round(4)
    for column in _MONEY:
        out[column] = pd.to_numeric(out[column], errors="coerce").round(2)
    for column in out.columns:
        if out[column].dtype == object or pd.api.types.is_string_dtype(out[column]):
            out[column] = out[column].map(cell)
    return out


def cell(value: Any) -> Any:
    """A text cell safe to open in a spreadsheet: a leading ``= + - @`` is quoted with ``'`` (no formulas)."""
    if not isinstance(value, str):
        return value
    return "'" + value if value.startswith(_FORMULA_START) else value


def _joined(notes: Any) -> Any:
    """Compliance notes as one cell (`` | `` between notes); missing stays missing."""
    if isinstance(notes, np.ndarray | list | tuple):
        return " | ".join(str(n) for n in notes)
    return notes
