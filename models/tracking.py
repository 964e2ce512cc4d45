"""MLflow at the edge: the one place that talks to a tracking server and model registry.

A ``Tracker`` points at one tracking URI (SQLite in the workspace by default,
PostgreSQL or a server when configured), one artifact root and one audit log.
It logs a training run (parameters, metrics, features, data fingerprint, plots,
tables and the pyfunc model), registers the model with alias ``challenger``,
applies the promotion gate's decision to alias ``champion`` and records every
alias move or refusal on the version and in the append-only audit log.

Nothing happens at import. MLflow's process-wide tracking and registry URIs are
set only for the length of a ``Tracker`` call and restored afterwards
(``models.mlflow_scope``), so two trackers on two workspaces never mix. The data
fingerprint a run records and the scan of a run for PII are ``models.run_scan``.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
from mlflow.entities import Metric, Param
from mlflow.exceptions import MlflowException
from mlflow.pyfunc import PyFuncModel

from models.champions import NO_SAVE_MODEL, Champions
from models.churn import ChurnModel
from models.gate import GateDecision
from models.mlflow_scope import pointed_at
from models.names import CHURN_MODEL, SAVE_MODEL
from models.registry import (
    CHALLENGER,
    CHAMPION,
    ChurnPyfunc,
    RegisteredVersion,
    SavePyfunc,
    alias_version,
    apply_gate,
    model_signature,
    move_alias,
    pip_requirements,
    promote_on_review,
    python_model,
    read_audit_log,
    utc_now,
)
from models.run_scan import fingerprint, scan_run
from models.save import SaveModel

__all__ = ["Champions", "RegisteredVersion", "Tracker", "read_audit_log"]

INPUT_EXAMPLE_ROWS = 5


COMMIT_TAG = "savedesk.commit"
"""The run tag holding the code's commit (``source_commit``)."""


@cache
def source_commit() -> str:
    """The git commit of the code running: its short sha (``+dirty`` with uncommitted changes), else ``nocommit``."""
    root = str(Path(__file__).resolve().parent.parent)
    try:
        git = ["git", "-C", root]  # fixed arguments, no shell
        head = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=10)  # noqa: S603
        sha = head.stdout.strip() if head.returncode == 0 else ""
        status = [*git, "status", "--porcelain", "--untracked-files=no"]
        changed = subprocess.run(status, capture_output=True, text=True, timeout=30).stdout.strip()  # noqa: S603
    except (OSError, subprocess.SubprocessError):  # no git, or not a checkout
        return "nocommit"
    if not sha:
        return "nocommit"
    return f"{sha}+dirty" if changed else sha


def run_label(command: str, day: date) -> str:
    """A run's display name: the command, the day it is about and the commit (``train-churn 2026-10-31 2b26490``)."""
    return f"{command} {day.isoformat()} {source_commit()}"


class Tracker:
    """Runs, registry and aliases of one tracking store, plus its audit log."""

    def __init__(self, tracking_uri: str, artifact_root: str, audit_log: Path) -> None:
        self.tracking_uri = tracking_uri
        self.artifact_root = artifact_root.rstrip("/")
        self.audit_log = Path(audit_log)
        self._client: mlflow.MlflowClient | None = None

    @property
    def display_uri(self) -> str:
        """The tracking URI with any password masked, for messages."""
        return re.sub(r"(//[^:/@]+):[^@/]*@", r"\1:***@", self.tracking_uri)

    @property
    def client(self) -> mlflow.MlflowClient:
        """The MLflow client of this store; a SQLite file's folder is created on first use."""
        if self._client is None:
            if self.tracking_uri.startswith("sqlite:///"):  # SQLite creates the file, not its folder
                Path(self.tracking_uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
            self._client = mlflow.MlflowClient(self.tracking_uri, registry_uri=self.tracking_uri)
        return self._client

    @contextmanager
    def _active(self) -> Iterator[mlflow.MlflowClient]:
        client = self.client
        with pointed_at(self.tracking_uri):
            yield client

    def experiment_id(self, name: str) -> str:
        """The experiment named ``name``, created on first use with its artifacts under the artifact root."""
        experiment = self.client.get_experiment_by_name(name)
        if experiment is None:
            try:
                return self.client.create_experiment(name, artifact_location=f"{self.artifact_root}/{name}")
            except MlflowException as error:  # another process created it between the two calls
                experiment = self.client.get_experiment_by_name(name)
                if experiment is None:
                    raise error
        if experiment.lifecycle_stage != "active":
            raise ValueError(
                f"MLflow experiment {name!r} at {self.display_uri} is deleted; restore it (mlflow experiments "
                "restore) or train under another model name"
            )
        return str(experiment.experiment_id)

    def log_training_run(
        self,
        model: ChurnModel | SaveModel,
        train: pd.DataFrame,
        *,
        name: str = CHURN_MODEL,
        params: Mapping[str, Any] | None = None,
        metrics: Mapping[str, float] | None = None,
        as_of: Sequence[date] | None = None,
        plots: Sequence[Path] = (),
        tables: Mapping[str, pd.DataFrame] | None = None,
        reports: Mapping[str, Any] | None = None,
        run_name: str | None = None,
        at: datetime | None = None,
    ) -> RegisteredVersion:
        """Log one training run, register its model as ``name`` and point alias ``challenger`` at it.

        Args:
            model: The fitted churn or save model.
            train: The training frame (features and label); rows, as-of dates and fingerprint come from it,
                and the signature and input example from its model columns only.
            name: Registered model name, also the experiment's name.
            params: Hyper-parameters and other settings of the run.
            metrics: Flat name -> value (``test.auc``, ``segment.commercial.auc``).
            as_of: Training as-of dates; read from ``train["as_of"]`` when None.
            plots: Image or HTML files, logged under ``plots/``.
            tables: Extra tables, logged as ``tables/<name>.csv``.
            reports: Extra JSON documents, logged as ``reports/<name>.json``.
            run_name: The run's display name (default: ``train-<model> <last training as-of> <commit>``).
            at: When the challenger alias moved (default: now, UTC).

        Returns:
            The registered version.
        """
        if as_of is None:
            as_of = sorted(pd.to_datetime(train["as_of"]).dt.date.unique()) if "as_of" in train.columns else []
        features = train[model.columns]
        run_params = {
            **dict(params or {}),
            "features": len(model.columns),
            "categorical_features": len(model.categories),
            "best_iteration": model.best_iteration,
            "calibrator": type(model.calibrator).__name__ if model.calibrator is not None else "none",
            "train.rows": len(train),
            "train.as_of": ",".join(d.isoformat() for d in as_of),
            "train.fingerprint": fingerprint(train),
        }
        experiment_id = self.experiment_id(name)
        if run_name is None:
            run_name = run_label(f"train-{name.removeprefix('savedesk-')}", max(as_of) if as_of else utc_now().date())
        tags = {COMMIT_TAG: source_commit()}
        with self._active() as client, mlflow.start_run(experiment_id=experiment_id, run_name=run_name,
                                                        tags=tags) as run:  # fmt: skip
            run_id, stamp = run.info.run_id, int(utc_now().timestamp() * 1000)
            client.log_batch(
                run_id,
                metrics=[Metric(k, float(v), stamp, 0) for k, v in sorted((metrics or {}).items())],
                params=[Param(k, str(v)) for k, v in sorted(run_params.items())],
            )
            client.log_dict(run_id, {"columns": model.columns, "categories": model.categories}, "features.json")
            if model.metadata:
                client.log_dict(run_id, model.metadata, "model_metadata.json")
            for plot in plots:
                client.log_artifact(run_id, str(plot), "plots")
            for table, frame in (tables or {}).items():
                client.log_text(run_id, frame.to_csv(index=False), f"tables/{table}.csv")
            for report, document in (reports or {}).items():
                client.log_dict(run_id, document, f"reports/{report}.json")
            example = features.head(INPUT_EXAMPLE_ROWS)
            wrapper = python_model(model)
            score_name = "save_probability" if isinstance(wrapper, SavePyfunc) else "churn_probability"
            info = mlflow.pyfunc.log_model(
                name="model",
                python_model=wrapper,
                pip_requirements=pip_requirements(),
                signature=model_signature(features, model.predict_proba(example), score_name),
                input_example=example,
            )
            registered = mlflow.register_model(info.model_uri, name)
        version = RegisteredVersion(name, int(registered.version), run_id)
        summary = f"registered from run {run_id}"
        move_alias(self.client, self.audit_log, version, CHALLENGER, "alias_set", at or utc_now(), summary)
        return version

    def apply_gate(
        self, name: str, version: int, decision: GateDecision, *, at: datetime | None = None
    ) -> dict[str, Any]:
        """Apply the gate's decision to alias ``champion``; see ``models.registry.apply_gate``."""
        return apply_gate(self.client, self.audit_log, name, version, decision, at or utc_now())

    def promote(
        self, name: str, version: int | None, reason: str, by: str, *, at: datetime | None = None
    ) -> dict[str, Any]:
        """Move alias ``champion`` to a reviewed version (default: the challenger): ``registry.promote_on_review``."""
        return promote_on_review(self.client, self.audit_log, name, version, reason, by, at or utc_now())

    def alias_version(self, name: str, alias: str) -> RegisteredVersion | None:
        """The version holding ``alias`` of model ``name``, or None (also when the model is not registered)."""
        return alias_version(self.client, name, alias)

    def champion_version(self, name: str = CHURN_MODEL) -> RegisteredVersion | None:
        """The current champion of model ``name``, or None."""
        return alias_version(self.client, name, CHAMPION)

    def load_champions(self) -> Champions:
        """The champions of the churn and save models: the one loader of the nightly, intraday and live plans.

        Without a save champion (none trained yet, or its gate refused it) ``save`` is None and the stamp's
        ``save`` is ``models.champions.NO_SAVE_MODEL``: the plans value offers from the catalog's prior save rates.

        Raises:
            LookupError: The churn model has no champion (run ``savedesk train``).
        """
        churn, save = self.champion_version(CHURN_MODEL), self.champion_version(SAVE_MODEL)
        if churn is None:
            raise LookupError(
                f"No {CHURN_MODEL} model is champion in {self.display_uri} yet, so there is nothing to score the"
                " accounts with: run `savedesk train` on this workspace first."
            )
        versions = {"churn": {"name": churn.name, "version": churn.version, "alias": CHAMPION},
                    "save": {"name": save.name, "version": save.version, "alias": CHAMPION} if save is not None
                    else dict(NO_SAVE_MODEL)}  # fmt: skip
        model = self.load_save_model(save.model_uri) if save is not None else None
        return Champions(self.load_churn_model(churn.model_uri), model, versions)

    def load_versions(self, versions: Mapping[str, int]) -> Champions:
        """The churn and save models of exactly these version numbers (``{"churn": 3, "save": 2}``), not by alias.

        What the live plan loads for a publication: the versions its manifest names, whatever the aliases say now.

        Raises:
            LookupError: ``versions`` lacks a model, or the registry has no such version.
        """
        names = {"churn": CHURN_MODEL, "save": SAVE_MODEL}
        missing = sorted(set(names) - set(versions))
        if missing:
            raise LookupError(f"No version given for the {' and '.join(missing)} model")
        found = {kind: RegisteredVersion(name, int(versions[kind]), "") for kind, name in names.items()}
        stamped = {kind: {"name": v.name, "version": v.version, "alias": None} for kind, v in found.items()}
        churn, save = found["churn"].model_uri, found["save"].model_uri
        return Champions(self.load_churn_model(churn), self.load_save_model(save), stamped)

    def load_pyfunc(self, model_uri: str) -> PyFuncModel:
        """The pyfunc model at ``model_uri`` (``models:/savedesk-churn@champion``), as served.

        Raises:
            LookupError: The registry has no such model, version or alias.
        """
        with self._active():
            try:
                return mlflow.pyfunc.load_model(model_uri)
            except MlflowException as error:
                missing = error.error_code == "RESOURCE_DOES_NOT_EXIST" or "not found" in error.message
                if not missing:
                    raise
                raise LookupError(f"{model_uri}: {error.message} (registry {self.display_uri})") from error

    def load_churn_model(self, model_uri: str) -> ChurnModel:
        """The ``ChurnModel`` inside the pyfunc model at ``model_uri``."""
        wrapper = self.load_pyfunc(model_uri).unwrap_python_model()
        if not isinstance(wrapper, ChurnPyfunc):
            raise TypeError(f"{model_uri} holds a {type(wrapper).__name__}, not a savedesk churn model")
        return wrapper.churn

    def load_save_model(self, model_uri: str) -> SaveModel:
        """The ``SaveModel`` inside the pyfunc model at ``model_uri``."""
        wrapper = self.load_pyfunc(model_uri).unwrap_python_model()
        if not isinstance(wrapper, SavePyfunc):
            raise TypeError(f"{model_uri} holds a {type(wrapper).__name__}, not a savedesk save model")
        return wrapper.save

    def scan_run(self, run_id: str, needles: Iterable[str]) -> list[str]:
        """Where any of ``needles`` appears in a run, one ``"<where>: <needle>"`` per hit (``run_scan.scan_run``)."""
        return scan_run(self.client, self.tracking_uri, run_id, needles)

    def log_monitoring_run(
        self,
        figures: Mapping[str, float],
        artifacts: Sequence[Path] = (),
        *,
        params: Mapping[str, Any] | None = None,
        run_name: str | None = None,
        experiment: str = "savedesk-monitoring",
    ) -> str:
        """Log one monitoring report: its figures as metrics, what it judged as parameters, its files.

        Args:
            figures: Flat name -> value (``drift.churn_probability``, ``realized.2026-05-31.auc``).
            artifacts: Files to keep with the run (the HTML report).
            params: What the report judged (as-of date, model version).
            run_name: The run's display name.
            experiment: The experiment the monitoring runs go to.

        Returns:
            The run's id.
        """
        experiment_id = self.experiment_id(experiment)
        with self._active() as client:
            run_id = client.create_run(experiment_id, run_name=run_name, tags={COMMIT_TAG: source_commit()}).info.run_id
            stamp = int(utc_now().timestamp() * 1000)
            metrics = [Metric(k, float(v), stamp, 0) for k, v in sorted(figures.items())]
            for start in range(0, max(len(metrics), 1), 1000):  # MLflow takes at most 1,000 metrics a batch
                batch_params = [Param(k, str(v)) for k, v in sorted((params or {}).items())] if start == 0 else []
                client.log_batch(run_id, metrics=metrics[start : start + 1000], params=batch_params)
            for artifact in artifacts:
                client.log_artifact(run_id, str(artifact))
            client.set_terminated(run_id)
        return run_id
