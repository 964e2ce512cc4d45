"""The event route's mapping file: what it maps, what it leaves to validation, and how a mistake is told.

The hand-made hauler is written with the CRM's names and codes for its
cancellation requests and contacts; the mapping brings them back. Codes the
mapping does not know and dates that do not match their format are reported
and then judged by validation; a mistake in the mapping itself is one sentence
naming the file and the key, with exit code 2.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from pipelines.cli import app
from pipelines.settings import load_settings
from sources.contract import TABLES
from sources.event_mapping_file import load_event_mapping, yaml_load
from sources.folders import WorkspaceFolders
from sources.validation import validate_workspace
from sources.validation_report import ValidationReport
from tests.data.conftest import WriteRaw

runner = CliRunner()

REQUESTS = """\
tables:
  cancellation_requests:
    file: cases.csv
    columns: {Case: request_id, Acct: account_id, Opened: request_date, Why: reason}
    values:
      reason: {PRC: price, SVC: service_failure}
    dates: {request_date: "%m/%d/%Y"}
"""


def _folders(workspace: Path) -> WorkspaceFolders:
    settings = load_settings(workspace)
    return WorkspaceFolders(raw=settings.raw_dir, clean=settings.clean_dir, rejects=settings.rejects_dir)


def _crm_requests(hauler: dict[str, pd.DataFrame]) -> pd.DataFrame:
    requests = hauler["cancellation_requests"].copy()
    requests["request_date"] = requests["request_date"].dt.strftime("%m/%d/%Y")
    requests["reason"] = requests["reason"].map({"price": "PRC", "service_failure": "SVC"})
    return requests.rename(
        columns={"request_id": "Case", "account_id": "Acct", "request_date": "Opened", "reason": "Why"}
    )


@pytest.fixture
def crm_workspace(tmp_path: Path, hauler: dict[str, pd.DataFrame], write_raw: WriteRaw) -> Path:
    """The hand-made hauler whose requests come from the CRM's ``cases.csv``, with a mapping for them."""
    workspace = write_raw(tmp_path / "ws", {k: v for k, v in hauler.items() if k != "cancellation_requests"})
    _crm_requests(hauler).to_csv(workspace / "raw" / "cases.csv", index=False)
    (workspace / "raw" / "mapping.yaml").write_text(REQUESTS, encoding="utf-8")
    return workspace


def _record(report: ValidationReport, table: str) -> dict:
    assert report.mapping is not None
    return next(record for record in report.mapping["tables"] if record["table"] == table)


def test_mapped_requests_equal_the_contract_named_ones(
    crm_workspace: Path, hauler: dict[str, pd.DataFrame], write_raw: WriteRaw, tmp_path: Path
) -> None:
    report = validate_workspace(_folders(crm_workspace))
    assert not report.fatal, report.problems
    plain = write_raw(tmp_path / "plain", hauler)
    assert not validate_workspace(_folders(plain)).fatal
    for workspace in (crm_workspace, plain):
        assert (workspace / "clean" / "cancellation_requests.parquet").is_file()
    pd.testing.assert_frame_equal(
        pd.read_parquet(crm_workspace / "clean" / "cancellation_requests.parquet"),
        pd.read_parquet(plain / "clean" / "cancellation_requests.parquet"),
    )
    record = _record(report, "cancellation_requests")
    counts = hauler["cancellation_requests"]["reason"].value_counts()
    assert record["values_mapped"]["reason"] == {
        "PRC": {"to": "price", "rows": int(counts["price"])},
        "SVC": {"to": "service_failure", "rows": int(counts["service_failure"])},
    }
    assert record["dates_parsed"]["request_date"]["rows"] == len(hauler["cancellation_requests"])


def test_unknown_codes_and_dates_are_reported_then_quarantined(
    crm_workspace: Path, hauler: dict[str, pd.DataFrame]
) -> None:
    requests = _crm_requests(hauler)
    requests.loc[0, "Why"] = "XYZ"  # a code the mapping does not know
    requests.loc[1, "Opened"] = "2024-13-45"  # not a day in the mapping's format (nor any other)
    requests.to_csv(crm_workspace / "raw" / "cases.csv", index=False)
    report = validate_workspace(_folders(crm_workspace))
    record = _record(report, "cancellation_requests")
    assert record["values_unmapped"]["reason"] == {"XYZ": 1}
    assert record["unmapped_rows"]["reason"] == 1
    dates = record["dates_parsed"]["request_date"]
    assert (dates["rows"], dates["unmatched"], dates["examples"]) == (len(requests) - 1, 1, ["2024-13-45"])
    rejects = pd.read_parquet(crm_workspace / "rejects" / "cancellation_requests.parquet")
    assert sorted(rejects["row_number"]) == [1, 2]
    assert rejects.set_index("row_number").loc[1, "reason"] == "XYZ"  # the row as the CRM wrote it, code and all


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_flags_and_constants_map_like_written_values(
    tmp_path: Path, hauler: dict[str, pd.DataFrame], write_raw: WriteRaw, suffix: str
) -> None:
    contacts = hauler["contacts"].assign(escalated=hauler["contacts"]["escalated"].map({True: "Y", False: "N"}))
    crm = write_raw(tmp_path / "crm", {**hauler, "contacts": contacts.drop(columns="channel")}, suffix=suffix)
    (crm / "raw" / "mapping.yaml").write_text(
        "tables:\n  contacts:\n    values: {escalated: {Y: true, N: false}}\n    constants: {channel: web}\n",
        encoding="utf-8",
    )
    plain = write_raw(tmp_path / "plain", {**hauler, "contacts": hauler["contacts"].assign(channel="web")})
    for workspace in (crm, plain):
        assert not validate_workspace(_folders(workspace)).fatal
    pd.testing.assert_frame_equal(
        pd.read_parquet(crm / "clean" / "contacts.parquet"), pd.read_parquet(plain / "clean" / "contacts.parquet")
    )


def test_validate_reports_the_mapping_in_text_json_and_the_report(crm_workspace: Path) -> None:
    shown = runner.invoke(app, ["validate", "--data", str(crm_workspace)])
    assert shown.exit_code == 0, shown.output
    text = " ".join(shown.output.split())
    assert "Case -> request_id" in text
    assert "PRC -> price (" in text
    assert "read as %m/%d/%Y" in text
    listed = runner.invoke(app, ["validate", "--data", str(crm_workspace), "--json"])
    report = json.loads(listed.stdout, parse_constant=lambda name: pytest.fail(f"not strict JSON: {name}"))
    saved = json.loads((crm_workspace / "clean" / "validation.json").read_text(encoding="utf-8"))
    assert report["mapping"] == saved["mapping"]
    assert report["mapping"]["file"] == str(crm_workspace / "raw" / "mapping.yaml")


def test_a_mapping_given_elsewhere_is_used_and_the_report_says_where_to_keep_it(
    crm_workspace: Path, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "crm.yaml"
    (crm_workspace / "raw" / "mapping.yaml").rename(elsewhere)
    result = runner.invoke(app, ["validate", "--data", str(crm_workspace), "--json", "--mapping", str(elsewhere)])
    assert result.exit_code == 0, result.output
    mapping = json.loads(result.stdout)["mapping"]
    assert mapping["file"] == str(elsewhere)
    assert "copy the mapping there" in mapping["note"]


MISTAKES = [
    ("tables: [", "not a readable YAML file"),
    ("tables: {cancellations: {file: cases.csv}}", "tables.cancellations: not a contract table"),
    ("tables: {cancellation_requests: {file: missing.csv}}", "tables.cancellation_requests.file: no file missing.csv"),
    (REQUESTS.replace("Why: reason", "Why: why"), "tables.cancellation_requests.columns.Why: 'why' is not a column"),
    (REQUESTS.replace("Why: reason", "Wy: reason"), "tables.cancellation_requests.columns.Wy: "),
    (REQUESTS.replace("PRC: price", "PRC: pricing"), "tables.cancellation_requests.values.reason.PRC: 'pricing'"),
    (REQUESTS.replace("reason: {PRC", "Why: {PRC"), "tables.cancellation_requests.values.Why: 'Why' is not a column"),
    (REQUESTS.replace("%m/%d/%Y", "%m/%Y"), "tables.cancellation_requests.dates.request_date: '%m/%Y' does not hold"),
    (REQUESTS.replace("%m/%d/%Y", "%m/%d/%Q"), "tables.cancellation_requests.dates.request_date: '%m/%d/%Q' is not"),
    (REQUESTS.replace("request_date: ", "reason: "), "tables.cancellation_requests.dates.reason: reason is not a date"),
    (REQUESTS + "    constants: {reason: price}\n", "tables.cancellation_requests.constants.reason: "),
    (
        REQUESTS.replace("Opened: request_date", "Opened: reason"),
        "tables.cancellation_requests.columns.Why: Opened is renamed to reason too",
    ),
]


@pytest.mark.parametrize(("mapping", "named"), MISTAKES)
def test_a_mistake_in_the_mapping_is_one_sentence_naming_file_and_key(
    crm_workspace: Path, mapping: str, named: str
) -> None:
    path = crm_workspace / "raw" / "mapping.yaml"
    path.write_text(mapping, encoding="utf-8")
    result = runner.invoke(app, ["validate", "--data", str(crm_workspace)])
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    message = result.stderr.strip()
    assert len(message.splitlines()) == 1, message
    assert message.startswith(f"{path}: ")
    assert named in message
    assert ";" in message  # the fix follows the fault
    assert not (crm_workspace / "clean").exists()


def test_a_mistake_found_by_a_command_that_validates_again_is_a_fatal_problem(crm_workspace: Path) -> None:
    (crm_workspace / "raw" / "mapping.yaml").write_text(REQUESTS.replace("PRC: price", "PRC: pricing"), "utf-8")
    report = validate_workspace(_folders(crm_workspace))
    assert report.fatal
    problem = report.problems[0]
    assert problem.table == "mapping"
    assert "tables.cancellation_requests.values.reason.PRC" in problem.message()
    features = runner.invoke(app, ["features", "--data", str(crm_workspace), "--as-of", "2024-12-31", "--out", "x"])
    assert features.exit_code == 1
    assert "tables.cancellation_requests.values.reason.PRC" in features.stderr
    assert "Traceback" not in features.stderr


def test_the_documented_example_is_a_valid_mapping(tmp_path: Path) -> None:
    """``mappings/crm-example.yaml`` loads against an extract whose files have the columns it names."""
    example = Path(__file__).parents[2] / "mappings" / "crm-example.yaml"
    raw = tmp_path / "raw"
    raw.mkdir()
    spec = yaml_load(example)["tables"]
    for table, keys in spec.items():
        columns = keys.get("columns", {})
        kept = [c for c in TABLES[table].columns if c not in columns.values() and c not in keys.get("constants", {})]
        name = keys.get("file", f"{table}.csv")
        (raw / (name if "." in name else f"{name}.csv")).write_text(",".join([*columns, *kept]) + "\n")
    mapping = load_event_mapping(example, raw)
    assert set(mapping.tables) == set(spec)
    assert mapping.tables["cancellation_requests"].values["reason"]["MOVE"] == "moved_out_of_area"
    assert mapping.tables["contacts"].values["escalated"] == {"Y": "true", "N": "false"}
