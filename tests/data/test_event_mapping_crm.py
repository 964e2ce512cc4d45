"""A CRM-style extract goes through validate, train and nightly with only a mapping file (issue 17, acceptance 6).

A small simulated hauler is rewritten as a CRM would export it: other file
names, other column names, its own codes for reasons, outcomes and segments,
dates as MM/DD/YYYY text, CSV instead of Parquet, and a column it does not
have at all. With ``raw/mapping.yaml`` beside it, validation must give the very
tables the original extract gives, and the models and lists must follow.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from pipelines.cli import app
from pipelines.settings import load_settings
from serving.publication.catalog import read_published
from sources.contract import TABLES, table_info
from sources.simulator import SimulationConfig, simulate_hauler, write_hauler

runner = CliRunner()

REASON_CODES = {
    "price": "PRC",
    "service_failure": "SVC",
    "billing": "BILL",
    "competitor_offer": "COMP",
    "contract_terms": "TERMS",
    "over_servicing": "OVER",
    "business_closed": "CLOSED",
    "moved_out_of_area": "MOVE",
    "bankruptcy": "BANKR",
    "sold": "SOLD",
}
OUTCOME_CODES = {"saved": "SAVED", "cancelled": "CXL", "open": "OPEN"}
SEGMENT_CODES = {"residential": "RES", "commercial": "COM", "industrial": "IND", "municipal": "MUN"}
ACCOUNT_COLUMNS = {
    "account_id": "AcctNo",
    "segment": "LOB",
    "start_date": "ServiceStart",
    "close_date": "ServiceEnd",
    "close_reason": "CloseCode",
}
REQUEST_COLUMNS = {
    "request_id": "CaseNo",
    "account_id": "AcctNo",
    "request_date": "OpenedOn",
    "reason": "ReasonCode",
    "resolution": "Outcome",
    "resolved_date": "ClosedOn",
}
INVOICE_COLUMNS = {"invoice_id": "DocNo", "account_id": "AcctNo", "invoice_date": "DocDate", "due_date": "DueOn"}
CRM_FILES = {"accounts": "customers.csv", "cancellation_requests": "cancellations.csv", "invoices": "billing.csv"}
MDY = "%m/%d/%Y"


def _codes(pairs: dict[str, str]) -> str:
    return "{" + ", ".join(f"{crm}: {contract}" for contract, crm in pairs.items()) + "}"


def _columns(pairs: dict[str, str]) -> str:
    return "{" + ", ".join(f"{crm}: {contract}" for contract, crm in pairs.items()) + "}"


MAPPING = f"""\
tables:
  accounts:
    file: customers.csv
    columns: {_columns(ACCOUNT_COLUMNS)}
    values:
      segment: {_codes(SEGMENT_CODES)}
      close_reason: {_codes(REASON_CODES)}
    dates: {{start_date: "{MDY}", close_date: "{MDY}"}}
  cancellation_requests:
    file: cancellations
    columns: {_columns(REQUEST_COLUMNS)}
    values:
      reason: {_codes(REASON_CODES)}
      resolution: {_codes(OUTCOME_CODES)}
    dates: {{request_date: "{MDY}", resolved_date: "{MDY}"}}
    constants: {{channel: phone}}
  invoices:
    file: billing.csv
    columns: {_columns(INVOICE_COLUMNS)}
    dates: {{invoice_date: "{MDY}", due_date: "{MDY}", paid_date: "{MDY}"}}
"""


def _as_crm(frame: pd.DataFrame, table: str, columns: dict[str, str], codes: dict[str, dict[str, str]]) -> pd.DataFrame:
    """One table as the CRM writes it: its codes, MM/DD/YYYY dates, its column names."""
    crm = frame.copy()
    for column, pairs in codes.items():
        crm[column] = crm[column].map(pairs, na_action="ignore")
    for column in table_info(table).date_columns:
        if column in crm.columns:
            crm[column] = pd.to_datetime(crm[column]).dt.strftime(MDY)
    return crm.rename(columns=columns)


def rewrite_as_crm(original: Path, crm: Path) -> None:
    """Copy the extract in ``original/raw`` into ``crm/raw`` as a CRM exports it, with its mapping."""
    shutil.copytree(original / "raw", crm / "raw")
    raw = crm / "raw"
    accounts = pd.read_parquet(raw / "accounts.parquet")
    codes = {"segment": SEGMENT_CODES, "close_reason": REASON_CODES}
    _as_crm(accounts, "accounts", ACCOUNT_COLUMNS, codes).to_csv(raw / CRM_FILES["accounts"], index=False)
    requests = pd.read_parquet(raw / "cancellation_requests.parquet").drop(columns="channel")  # a constant below
    codes = {"reason": REASON_CODES, "resolution": OUTCOME_CODES}
    crm_requests = _as_crm(requests, "cancellation_requests", REQUEST_COLUMNS, codes)
    crm_requests.to_csv(raw / CRM_FILES["cancellation_requests"], index=False)
    invoices = pd.read_parquet(raw / "invoices.parquet")
    _as_crm(invoices, "invoices", INVOICE_COLUMNS, {}).to_csv(raw / CRM_FILES["invoices"], index=False)
    for table in CRM_FILES:
        (raw / f"{table}.parquet").unlink()
    (raw / "mapping.yaml").write_text(MAPPING, encoding="utf-8")


@pytest.fixture(scope="module")
def extracts(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The simulated original (every request taken by phone, the CRM's one channel) and its CRM rewrite."""
    original = tmp_path_factory.mktemp("original")
    write_hauler(simulate_hauler(SimulationConfig(accounts=1_500, months=18, seed=3)), original)
    requests = original / "raw" / "cancellation_requests.parquet"
    pd.read_parquet(requests).assign(channel="phone").to_parquet(requests, index=False)
    crm = tmp_path_factory.mktemp("crm") / "ws"
    rewrite_as_crm(original, crm)
    return original, crm


def _validated(workspace: Path) -> dict:
    result = runner.invoke(app, ["validate", "--data", str(workspace), "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_the_crm_extract_gives_the_clean_tables_of_the_original(extracts: tuple[Path, Path]) -> None:
    original, crm = extracts
    assert _validated(original)["mapping"] is None
    report = _validated(crm)
    for name in TABLES:
        clean = original / "clean" / f"{name}.parquet"
        mapped = crm / "clean" / f"{name}.parquet"
        assert clean.is_file() == mapped.is_file(), name
        if not clean.is_file():
            continue
        key = table_info(name).key
        expected = pd.read_parquet(clean).sort_values(key, ignore_index=True)
        found = pd.read_parquet(mapped).sort_values(key, ignore_index=True)
        pd.testing.assert_frame_equal(found[expected.columns], expected, check_like=False)
        assert set(found.columns) == set(expected.columns), name
    records = {record["table"]: record for record in report["mapping"]["tables"]}
    assert set(records) == set(CRM_FILES)
    requests = records["cancellation_requests"]
    assert Path(requests["file"]).name == CRM_FILES["cancellation_requests"]
    assert requests["columns_renamed"] == {crm: contract for contract, crm in REQUEST_COLUMNS.items()}
    rows = len(pd.read_csv(crm / "raw" / CRM_FILES["cancellation_requests"]))
    assert sum(pair["rows"] for pair in requests["values_mapped"]["reason"].values()) == rows
    assert requests["unmapped_rows"] == {"reason": 0, "resolution": 0}
    assert requests["constants_filled"] == {"channel": "phone"}
    assert requests["dates_parsed"]["request_date"] == {
        "format": MDY, "rows": rows, "unmatched": 0, "examples": [], "already_dates": False,
    }  # fmt: skip
    saved = json.loads((crm / "clean" / "validation.json").read_text(encoding="utf-8"))
    assert saved["mapping"] == report["mapping"]


@pytest.mark.slow
def test_the_crm_extract_trains_and_publishes_lists(extracts: tuple[Path, Path], tmp_path: Path) -> None:
    _, validated = extracts
    crm = tmp_path / "crm"
    shutil.copytree(validated / "raw", crm / "raw")  # not validated yet: train validates it through the mapping
    (crm / "savedesk.toml").write_text("[churn.gate]\nmin_auc = 0.55\n\n[save.gate]\nmin_auc = 0.5\nmax_ece = 0.3\n")
    env = {
        **os.environ,
        "PREFECT_HOME": str(tmp_path / "prefect"),
        "OMP_WAIT_POLICY": "passive",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
    }
    savedesk = [sys.executable, "-m", "pipelines.cli"]
    for command in (["train"], ["nightly"]):
        done = subprocess.run(  # noqa: S603 - the project's own command
            [*savedesk, *command, "--data", str(crm)], env=env, capture_output=True, text=True, timeout=600
        )
        assert "Traceback" not in done.stderr, done.stderr
        assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads((crm / "clean" / "validation.json").read_text(encoding="utf-8"))
    assert {record["table"] for record in report["mapping"]["tables"]} == set(CRM_FILES)
    catalog = load_settings(crm).catalog
    day = catalog.latest()
    assert day is not None, "nothing published"
    lists, _ = read_published(catalog.link(day), day)
    listed = pd.concat([lists.inbound["account_id"], lists.proactive["account_id"], lists.flips["account_id"]])
    assert len(listed) > 0
    assert set(listed) <= set(pd.read_csv(crm / "raw" / CRM_FILES["accounts"], dtype=str)["AcctNo"])
