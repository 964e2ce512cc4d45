"""What a tracked run holds of the data: a fingerprint of its training frame, never account PII (checked by a scan).

A run records ``fingerprint(train)`` instead of any row. ``scan_run`` proves the
rest: it reads everything MLflow keeps of a run (params, tags, metric names,
every artifact file of the run and of the models it logged, the tags of the
versions registered from it) and reports where any of a list of strings, such
as the accounts' names and addresses, appears.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from collections.abc import Iterable
from pathlib import Path

import mlflow
import pandas as pd

from models.mlflow_scope import pointed_at


def fingerprint(frame: pd.DataFrame) -> str:
    """A sha256 of a frame's values, column names and dtypes (row order matters, the index does not)."""
    digest = hashlib.sha256()
    digest.update(json.dumps([[str(c), str(t)] for c, t in frame.dtypes.items()]).encode())
    digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()


def find_strings(needles: Iterable[str], text: str, gram: int = 6) -> list[str]:
    """Which ``needles`` occur in ``text``, ignoring case.

    Thousands of needles against megabytes of text: a needle is searched for only
    when every one of its ``gram``-character pieces occurs in the text, a
    necessary condition that is cheap to check against a set of the text's pieces.
    """
    folded = text.casefold()
    pieces = {folded[i : i + gram] for i in range(len(folded) - gram + 1)}
    found = []
    for needle in needles:
        wanted = needle.casefold()
        if len(wanted) >= gram and not all(wanted[i : i + gram] in pieces for i in range(len(wanted) - gram + 1)):
            continue
        if wanted and wanted in folded:
            found.append(needle)
    return found


def scan_run(client: mlflow.MlflowClient, tracking_uri: str, run_id: str, needles: Iterable[str]) -> list[str]:
    """Where any of ``needles`` appears in a run: params, tags, metric names, artifacts, models, versions.

    Matching ignores case. Every artifact file of the run and of the models it
    logged (signature, input example, pickle, images) is read, binary or not,
    and so are the tags of the registered versions made from it.

    Args:
        client: The client of the store holding the run.
        tracking_uri: That store's URI (artifacts are downloaded with MLflow pointed at it).
        run_id: The run.
        needles: The strings to look for.

    Returns:
        One ``"<where>: <needle>"`` per hit; empty when the run is clean.
    """
    wanted = sorted({n for n in needles if n})
    run = client.get_run(run_id)
    texts: list[tuple[str, str]] = [(f"param {k}", f"{k}={v}") for k, v in run.data.params.items()]
    texts += [(f"tag {k}", f"{k}={v}") for k, v in run.data.tags.items()]
    texts += [(f"metric {k}", k) for k in run.data.metrics]
    for mv in client.search_model_versions(f"run_id = '{run_id}'"):
        texts += [(f"version {mv.name} v{mv.version} tag {k}", f"{k}={v}") for k, v in mv.tags.items()]
    with pointed_at(tracking_uri), tempfile.TemporaryDirectory() as scratch:
        run_dir = mlflow.artifacts.download_artifacts(run_id=run_id, dst_path=f"{scratch}/run")
        roots = [(f"run {run_id}", Path(run_dir))]
        for output in run.outputs.model_outputs if run.outputs else []:
            logged = client.get_logged_model(output.model_id)
            texts += [(f"model {logged.model_id} param {k}", f"{k}={v}") for k, v in logged.params.items()]
            texts += [(f"model {logged.model_id} tag {k}", f"{k}={v}") for k, v in logged.tags.items()]
            model_dir = mlflow.artifacts.download_artifacts(
                f"models:/{logged.model_id}", dst_path=f"{scratch}/{logged.model_id}"
            )
            roots.append((f"model {logged.model_id}", Path(model_dir)))
        for where, root in roots:
            for file in sorted(p for p in root.rglob("*") if p.is_file()):
                content = file.read_bytes().decode("utf-8", errors="ignore")
                texts.append((f"{where} artifact {file.relative_to(root)}", content))
    return [f"{where}: {needle}" for where, text in texts for needle in find_strings(wanted, text)]
