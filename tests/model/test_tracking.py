"""MLflow tracking and the registry: exact round trips, the promotion gate applied and recorded, no PII, no mixing.

Every test works in its own workspace folder (SQLite and artifacts inside it);
the PostgreSQL test creates a throwaway database and drops it afterwards.
"""

from __future__ import annotations

import json
import os
import struct
import uuid
import zlib
from collections.abc import Iterator
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from features.registry import categorical_columns
from models.churn import ChurnModel
from models.gate import GateDecision, GateRules, decide
from models.metrics import expected_calibration_error, metrics_by
from models.names import CHURN_MODEL
from models.params import ChurnParams
from models.run_scan import find_strings, fingerprint
from models.tracking import RegisteredVersion, Tracker, read_audit_log

if TYPE_CHECKING:
    from conftest import MakeTracker, Months

MODEL = CHURN_MODEL
CHAMPION_URI = f"models:/{MODEL}@champion"
# The test hauler is small (about 100 churners in the test month), so its honest models reach an AUC of
# about 0.54 (three features) to 0.62 (all); the floor sits between them and a model that learned nothing.
RULES = GateRules(min_auc=0.52, max_ece=0.05, max_ece_increase=0.02, segment_auc_margin=0.1, min_segment_rows=200)


def judge(model: ChurnModel, test: pd.DataFrame) -> tuple[dict[str, float], dict[str, tuple[float, int]]]:
    """The gate's inputs for one model on the test month: AUC and ECE overall, AUC and rows per segment."""
    y, p = test["churn"].astype(int).to_numpy(), model.predict_proba(test)
    overall = {"auc": float(roc_auc_score(y, p)), "ece": expected_calibration_error(y, p)}
    by_segment = metrics_by(test.assign(score=p), "segment")
    return overall, {str(r["segment"]): (float(r["auc"]), int(r["rows"])) for r in by_segment.to_dict("records")}


def log_and_gate(
    tracker: Tracker, model: ChurnModel, months: Months, **logged: Any
) -> tuple[RegisteredVersion, GateDecision]:
    """Log and register a challenger, judge it against the registry's champion on the test month, apply."""
    metrics, segments = judge(model, months.test)
    flat = {f"test.{k}": v for k, v in metrics.items()}
    flat |= {f"segment.{s}.auc": auc for s, (auc, _) in segments.items()}
    version = tracker.log_training_run(model, months.train, metrics=flat, **logged)
    champion = tracker.champion_version(MODEL)
    if champion is None:
        decision = decide(metrics, None, RULES, segments)
    else:
        incumbent = tracker.load_churn_model(champion.model_uri)  # as served, not as remembered
        their_metrics, their_segments = judge(incumbent, months.test)
        decision = decide(metrics, their_metrics, RULES, segments, their_segments, champion.label)
    tracker.apply_gate(MODEL, version.version, decision)
    return version, decision


def write_png(path: Path) -> Path:
    """A valid one-pixel PNG (a stand-in for a reliability plot)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\x1f\x77\xb4")
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b""))
    return path


def is_utc_iso(text: str) -> bool:
    return datetime.fromisoformat(text).utcoffset() == timedelta(0)


@pytest.fixture(scope="module")
def champion(
    make_tracker: MakeTracker,
    tmp_path_factory: pytest.TempPathFactory,
    months: Months,
    churn_model: ChurnModel,
    churn_params: ChurnParams,
) -> tuple[Tracker, RegisteredVersion]:
    """A workspace whose first model, logged with plots, tables and a report, passed the gate."""
    workspace = tmp_path_factory.mktemp("champion")
    plots = [write_png(workspace / "reliability.png"), workspace / "lift.html"]
    plots[1].write_text("<html><body><svg width='10' height='10'></svg></body></html>", encoding="utf-8")
    p = churn_model.predict_proba(months.test)
    tracker = make_tracker(workspace)
    version, decision = log_and_gate(
        tracker,
        churn_model,
        months,
        params=asdict(churn_params),
        plots=plots,
        tables={"segments": metrics_by(months.test.assign(score=p), "segment")},
        reports={"gate_rules": asdict(RULES)},
        run_name="test-champion",
    )
    assert decision.promote, decision.summary()
    return tracker, version


def test_scores_survive_the_registry_round_trip_exactly(
    champion: tuple[Tracker, RegisteredVersion], months: Months, churn_model: ChurnModel
) -> None:
    tracker, _ = champion
    rows = months.test
    expected = churn_model.predict_proba(rows)

    served = tracker.load_pyfunc(CHAMPION_URI)
    scores = served.predict(rows[churn_model.columns])
    assert isinstance(scores, pd.Series) and scores.index.equals(rows.index)
    np.testing.assert_allclose(scores.to_numpy(), expected, rtol=0, atol=1e-12)
    np.testing.assert_allclose(served.predict(rows).to_numpy(), expected, rtol=0, atol=1e-12)  # extra columns

    unwrapped = tracker.load_churn_model(CHAMPION_URI)
    assert unwrapped.columns == churn_model.columns and unwrapped.categories == churn_model.categories
    np.testing.assert_allclose(unwrapped.predict_proba(rows), expected, rtol=0, atol=1e-12)


def test_the_signature_takes_raw_features_with_strings_as_strings(
    champion: tuple[Tracker, RegisteredVersion], churn_model: ChurnModel, months: Months
) -> None:
    tracker, _ = champion
    schema = tracker.load_pyfunc(CHAMPION_URI).metadata.get_input_schema()
    types = {name: kind.name for name, kind in schema.input_types_dict().items()}
    assert list(types) == churn_model.columns
    assert {types[c] for c in categorical_columns()} == {"string"}
    assert {types[c] for c in churn_model.columns if c not in categorical_columns()} <= {"long", "double", "boolean"}
    # A column may be missing at serving time exactly when it has gaps somewhere in the training frame.
    optional = {spec.name for spec in schema.inputs if not spec.required}
    assert optional == {c for c in churn_model.columns if months.train[c].isna().any()} != set()


def test_the_run_records_parameters_metrics_features_fingerprint_and_files(
    champion: tuple[Tracker, RegisteredVersion],
    months: Months,
    churn_model: ChurnModel,
    churn_params: ChurnParams,
    tmp_path: Path,
) -> None:
    tracker, version = champion
    run = tracker.client.get_run(version.run_id)
    params = run.data.params
    assert params["train.fingerprint"] == fingerprint(months.train)
    assert params["train.as_of"] == ",".join(d.isoformat() for d in months.train_as_of)
    assert params["train.rows"] == str(len(months.train))
    assert params["features"] == str(len(churn_model.columns))
    assert params["learning_rate"] == str(churn_params.learning_rate)
    assert {"test.auc", "test.ece", "segment.commercial.auc"} <= set(run.data.metrics)
    assert run.info.experiment_id == tracker.experiment_id(MODEL)
    assert run.info.artifact_uri.startswith(tracker.artifact_root)

    folders = (None, "plots", "tables", "reports")
    files = {f.path for d in folders for f in tracker.client.list_artifacts(run.info.run_id, d)}
    expected = {"features.json", "plots/reliability.png", "plots/lift.html", "tables/segments.csv"}
    assert expected | {"reports/gate_rules.json"} <= files
    local = tracker.client.download_artifacts(run.info.run_id, "features.json", str(tmp_path))
    assert json.loads(Path(local).read_text(encoding="utf-8"))["columns"] == churn_model.columns


def test_the_fingerprint_changes_with_the_data_not_with_the_index(months: Months) -> None:
    frame = months.train.head(200)
    assert fingerprint(frame) == fingerprint(frame.reset_index(drop=True).set_axis(range(500, 700)))
    changed = frame.copy()
    changed.loc[changed.index[7], "monthly_revenue"] += 0.01
    assert fingerprint(changed) != fingerprint(frame)
    assert fingerprint(frame.astype({"lines": "float64"})) != fingerprint(frame)


def test_a_worse_challenger_is_never_promoted(
    make_tracker: MakeTracker, tmp_path: Path, months: Months, churn_model: ChurnModel, shuffled_model: ChurnModel
) -> None:
    tracker = make_tracker(tmp_path)
    first, _ = log_and_gate(tracker, churn_model, months)
    challenger, decision = log_and_gate(tracker, shuffled_model, months)

    assert not decision.promote
    assert "auc >= champion auc + min_auc_gain" in {c.rule for c in decision.checks if not c.passed}
    assert tracker.champion_version(MODEL) == first
    assert tracker.alias_version(MODEL, "challenger") == challenger

    tags = tracker.client.get_model_version(MODEL, str(challenger.version)).tags
    assert tags["gate.decision"] == "refuse"
    assert json.loads(tags["gate.reasons"]) == decision.reasons != []
    assert tags["gate.summary"] == decision.summary()
    assert tags["gate.compared_with"] == first.label
    assert is_utc_iso(tags["gate.decided_at"])

    refusal = read_audit_log(tracker.audit_log)[-1]
    assert refusal | {"at": None} == {
        "at": None,
        "model": MODEL,
        "version": challenger.version,
        "run_id": challenger.run_id,
        "action": "refused",
        "alias": "champion",
        "previous": first.version,
        "summary": decision.summary(),
        "reasons": decision.reasons,
    }
    assert is_utc_iso(refusal["at"])

    # Nor can a promotion that never looked at the champion unseat it.
    blind = decide({"auc": 0.99, "ece": 0.0}, None, RULES)
    with pytest.raises(ValueError, match="judged without a champion"):
        tracker.apply_gate(MODEL, challenger.version, blind)
    assert tracker.champion_version(MODEL) == first


def test_a_better_challenger_is_promoted_and_the_move_recorded(
    make_tracker: MakeTracker, tmp_path: Path, months: Months, weak_model: ChurnModel, churn_model: ChurnModel
) -> None:
    tracker = make_tracker(tmp_path)
    first, first_decision = log_and_gate(tracker, weak_model, months)
    assert first_decision.promote, f"the weak model must pass the absolute thresholds: {first_decision.summary()}"
    second, decision = log_and_gate(tracker, churn_model, months)

    assert decision.promote, decision.summary()
    assert tracker.champion_version(MODEL) == second
    old = tracker.client.get_model_version(MODEL, str(first.version))
    assert old.aliases == [] and old.tags["gate.decision"] == "promote"  # keeps its version, loses the alias

    moves = [(e["action"], e["alias"], e["version"], e["previous"]) for e in read_audit_log(tracker.audit_log)]
    assert moves == [
        ("alias_set", "challenger", 1, None),
        ("promoted", "champion", 1, None),
        ("alias_set", "challenger", 2, 1),
        ("promoted", "champion", 2, 1),
    ]
    promotion = read_audit_log(tracker.audit_log)[-1]
    assert promotion["summary"] == decision.summary() and promotion["reasons"] == []
    tags = tracker.client.get_model_version(MODEL, str(second.version)).tags
    assert (tags["gate.decision"], tags["gate.compared_with"]) == ("promote", first.label)


def test_a_first_model_below_min_auc_stays_challenger_only(
    make_tracker: MakeTracker, tmp_path: Path, months: Months, shuffled_model: ChurnModel
) -> None:
    tracker = make_tracker(tmp_path)
    version, decision = log_and_gate(tracker, shuffled_model, months)

    assert "auc >= min_auc" in {c.rule for c in decision.checks if not c.passed}
    assert tracker.champion_version(MODEL) is None
    assert tracker.alias_version(MODEL, "challenger") == version
    refusal = read_audit_log(tracker.audit_log)[-1]
    assert (refusal["action"], refusal["previous"], refusal["reasons"]) == ("refused", None, decision.reasons)
    assert tracker.client.get_model_version(MODEL, str(version.version)).tags["gate.compared_with"] == "none"
    with pytest.raises(LookupError, match="champion"):
        tracker.load_pyfunc(CHAMPION_URI)


def test_no_account_pii_reaches_mlflow(champion: tuple[Tracker, RegisteredVersion], months: Months) -> None:
    tracker, version = champion
    assert len(months.pii) > 5_000  # the distinct names, contacts, phones, emails and addresses of the accounts

    assert tracker.scan_run(version.run_id, months.pii) == []
    # The scan did read the model's signature, input example and pickle (they name the features) ...
    seen = " ".join(tracker.scan_run(version.run_id, ["tenure_days"]))
    assert all(name in seen for name in ("MLmodel", "input_example.json", "python_model.pkl", "features.json"))
    # ... and nothing else in the workspace's MLflow folder (database included) holds PII either.
    mlflow_dir = Path(tracker.audit_log).parent
    blob = b"\n".join(p.read_bytes() for p in sorted(mlflow_dir.rglob("*")) if p.is_file()).decode(errors="ignore")
    assert "tenure_days" in blob and find_strings(months.pii, blob) == []


def test_the_pii_scan_finds_what_it_looks_for(champion: tuple[Tracker, RegisteredVersion], months: Months) -> None:
    tracker, version = champion
    planted = months.pii[42]
    run = tracker.client.create_run(tracker.experiment_id(MODEL), run_name="leaky")
    tracker.client.log_text(run.info.run_id, f"account,name\nA1,{planted}\n", "tables/leaky.csv")
    tracker.client.set_tag(run.info.run_id, "note", planted.upper())
    tracker.client.set_terminated(run.info.run_id)

    hits = tracker.scan_run(run.info.run_id, months.pii)
    assert any("tables/leaky.csv" in hit for hit in hits) and any("tag note" in hit for hit in hits)


def test_two_workspaces_never_mix(
    make_tracker: MakeTracker,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    months: Months,
    churn_model: ChurnModel,
    weak_model: ChurnModel,
) -> None:
    monkeypatch.chdir(tmp_path)  # MLflow's fallback store would land here
    environment = {k: os.environ.get(k) for k in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")}
    a, b = make_tracker(tmp_path / "a"), make_tracker(tmp_path / "b")

    in_a, _ = log_and_gate(a, churn_model, months)
    assert b.champion_version(MODEL) is None and b.client.search_registered_models() == []
    with pytest.raises(LookupError):
        b.load_pyfunc(CHAMPION_URI)
    in_b, _ = log_and_gate(b, weak_model, months)

    assert in_a.version == in_b.version == 1 and in_a.run_id != in_b.run_id
    rows = months.test
    np.testing.assert_allclose(a.load_pyfunc(CHAMPION_URI).predict(rows), churn_model.predict_proba(rows), atol=1e-12)
    np.testing.assert_allclose(b.load_pyfunc(CHAMPION_URI).predict(rows), weak_model.predict_proba(rows), atol=1e-12)
    assert [e["run_id"] for e in read_audit_log(a.audit_log)] == [in_a.run_id] * 2
    assert [e["run_id"] for e in read_audit_log(b.audit_log)] == [in_b.run_id] * 2
    assert (tmp_path / "a" / "mlflow" / "artifacts" / MODEL / in_a.run_id).is_dir()
    assert not (tmp_path / "b" / "mlflow" / "artifacts" / MODEL / in_a.run_id).exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b"]  # no mlruns/ or mlflow.db in the cwd
    assert {k: os.environ.get(k) for k in environment} == environment


def test_find_strings_finds_every_needle_a_plain_search_finds() -> None:
    text = "Account 'Rosa's Diner' (555) 010-1234, rosa@example.com; 12 Oak St" * 3 + "\x00\xff binary \u00e9"
    needles = ["rosa's diner", "ROSA@EXAMPLE.COM", "(555) 010-1234", "Oak", "12 Oak St", "Oak Sq", "Bo", "", "é"]
    expected = [n for n in needles if n and n.casefold() in text.casefold()]
    assert find_strings(needles, text) == expected
    assert {"ROSA@EXAMPLE.COM", "12 Oak St", "é"} <= set(expected) and "Oak Sq" not in expected


def test_an_audit_log_line_that_is_not_json_is_named(tmp_path: Path) -> None:
    log = tmp_path / "registry-audit.jsonl"
    assert read_audit_log(log) == []
    log.write_text('{"action": "promoted"}\n{not json\n', encoding="utf-8")
    with pytest.raises(ValueError, match=r"registry-audit.jsonl, line 2"):
        read_audit_log(log)


@pytest.fixture
def postgres_uri() -> Iterator[str]:
    """A throwaway PostgreSQL database on the local server, dropped afterwards."""
    psycopg = pytest.importorskip("psycopg")
    admin = "postgresql://postgres@127.0.0.1:5432/postgres"
    name = f"savedesk_test_{uuid.uuid4().hex[:12]}"
    try:
        with psycopg.connect(admin, autocommit=True, connect_timeout=5) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as error:
        pytest.skip(f"no PostgreSQL server at 127.0.0.1:5432 ({error})")
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.mark.slow
def test_postgresql_backend_logs_registers_and_moves_aliases(
    postgres_uri: str, tmp_path: Path, months: Months, churn_model: ChurnModel
) -> None:
    tracker = Tracker(postgres_uri, (tmp_path / "artifacts").as_uri(), tmp_path / "registry-audit.jsonl")
    version, decision = log_and_gate(tracker, churn_model, months, at=datetime(2026, 11, 2, 6, 0, tzinfo=UTC))

    assert decision.promote, decision.summary()
    assert tracker.champion_version(MODEL) == version
    assert tracker.alias_version(MODEL, "challenger") == version
    rows = months.test
    served = tracker.load_churn_model(CHAMPION_URI).predict_proba(rows)
    np.testing.assert_allclose(served, churn_model.predict_proba(rows), rtol=0, atol=1e-12)
    assert [e["action"] for e in read_audit_log(tracker.audit_log)] == ["alias_set", "promoted"]
    assert read_audit_log(tracker.audit_log)[0]["at"] == "2026-11-02T06:00:00+00:00"
