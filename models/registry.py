"""The model registry: what a registered churn model is, and how its aliases move on the record.

The pyfunc wrapper that packages a ``ChurnModel`` for the registry, the
pinned requirements and the signature it is logged with; the reference to one registered version;
alias moves (``challenger`` on registration, ``champion`` by the gate or on
review by ``savedesk promote``), each written as tags on the version and one line
of the append-only audit log; a gate decision also keeps its paired interval and
list changes on the run (``reports/gate_decision.json``) and in the log.
``models.tracking`` (runs, logging, loading) builds on this; with
``models.mlflow_scope`` and ``models.run_scan``, nothing else in savedesk imports mlflow.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any, Literal

import mlflow
import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.models import ModelSignature, infer_signature
from mlflow.pyfunc import PythonModel

from models.churn import ChurnModel
from models.gate import GateDecision
from models.save import SaveModel

CHAMPION = "champion"
CHALLENGER = "challenger"
SCORE_COLUMN = "churn_probability"
SIGNATURE_ROWS = 1_000

# What a logged churn model needs to load and score; pinned to the versions it was trained with,
# so MLflow does not spend seconds inferring them (and cannot guess wrong).
RUNTIME_DISTRIBUTIONS = ("mlflow", "lightgbm", "scikit-learn", "pandas", "numpy", "scipy", "cloudpickle")

Action = Literal["alias_set", "promoted", "refused"]


class ChurnPyfunc(PythonModel):
    """A ``ChurnModel`` as an MLflow pyfunc: a feature frame in, the calibrated churn probability out.

    The input goes through ``ChurnModel.prepare`` (inside ``predict_proba``), so a
    model served from the registry casts its inputs exactly as training did.
    Loading it unpickles Python objects: load only from a registry you trust.
    """

    def __init__(self, churn: ChurnModel) -> None:
        self.churn = churn

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.Series:
        """Calibrated probability of churn in the label window, one per row of ``model_input``."""
        frame = pd.DataFrame(model_input)
        return pd.Series(self.churn.predict_proba(frame), index=frame.index, name=SCORE_COLUMN)


class SavePyfunc(PythonModel):
    """A ``SaveModel`` as an MLflow pyfunc: features plus ``reason`` and ``offer`` in, P(durable save) out.

    Loading it unpickles Python objects: load only from a registry you trust.
    """

    def __init__(self, save: SaveModel) -> None:
        self.save = save

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.Series:
        """Calibrated P(durable save) of each (account, reason, offer) row of ``model_input``."""
        frame = pd.DataFrame(model_input)
        return pd.Series(self.save.predict_proba(frame), index=frame.index, name="save_probability")


def python_model(model: ChurnModel | SaveModel) -> ChurnPyfunc | SavePyfunc:
    """The pyfunc wrapper a model is logged in."""
    return SavePyfunc(model) if isinstance(model, SaveModel) else ChurnPyfunc(model)


def pip_requirements() -> list[str]:
    """The pinned runtime requirements of a logged churn model, read from the installed versions."""
    return [f"{name}=={metadata.version(name)}" for name in RUNTIME_DISTRIBUTIONS]


def model_signature(features: pd.DataFrame, scores: Any, score_name: str = SCORE_COLUMN) -> ModelSignature:
    """The model's signature, from the raw feature frame (strings stay strings, never pandas categories).

    MLflow reads every value to learn which columns may be missing, which takes
    seconds on a large training frame; the same answer comes from the first rows
    plus, for each column that has gaps, one row where it is missing.
    """
    gaps = features.isna().to_numpy()
    first_gaps = {int(gaps[:, j].argmax()) for j in np.flatnonzero(gaps.any(axis=0))}
    rows = sorted(set(range(min(len(features), SIGNATURE_ROWS))) | first_gaps)
    with warnings.catch_warnings():
        # Integer columns stay integers: serving frames come from the same feature builder.
        warnings.filterwarnings("ignore", "Hint: Inferred schema contains integer", UserWarning)
        return infer_signature(features.iloc[rows], pd.Series(scores, name=score_name))


@dataclass(frozen=True)
class RegisteredVersion:
    """One version of a registered model and the run that produced it."""

    name: str
    version: int
    run_id: str

    @property
    def model_uri(self) -> str:
        """The registry URI of exactly this version."""
        return f"models:/{self.name}/{self.version}"

    @property
    def label(self) -> str:
        """How the gate names this version when it is the champion (``champion_label``)."""
        return f"{self.name} v{self.version}"


def utc_now() -> datetime:
    """The current time in UTC (the audit log and the gate tags use nothing else)."""
    return datetime.now(UTC)


def iso_utc(moment: datetime) -> str:
    """``moment`` as an ISO 8601 UTC timestamp; a naive datetime is taken to be UTC already."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def gate_tags(decision: GateDecision, decided_at: datetime) -> dict[str, str]:
    """The tags the gate leaves on the version it judged."""
    return {
        "gate.decision": "promote" if decision.promote else "refuse",
        "gate.summary": decision.summary(),
        "gate.reasons": json.dumps(decision.reasons),
        "gate.decided_at": iso_utc(decided_at),
        "gate.compared_with": decision.compared_with or "none",
    }


def audit_entry(
    version: RegisteredVersion,
    action: Action,
    alias: str,
    previous: int | None,
    at: datetime,
    summary: str,
    reasons: list[str] | None = None,
    details: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """One line of the audit log: what moved (or was refused), when, and why.

    ``details`` adds, where known, the gate decision's record (``GateDecision.record``: its paired interval,
    the declared reason, the list changes) or, for a promotion on review, who made it (``by``) and why
    (``reason``); absent values are left out, so a line without ``by`` is the gate's own.
    """
    return {
        **{key: value for key, value in (details or {}).items() if value is not None},
        "at": iso_utc(at),
        "model": version.name,
        "version": version.version,
        "run_id": version.run_id,
        "action": action,
        "alias": alias,
        "previous": previous,
        "summary": summary,
        "reasons": list(reasons or []),
    }


def append_audit(path: Path, entry: dict[str, Any]) -> None:
    """Append one entry to the JSON-lines audit log, creating its folder on first use."""
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps(entry, sort_keys=True) + "\n"
    with path.open("a", encoding="utf-8") as log:  # one write per line: appends never interleave
        log.write(line)


def read_audit_log(path: Path) -> list[dict[str, Any]]:
    """Every entry of an audit log, oldest first (empty when nothing was recorded yet).

    Raises:
        ValueError: A line is not JSON (the message names the file and line).
    """
    if not path.exists():
        return []
    entries = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            entries.append(json.loads(line))
        except json.JSONDecodeError as error:
            raise ValueError(f"{path}, line {number}: not a JSON audit entry ({error.msg})") from error
    return entries


def alias_version(client: mlflow.MlflowClient, name: str, alias: str) -> RegisteredVersion | None:
    """The version holding ``alias`` of model ``name``, or None (also when the model is not registered)."""
    try:
        holder = client.get_registered_model(name).aliases.get(alias)
    except MlflowException as error:
        if error.error_code == "RESOURCE_DOES_NOT_EXIST":
            return None
        raise
    if holder is None:
        return None
    mv = client.get_model_version(name, str(holder))
    return RegisteredVersion(name, int(mv.version), mv.run_id or "")


def move_alias(
    client: mlflow.MlflowClient,
    audit_log: Path,
    version: RegisteredVersion,
    alias: str,
    action: Action,
    at: datetime,
    summary: str,
    reasons: list[str] | None = None,
    details: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Point ``alias`` at ``version`` and append the move, with the previous holder, to the audit log."""
    previous = alias_version(client, version.name, alias)
    client.set_registered_model_alias(version.name, alias, str(version.version))
    held = previous.version if previous else None
    entry = audit_entry(version, action, alias, held, at, summary, reasons, details)
    append_audit(audit_log, entry)
    return entry


def apply_gate(
    client: mlflow.MlflowClient,
    audit_log: Path,
    name: str,
    version: int,
    decision: GateDecision,
    at: datetime,
) -> dict[str, Any]:
    """Apply the gate's decision to alias ``champion`` and record it on the version and in the audit log.

    A promotion moves the alias (the old champion keeps its version and loses the
    alias); a refusal leaves the champion alone. Either way the version gets the
    ``gate.*`` tags and the audit log one line.

    Returns:
        The audit entry written.

    Raises:
        ValueError: A promotion decided without a champion while there is one now
            (the decision never compared the challenger with it).
    """
    mv = client.get_model_version(name, str(version))
    target = RegisteredVersion(name, int(mv.version), mv.run_id or "")
    current = alias_version(client, name, CHAMPION)
    if decision.promote and decision.compared_with is None and current is not None:
        raise ValueError(
            f"{target.label} was judged without a champion, but {current.label} is champion now; "
            "decide again against it"
        )
    for key, value in gate_tags(decision, at).items():
        client.set_model_version_tag(name, str(version), key, value)
    details = decision.record()
    log_decision(client, target.run_id, decision, at)
    if decision.promote:
        summary, reasons = decision.summary(), decision.reasons
        return move_alias(client, audit_log, target, CHAMPION, "promoted", at, summary, reasons, details)
    held_by = current.version if current else None
    entry = audit_entry(target, "refused", CHAMPION, held_by, at, decision.summary(), decision.reasons, details)
    append_audit(audit_log, entry)
    return entry


def log_decision(client: mlflow.MlflowClient, run_id: str, decision: GateDecision, at: datetime) -> None:
    """Keep the gate's decision on the run that trained the challenger: a report and its headline figures."""
    if not run_id:
        return
    report = {"decision": "promote" if decision.promote else "refuse", "decided_at": iso_utc(at),
              "summary": decision.summary(), "reasons": decision.reasons, **decision.record()}  # fmt: skip
    client.log_dict(run_id, report, "reports/gate_decision.json")
    figures: dict[str, float] = {}
    if decision.interval is not None:
        interval = decision.interval
        figures |= {"gate.auc_gain": interval.difference, "gate.auc_gain_low": interval.low,
                    "gate.auc_gain_high": interval.high}  # fmt: skip
    if decision.list_changes is not None:
        figures |= decision.list_changes.metrics()
    for key, value in sorted(figures.items()):
        client.log_metric(run_id, key, float(value))


def promote_on_review(
    client: mlflow.MlflowClient,
    audit_log: Path,
    name: str,
    version: int | None,
    reason: str,
    by: str,
    at: datetime,
) -> dict[str, Any]:
    """Move alias ``champion`` to a reviewed version (default: the ``challenger``), recording who, when, why, from→to.

    Returns:
        The audit entry written (``previous`` is the champion it replaced).

    Raises:
        ValueError: No reason or reviewer given, or the version is the champion already.
        LookupError: No such version, or no challenger to promote.
    """
    reason, by = reason.strip(), by.strip()
    if not reason or not by:
        raise ValueError("a promotion on review needs a reason (--reason) and a reviewer (--by)")
    if version is None:
        holder = alias_version(client, name, CHALLENGER)
        if holder is None:
            raise LookupError(f"{name} has no challenger to promote: run savedesk train first")
        version = holder.version
    try:
        mv = client.get_model_version(name, str(version))
    except MlflowException as error:
        raise LookupError(f"{name} has no version {version}") from error
    target = RegisteredVersion(name, int(mv.version), mv.run_id or "")
    current = alias_version(client, name, CHAMPION)
    if current is not None and current.version == target.version:
        raise ValueError(f"{target.label} is the champion already")
    for key, value in {"review.promoted_by": by, "review.reason": reason, "review.promoted_at": iso_utc(at)}.items():
        client.set_model_version_tag(name, str(target.version), key, value)
    was = current.label if current else "no champion"
    gate = (mv.tags or {}).get("gate.summary")
    summary = f"promoted on review by {by}, replacing {was}: {reason}"
    details = {"by": by, "reason": reason, "gate_summary": gate}
    return move_alias(client, audit_log, target, CHAMPION, "promoted", at, summary, None, details)
