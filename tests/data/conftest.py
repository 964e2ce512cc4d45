"""Fixtures for the data tests: a small, valid hauler written by hand.

Six accounts (one closed), their service lines, rate changes, service events,
invoices, contacts, cancellation requests and save attempts, all consistent
with the contract and with an extract that ends on 2024-12-31.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from pipelines.settings import load_settings
from sources.folders import WorkspaceFolders
from sources.validation import validate_workspace
from sources.validation_report import ValidationReport

EXTRACT_END = date(2024, 12, 31)

WriteRaw = Callable[..., Path]


def _dates(*values: str | None) -> pd.Series:
    return pd.Series(pd.to_datetime(list(values), format="ISO8601")).astype("datetime64[ns]")


def _accounts() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "account_id": ["A001", "A002", "A003", "A004", "A005", "A006"],
            "account_name": ["Rosa's Diner", "Kim Household", "Metro Steel", "City of Elm", "Blue Cafe", None],
            "contact_name": ["Rosa Diaz", "Jae Kim", "Ann Roe", "Bo Li", "Cy Ng", None],
            "phone": ["555-0101", "555-0102", "555-0103", "555-0104", "555-0105", None],
            "email": ["rosa@example.com", None, "ann@example.com", "bo@example.com", None, None],
            "street_address": ["1 Main St", "2 Oak Ave", "3 Mill Rd", "4 Hall Sq", "5 Bay St", None],
            "city": ["Fresno", "Fresno", "Reno", "Elm", "Fresno", "Reno"],
            "state": ["CA", "CA", "NV", "CA", "CA", "NV"],
            "territory": ["CA-Central", "CA-Central", "NV-North", "CA-Central", "CA-Central", "NV-North"],
            "segment": ["commercial", "residential", "industrial", "municipal", "commercial", "commercial"],
            "industry": ["restaurant", "household", "manufacturing", "government", "restaurant", None],
            "start_date": _dates("2019-03-01", "2021-06-15", "2018-01-01", "2020-07-01", "2022-02-01", "2023-05-01"),
            "contract_term_months": pd.array([36, 0, 24, 60, 12, None], dtype="Int64"),
            "auto_renew": [True, False, True, False, False, True],
            "close_date": _dates(None, None, None, None, "2024-09-30", None),
            "close_reason": [None, None, None, None, "price", None],
        }
    )


def _service_lines() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "line_id": ["L001", "L002", "L003", "L004", "L005", "L006", "L007", "L008"],
            "account_id": ["A001", "A001", "A002", "A003", "A003", "A004", "A005", "A006"],
            "stream": ["trash", "recycling", "trash", "roll_off", "trash", "trash", "trash", "organics"],
            "container_type": [
                "front_load",
                "front_load",
                "cart",
                "roll_off",
                "compactor",
                "front_load",
                "front_load",
                "cart",
            ],
            "container_yards": [4.0, 6.0, 0.5, 30.0, 34.0, 8.0, 4.0, 0.5],
            "pickups_per_week": [3.0, 1.0, 1.0, 0.5, 2.0, 2.0, 2.0, 1.0],
            "monthly_rate": [420.0, 180.0, 32.5, 950.0, 1240.0, 610.0, 390.0, 45.0],
            "is_lease": [False, False, False, False, True, False, False, False],
            "start_date": _dates(
                "2019-03-01",
                "2019-03-01",
                "2021-06-15",
                "2018-01-01",
                "2020-01-01",
                "2020-07-01",
                "2022-02-01",
                "2023-05-01",
            ),
            "end_date": _dates(None, "2023-12-31", None, None, None, None, "2024-09-30", None),
        }
    )


def _rate_changes() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "change_id": ["R001", "R002", "R003", "R004", "R005"],
            "account_id": ["A001", "A003", "A004", "A005", "A001"],
            "line_id": ["L001", "L004", "L006", "L007", "L001"],
            "effective_date": _dates("2024-01-01", "2024-01-01", "2024-03-01", "2024-04-01", "2024-08-15"),
            "change_type": ["annual_increase", "fuel_surcharge", "annual_increase", "annual_increase", "rollback"],
            "old_rate": [400.0, 920.0, 590.0, 370.0, 420.0],
            "new_rate": [420.0, 950.0, 610.0, 390.0, 399.0],
        }
    )


def _service_events() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "event_id": ["E001", "E002", "E003", "E004", "E005"],
            "account_id": ["A001", "A001", "A003", "A005", "A006"],
            "line_id": ["L001", "L001", "L005", "L007", "L008"],
            "event_date": _dates("2024-02-03", "2024-06-10", "2024-05-05", "2024-07-01", "2024-11-20"),
            "event_type": ["missed_pickup", "overage", "fill_audit", "late_pickup", "contamination"],
            "charge": [None, 75.0, None, None, 40.0],
            "fill_pct": [None, None, 62.5, None, None],
        }
    )


def _invoices() -> pd.DataFrame:
    accounts = ["A001", "A002", "A003", "A004", "A005", "A006"]
    rows = [(account, month) for account in accounts for month in (10, 11)]
    return pd.DataFrame(
        {
            "invoice_id": [f"I{number:03d}" for number in range(1, len(rows) + 1)],
            "account_id": [account for account, _ in rows],
            "invoice_date": _dates(*(f"2024-{month}-01" for _, month in rows)),
            "due_date": _dates(*(f"2024-{month}-30" for _, month in rows)),
            "amount": [600.0, 600.0, 32.5, 32.5, 2190.0, 2190.0, 610.0, 610.0, 390.0, 80.0, 45.0, 45.0],
            "paid_date": _dates(
                "2024-10-20",
                "2024-11-18",
                "2024-10-05",
                None,
                "2024-11-02",
                "2024-12-01",
                "2024-10-29",
                "2024-11-29",
                "2024-10-25",
                None,
                "2024-10-10",
                "2024-11-10",
            ),
        }
    )


def _contacts() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "contact_id": ["C001", "C002", "C003", "C004"],
            "account_id": ["A001", "A003", "A005", "A006"],
            "contact_date": _dates("2024-02-04", "2024-05-06", "2024-07-02", "2024-12-30"),
            "channel": ["phone", "email", "phone", "web"],
            "contact_type": ["complaint", "service_request", "billing_dispute", "inquiry"],
            "topic": ["service", "container", "price", "other"],
            "escalated": [False, False, True, False],
            "resolved_date": _dates("2024-02-05", "2024-05-08", "2024-07-10", None),
        }
    )


def _cancellation_requests() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "request_id": ["Q001", "Q002", "Q003"],
            "account_id": ["A001", "A005", "A006"],
            "request_date": _dates("2024-08-10", "2024-09-02", "2024-12-28"),
            "reason": ["price", "price", "service_failure"],
            "channel": ["phone", "phone", "web"],
            "resolution": ["saved", "cancelled", "open"],
            "resolved_date": _dates("2024-08-12", "2024-09-05", None),
        }
    )


def _save_attempts() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "attempt_id": ["S001", "S002", "S003"],
            "request_id": ["Q001", "Q002", "Q002"],
            "account_id": ["A001", "A005", "A005"],
            "attempt_date": _dates("2024-08-10", "2024-09-02", "2024-09-04"),
            "rep_id": ["rep-07", "rep-03", "oss-01"],
            "rep_channel": ["inside_sales", "inside_sales", "outside_specialist"],
            "offer": ["rollback", "flip", "rollback"],
            "rollback_pct": [5.0, 0.0, 15.0],
            "credit_amount": [0.0, 0.0, 50.0],
            "new_monthly_rate": [399.0, 390.0, 331.5],
            "new_term_months": pd.array([36, None, None], dtype="Int64"),
            "accepted": [True, False, False],
        }
    )


def _proactive_calls() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "call_id": ["P001", "P002"],
            "account_id": ["A001", "A005"],
            "call_date": _dates("2024-07-03", "2024-08-05"),
            "rep_id": ["rep-07", "rep-03"],
            "offer": ["service_recovery", "contract_education"],
            "outcome": ["reached", "voicemail"],
        }
    )


def build_hauler() -> dict[str, pd.DataFrame]:
    """The hand-made hauler, one frame per contract table (fresh copies)."""
    return {
        "accounts": _accounts(),
        "service_lines": _service_lines(),
        "rate_changes": _rate_changes(),
        "service_events": _service_events(),
        "invoices": _invoices(),
        "contacts": _contacts(),
        "cancellation_requests": _cancellation_requests(),
        "save_attempts": _save_attempts(),
        "proactive_calls": _proactive_calls(),
    }


def write_raw_tables(
    workspace: Path,
    tables: dict[str, pd.DataFrame],
    *,
    suffix: str = ".parquet",
    extract_end: date | None = EXTRACT_END,
) -> Path:
    """Write tables into ``workspace/raw`` as Parquet or CSV, plus ``extract.json``."""
    raw = workspace / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for name, frame in tables.items():
        if suffix == ".csv":
            frame.to_csv(raw / f"{name}.csv", index=False, date_format="%Y-%m-%d")
        else:
            frame.to_parquet(raw / f"{name}.parquet", index=False)
    if extract_end is not None:
        extract = {"source": "tests", "end_date": extract_end.isoformat()}
        (raw / "extract.json").write_text(json.dumps(extract), encoding="utf-8")
    return workspace


@pytest.fixture
def hauler() -> dict[str, pd.DataFrame]:
    """A fresh copy of the hand-made hauler, free to corrupt."""
    return build_hauler()


@pytest.fixture
def write_raw() -> WriteRaw:
    """A function writing tables into a workspace's ``raw/`` folder."""
    return write_raw_tables


@pytest.fixture
def extract_end() -> date:
    """The last day the hand-made extract covers."""
    return EXTRACT_END


@pytest.fixture(scope="module")
def corrupted(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, dict[str, pd.DataFrame], ValidationReport]:
    """The hauler broken in every way its test module lists, written and validated once.

    The requesting module lists its corruptions in ``ROW_CORRUPTIONS``: tuples
    whose first item changes the hauler's frames in place.

    Returns:
        The workspace, the hauler as written, and the report.
    """
    hauler = build_hauler()
    for corruption in request.module.ROW_CORRUPTIONS:
        corruption[0](hauler)
    workspace = write_raw_tables(tmp_path_factory.mktemp("corrupted"), hauler)
    settings = load_settings(workspace)
    folders = WorkspaceFolders(raw=settings.raw_dir, clean=settings.clean_dir, rejects=settings.rejects_dir)
    return workspace, hauler, validate_workspace(folders)


@pytest.fixture(scope="session")
def simulated_raw(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A simulated hauler (1,000 accounts, 12 months) written once; copy it before changing it."""
    from sources.simulator import SimulationConfig, simulate_hauler, write_hauler

    workspace = tmp_path_factory.mktemp("simulated")
    write_hauler(simulate_hauler(SimulationConfig(accounts=1_000, months=12, seed=3)), workspace)
    return workspace / "raw"


@pytest.fixture
def workspace(tmp_path: Path, hauler: dict[str, pd.DataFrame]) -> Path:
    """A workspace holding the valid hand-made hauler as Parquet."""
    return write_raw_tables(tmp_path / "ws", hauler)
