"""One version of the truth per day: the running server plans with the models the day's lists were made with.

Issue 19, acceptance 1. A copy of the published test workspace gets a registry of its own holding the original
champions as v1 (the versions its manifest names). A new churn champion, v2, is the v1 model recalibrated (its
Platt curve shifted: a different model whose risk differs for every account, registered and promoted through the
registry as a retrained one would be, in seconds rather than a retraining's minutes). The server started before the
promotion keeps v1 until the nightly publishes with v2, then, without a restart, plans with v2: its plans equal the
new published rows, inbound requests and proactive rows alike, and ``/api/v1/models`` names v2.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from published_workspace import published_workspace
from served_app import Served, serve, signed_in
from sklearn.linear_model import LogisticRegression

from models.champions import Champions
from models.churn import ChurnModel
from models.names import CHURN_MODEL, SAVE_MODEL
from models.registry import CHAMPION, RegisteredVersion, move_alias, utc_now
from models.tracking import Tracker
from pipelines.services import open_tracker
from pipelines.settings import Settings, load_settings
from serving.publication.catalog import LIST_FILES, MANIFEST
from sources.vocabulary import CANCELLATION_REASONS, CATALOG_OFFERS

pytestmark = pytest.mark.slow

SAVEDESK = str(Path(sys.executable).with_name("savedesk"))
PROACTIVE_SAMPLE = 20


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Path:
    return published_workspace(tmp_path_factory, worker_id)


def registered_copy(source: Path, target: Path) -> tuple[Settings, Tracker]:
    """A copy of ``source`` whose own registry holds the champions its lists name, at the same version numbers.

    The copy gets a registry of its own: MLflow keeps absolute artifact paths, so registering in a copied store
    would write into the source workspace (which the other tests share, read-only).
    """
    shutil.copytree(source, target, symlinks=True, ignore=shutil.ignore_patterns("mlflow"))
    settings = load_settings(target)
    champions = open_tracker(load_settings(source)).load_champions()
    tracker = open_tracker(settings)
    day = settings.catalog.latest()
    assert day is not None
    context = pd.read_parquet(settings.catalog.context(day))
    decided = context.assign(reason=CANCELLATION_REASONS[0], offer=CATALOG_OFFERS[0])
    named = settings.catalog.manifest(day)["models"]
    for kind, model, frame in (("churn", champions.churn, context), ("save", champions.save, decided)):
        version = tracker.log_training_run(model, frame, name=named[kind]["name"])
        assert version.version == named[kind]["version"], "the copy's registry must number versions as the source's"
        promote(tracker, settings, version)
    return settings, tracker


def promote(tracker: Tracker, settings: Settings, version: RegisteredVersion) -> None:
    """Move alias ``champion`` to ``version`` through the registry (audited), as a promotion does."""
    move_alias(tracker.client, settings.registry_audit_log, version, CHAMPION, "promoted", utc_now(), "test")


def recalibrated(churn: ChurnModel, shift: float = 0.8) -> ChurnModel:
    """The churn model with its Platt curve shifted by ``shift`` log-odds: every account's risk moves."""
    model = copy.deepcopy(churn)
    assert isinstance(model.calibrator, LogisticRegression), "the test workspace calibrates with Platt"
    model.calibrator.intercept_ = model.calibrator.intercept_ + shift
    return model


def new_champion(tracker: Tracker, settings: Settings) -> RegisteredVersion:
    """Register a recalibrated churn champion and promote it: the alias moves, nothing is published yet."""
    champions: Champions = tracker.load_champions()
    day = settings.catalog.latest()
    assert day is not None
    context = pd.read_parquet(settings.catalog.context(day))
    version = tracker.log_training_run(recalibrated(champions.churn), context, name=CHURN_MODEL)
    promote(tracker, settings, version)
    champion = tracker.champion_version(CHURN_MODEL)
    assert champion is not None and champion.version == version.version > 1
    return version


def nightly(settings: Settings, prefect_home: Path) -> None:
    """Run the nightly as the operator does (a child process: Prefect keeps its state there)."""
    env = {**os.environ, "OMP_WAIT_POLICY": "passive", "MLFLOW_DISABLE_TELEMETRY": "true",
           "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1",
           "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180", "PREFECT_HOME": str(prefect_home)}  # fmt: skip
    done = subprocess.run(  # noqa: S603
        [SAVEDESK, "nightly", "--data", str(settings.data)], env=env, capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, f"savedesk nightly failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"


def published_rows(settings: Settings) -> tuple[date, dict[str, Any], pd.DataFrame]:
    """The latest publication: its date, the models its manifest names, and its rows (one per account)."""
    day = settings.catalog.latest()
    assert day is not None
    folder = settings.catalog.resolved(day)
    rows = pd.concat([pd.read_parquet(folder / file) for file in LIST_FILES.values()], ignore_index=True)
    return day, settings.catalog.manifest(day)["models"], rows.drop_duplicates("account_id", keep="first")


def sampled(rows: pd.DataFrame) -> pd.DataFrame:
    """Every listed request (inbound and flips) and a sample of proactive rows."""
    asked = rows[rows["request_id"].notna()]
    quiet = rows[rows["request_id"].isna()]
    assert len(asked) and len(quiet), "the test workspace lists both requests and proactive rows"
    return pd.concat([asked, quiet.sample(min(PROACTIVE_SAMPLE, len(quiet)), random_state=0)])


def live_plans(served: Served, accounts: pd.Series) -> dict[str, dict[str, Any]]:
    """The live plan of each account, as the manager reads it through the API (planned ahead in one batch, as the
    server does when it starts: one at a time costs a SHAP call each)."""
    served.app.state.desk.planner.warm(list(accounts.astype(str)))
    out = {}
    for account in accounts.astype(str):
        answer = served.client.get(f"/api/v1/accounts/{account}/plan", headers=served.headers("manager"))
        assert answer.status_code == 200, answer.text
        out[account] = answer.json()
    return out


def assert_plans_equal_rows(plans: dict[str, dict[str, Any]], rows: pd.DataFrame, named: dict[str, Any]) -> None:
    """Each plan's risk, offer and value equal its published row's, and it is stamped with the manifest's models."""
    for row in rows.itertuples():
        plan = plans[str(row.account_id)]
        assert plan["churn_probability"] == pytest.approx(row.churn_probability, abs=1e-12), row.account_id
        assert plan["recommendation"]["offer"] == row.offer, row.account_id
        assert plan["recommendation"]["p_save"] == pytest.approx(row.p_save, abs=1e-12), row.account_id
        assert plan["recommendation"]["expected_net_value"] == pytest.approx(row.expected_net_value, rel=1e-9)
        assert (plan["request"] or {}).get("request_id") == (row.request_id if pd.notna(row.request_id) else None)
        assert plan["models"] == named


def models_answer(served: Served) -> dict[str, Any]:
    answer = served.client.get("/api/v1/models", headers=served.headers("rep"))
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def test_after_a_promotion_and_a_new_publication_the_running_server_plans_as_the_lists_say(
    source: Path, tmp_path: Path
) -> None:
    settings, tracker = registered_copy(source, tmp_path / "workspace")
    day, named_v1, rows_v1 = published_rows(settings)
    sample_v1 = sampled(rows_v1)
    with serve(settings.data, f"sqlite:///{tmp_path / 'outcomes.db'}") as served:
        served.app.state.desk.planner.look_every = 0.0  # look for a new publication on every request
        answer = models_answer(served)
        assert answer["agree"] is True and answer["in_use"] == answer["published"] == named_v1
        assert_plans_equal_rows(live_plans(served, sample_v1["account_id"]), sample_v1, named_v1)

        promoted = new_champion(tracker, settings)
        answer = models_answer(served)  # the alias moved, the lists did not: the server stays with them
        assert answer["in_use"]["churn"]["version"] == named_v1["churn"]["version"] < promoted.version
        assert answer["agree"] is True
        assert_plans_equal_rows(live_plans(served, sample_v1["account_id"]), sample_v1, named_v1)

        nightly(settings, tmp_path / "prefect")
        again, named_v2, rows_v2 = published_rows(settings)
        assert again == day and named_v2["churn"]["version"] == promoted.version
        assert named_v2["save"] == named_v1["save"]
        answer = models_answer(served)  # the same app object, no restart
        assert answer["agree"] is True and answer["problem"] is None
        assert answer["in_use"]["churn"]["version"] == promoted.version
        assert answer["in_use"] == answer["published"] == named_v2
        sample_v2 = sampled(rows_v2)
        plans = live_plans(served, sample_v2["account_id"])
        assert_plans_equal_rows(plans, sample_v2, named_v2)
        before = rows_v1.set_index("account_id")["churn_probability"]
        moved = [a for a, plan in plans.items() if a in before.index and plan["churn_probability"] != before[a]]
        assert len(moved) == len([a for a in plans if a in before.index]) > 0  # v1's plans would not have passed


def test_a_promotion_waits_for_the_next_publication_even_for_a_server_started_after_it(
    source: Path, tmp_path: Path
) -> None:
    settings, tracker = registered_copy(source, tmp_path / "workspace")
    _, named, rows = published_rows(settings)
    promoted = new_champion(tracker, settings)
    assert tracker.champion_version(SAVE_MODEL) is not None
    with serve(settings.data, f"sqlite:///{tmp_path / 'outcomes.db'}") as served:
        answer = models_answer(served)
        assert answer["in_use"]["churn"]["version"] == named["churn"]["version"] != promoted.version
        assert answer["agree"] is True and answer["published"] == named
        sample = sampled(rows)
        assert_plans_equal_rows(live_plans(served, sample["account_id"]), sample, named)
        with signed_in(served, "manager") as browser:  # the page's footer says which versions plan
            page = browser.get("/list")
            assert page.status_code == 200, page.text
            assert f"{CHURN_MODEL} v{named['churn']['version']}" in page.text
            assert f"{CHURN_MODEL} v{promoted.version}" not in page.text

        missing = {**named, "churn": {**named["churn"], "version": 99}}
        republish(settings, missing)  # lists naming a version the registry lacks: the desk keeps planning
        served.app.state.desk.planner.look_every = 0.0
        answer = models_answer(served)
        assert answer["agree"] is False and answer["published"] == missing and answer["in_use"] == named
        assert (
            f"{CHURN_MODEL} v99" in answer["problem"]
            and f"{CHURN_MODEL} v{named['churn']['version']}" in answer["problem"]
        )
        account = str(sample["account_id"].iloc[0])
        plan = served.client.get(f"/api/v1/accounts/{account}/plan", headers=served.headers("manager"))
        assert plan.status_code == 200 and plan.json()["models"] == named


def republish(settings: Settings, models: dict[str, Any]) -> None:
    """Publish the latest day again, its manifest naming ``models`` (as an atomic publication swaps its link)."""
    day = settings.catalog.latest()
    assert day is not None
    folder = settings.catalog.resolved(day)
    again = folder.with_name(f".{day}-test-republished")
    shutil.copytree(folder, again)
    manifest = json.loads((again / MANIFEST).read_text())
    (again / MANIFEST).write_text(json.dumps({**manifest, "models": models}))
    link = folder.parent / f".link-{again.name}"
    os.symlink(again.name, link)
    os.replace(link, settings.catalog.link(day))
