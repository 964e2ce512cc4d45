"""A rep's CRM file: the deal's columns, and the talking points in one column per kind (not merged text)."""

from __future__ import annotations

import io
from datetime import date

import numpy as np
import pandas as pd

from models.deal import DEAL_COLUMNS
from models.point_wording import KINDS
from serving.lists import ListedRow
from serving.publication.crm import CSV_COLUMNS, DEAL_CSV_COLUMNS, POINT_COLUMNS, rep_csvs
from serving.publication.rep_pages import ShownPoints


def items() -> pd.DataFrame:
    """Two listed rows of one rep: a right-size in California with a full deal, and a row without one."""
    return pd.DataFrame(
        {
            "rep_id": ["R1", "R1"],
            "list": ["inbound", "proactive"],
            "rank": [1, 1],
            "list_key": ["CR1", "A2"],
            "account_id": ["A1", "A2"],
            "offer": ["right_size", "contract_education"],
            "current_monthly_rate": [912.346, np.nan],
            "proposed_monthly_rate": [801.5, np.nan],
            "monthly_change": [801.5 - 912.346, np.nan],
            "floor_monthly_rate": [650.0, np.nan],
            "authority_pct": [10.0, np.nan],
            "authority_monthly": [91.2346, np.nan],
            "approval": ["", None],
            "proposed_change": ["=trash: front-load 6 yd 3×/week → 2×/week", None],
            "agreement_end": [pd.Timestamp("2027-05-19"), pd.NaT],
            "compliance_notes": [np.array(["California requires recycling.", "Keep organics."]), None],
        }
    )


SHOWN: ShownPoints = {
    "CR1": [
        {"sentence": "3 missed pickups in 90 days", "kind": "risk_driver", "label": "Risk", "css": "bad"},
        {"sentence": "containers 40% full", "kind": "risk_driver", "label": "Risk", "css": "bad"},
        {"sentence": "a customer for 6 years", "kind": "protective", "label": "Holds", "css": "good"},
        {"sentence": "pays for capacity it does not use", "kind": "offer_driver", "label": "Offer", "css": "good"},
    ]
}


def read(csv: bytes) -> pd.DataFrame:
    return pd.read_csv(io.BytesIO(csv), keep_default_na=False, dtype=str)


def test_each_point_kind_has_its_own_column_and_no_merged_text() -> None:
    frame = read(rep_csvs(items(), ["R1"], SHOWN)["R1"])
    assert list(frame.columns) == CSV_COLUMNS
    assert "talking_points" not in frame and set(POINT_COLUMNS) == set(KINDS)
    first = frame.iloc[0]
    assert first["risk_driver_points"] == "3 missed pickups in 90 days | containers 40% full"
    assert first["protective_points"] == "a customer for 6 years"
    assert first["offer_driver_points"] == "pays for capacity it does not use"
    assert first["guardrail_points"] == ""
    assert (frame.iloc[1][list(POINT_COLUMNS.values())] == "").all()


def test_the_deal_is_in_the_file_rounded_safe_and_empty_where_unknown() -> None:
    frame = read(rep_csvs(items(), ["R1"], SHOWN)["R1"])
    first, second = frame.iloc[0], frame.iloc[1]
    assert set(DEAL_CSV_COLUMNS) <= set(DEAL_COLUMNS) and set(DEAL_CSV_COLUMNS) <= set(frame.columns)
    assert (first["current_monthly_rate"], first["proposed_monthly_rate"]) == ("912.35", "801.5")
    assert float(first["monthly_change"]) == round(801.5 - 912.346, 2)
    assert first["agreement_end"] == "2027-05-19"
    assert first["compliance_notes"] == "California requires recycling. | Keep organics."
    assert first["proposed_change"].startswith("'=")  # no formula in a spreadsheet
    assert (second[DEAL_CSV_COLUMNS] == "").all()  # a row without a deal invents none


def test_without_shown_points_the_point_columns_are_empty() -> None:
    frame = read(rep_csvs(items(), ["R1", "R2"])["R1"])
    assert (frame[list(POINT_COLUMNS.values())] == "").all().all()
    assert list(read(rep_csvs(items(), ["R2"])["R2"]).columns) == CSV_COLUMNS


def test_a_listed_row_reads_every_deal_column_back() -> None:
    assert set(DEAL_COLUMNS) <= set(ListedRow.model_fields)
    row = ListedRow.model_validate(
        {"list": "inbound", "list_key": "CR1", "rep_id": "R1", "rank": 1, "account_id": "A1", "territory": "LA",
         "approval": "manager", "agreement_end": date(2027, 5, 19), "compliance_notes": ["a note"]}
    )  # fmt: skip
    assert row.approval_words.startswith("needs a manager") and row.compliance_notes == ["a note"]
