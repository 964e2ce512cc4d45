"""A rep's CRM import file (``reps/<rep>.csv``): fixed columns, rounded numbers, cells safe in a spreadsheet."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pandas as pd

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
    "talking_points",
]
"""Columns of a rep's CRM import file, in order (a column the lists lack is left empty)."""

_PROBABILITIES = ("churn_probability", "p_save")
_MONEY = ("expected_net_value", "saveable_value")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def rep_csvs(items: pd.DataFrame, reps: Iterable[str]) -> dict[str, bytes]:
    """Each rep's CRM file (UTF-8, Unix line ends): their rows of ``items``, in order; only the header if none.

    Args:
        items: Every listed row in file order, with its talking points as text (``talking_points``).
        reps: The reps to write a file for.
    """
    crm = csv_frame(items)
    by_rep = {str(rep): part for rep, part in crm.groupby(items["rep_id"].astype(str), sort=True)}
    return {rep: by_rep.get(rep, crm.iloc[:0]).to_csv(index=False, lineterminator="\n").encode("utf-8") for rep in reps}


def csv_frame(items: pd.DataFrame) -> pd.DataFrame:
    """The CRM columns of every listed row: probabilities to 4 places, money to cents, text safe for spreadsheets."""
    out = items.reindex(columns=CSV_COLUMNS)
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
