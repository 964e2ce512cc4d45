"""Schemathesis against ``/api/v1/openapi.json``: every operation, valid and invalid data, three callers, two stores.

The app is built in-process (``pipelines.services.desk_app``, ``warm="none"``) over the published test workspace,
once with a SQLite outcomes store and once with a PostgreSQL one. Schemathesis' pytest integration runs each
operation through its phases (explicit examples, coverage, seeded fuzzing; ``MAX_EXAMPLES`` each) and every case is
sent by a manager, a rep and nobody (``schema_fuzz.exercise``): no 5xx, no status the document does not declare, no
body or header that breaks its schema, invalid data refused and valid data not refused with 422, a replayed outcome
answered 200 with the same id and its key in the store exactly once. Afterwards (the fixture's teardown) every
success path and refusal has been reached and the store holds exactly the outcomes answered 201.

Bugs this fuzzing found (a 500 on a NUL byte on PostgreSQL, an outcome dated in year 427 that broke every later
read, an undeclared 400 for a body that is not JSON) each keep a regression test below. ``schema_fuzz.KNOWN_BUGS``
holds bugs found and not fixed yet (none today): the fuzz run would leave them out of its verdict, each with an
``xfail(strict=True)`` test. ``bench/api_fuzz.py`` runs 10,000+ requests.
"""

from __future__ import annotations

import importlib.util
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
import schemathesis
import sqlalchemy as sa
from hypothesis import HealthCheck, settings
from schema_fuzz import (
    Target,
    build_target,
    config,
    exercise,
    known_bug,
    load_schema,
    stored_once,
    unreached,
)
from schemathesis import Case
from schemathesis.schemas import BaseSchema

from tests.postgres import postgres_admin_url

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("schemathesis")]
SEED = 20261031
MAX_EXAMPLES = 40
"""Examples per operation and phase: with three callers, about 1,500 requests a store in some 20 s."""


def _workspace_builder() -> object:
    """``tests/serving/published_workspace.py``, shared with the API and browser tests (one build per test run)."""
    path = Path(__file__).parents[1] / "serving" / "published_workspace.py"
    spec = importlib.util.spec_from_file_location("published_workspace", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Path:
    path: Path = _workspace_builder().published_workspace(tmp_path_factory, worker_id)  # type: ignore[attr-defined]
    return path


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An empty outcomes store: a SQLite file, or a throwaway PostgreSQL database (dropped afterwards)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('fuzz-store') / 'outcomes.db'}"
        return
    admin = sa.create_engine(postgres_admin_url(), isolation_level="AUTOCOMMIT", poolclass=sa.NullPool)
    database = f"savedesk_fuzz_{uuid.uuid4().hex}"
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{database}"')
    yield admin.url.set(database=database).render_as_string(hide_password=False)
    with admin.connect() as connection:
        connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    admin.dispose()


@pytest.fixture(scope="module")
def target(workspace: Path, store_url: str) -> Iterator[Target]:
    """The app, its callers and ids; afterwards, where the fuzzing ran, what it must have reached and stored.

    Checked at teardown, not in a test of its own: pytest-xdist may run this module's tests in different
    processes (its ``xdist_group`` does not hold under pytest 9.2), and only the process that fuzzed knows.
    """
    built = build_target(workspace, store_url)
    yield built
    try:
        if built.fuzzed and not built.failed:  # a failure stops the run short: its own report says enough
            assert unreached(built) == [], f"never reached; reached: {sorted(built.app.seen.items())}"
            assert built.acknowledged, "no outcome was recorded: the fuzzing never reached POST /outcomes' success"
            assert stored_once(built) == []
            assert built.app.requests > 1000, built.app.by_status()
    finally:
        built.store.dispose()


@pytest.fixture(scope="module")
def api_schema(target: Target) -> BaseSchema:
    return load_schema(target, config(seed=SEED, max_examples=MAX_EXAMPLES))


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))  # fmt: skip
def test_no_operation_answers_5xx_or_breaks_its_schema(case: Case, target: Target) -> None:
    found = [f for f in exercise(case, target) if known_bug(f) is None]
    assert not found, "\n\n".join(str(f) for f in found)


# --- the serving bugs found, one reproduction each ---------------------------------------------------------------


def _post(target: Target, body: bytes | dict[str, Any], **headers: str) -> tuple[int, str]:
    """POST an outcome as the rep through the same ASGI transport Schemathesis uses."""
    from schemathesis.python.asgi import get_client

    key = uuid.uuid4().hex
    sent = {**target.headers("rep"), "Idempotency-Key": key, **headers}
    with get_client(target.app) as client:
        if isinstance(body, bytes):
            response = client.post("/api/v1/outcomes", data=body, headers={**sent, "Content-Type": "application/json"})
        else:
            response = client.post("/api/v1/outcomes", json=body, headers=sent)
    if response.status_code == 201:
        target.acknowledged.append(key)
    return response.status_code, response.text


def _documented(target: Target, path: str, method: str) -> set[str]:
    from schemathesis.python.asgi import get_client

    with get_client(target.app) as client:
        document = client.get("/api/v1/openapi.json").json()
    return set(document["paths"][path][method]["responses"])


def test_a_nul_byte_in_an_outcome_is_refused_or_recorded_not_a_500(target: Target) -> None:
    """Found by this fuzzing: 500 on PostgreSQL (psycopg.DataError, text cannot hold NUL); fixed in serving."""
    body = {"account_id": target.own_accounts[0], "offer": "contract_education", "accepted": True, "notes": "a\x00b"}
    try:
        status, _ = _post(target, body)
    except sa.exc.DataError:
        status = 500  # raised through the in-process transport: a client would get 500
    assert status in (201, 422)


def test_a_body_that_is_not_json_gets_a_documented_status(target: Target) -> None:
    """Found by this fuzzing: 400 "There was an error parsing the body", undeclared; now 422 naming the body."""
    status, text = _post(target, b"\xff\xfe not json")
    assert str(status) in _documented(target, "/api/v1/outcomes", "post"), (status, text)
    assert status == 422 and '"field":"body"' in text.replace(" ", ""), text


def test_an_outcome_dated_in_year_427_is_refused_or_readable(target: Target) -> None:
    """Found by this fuzzing: 201, then ``OutcomesStore.outcomes()`` raised OutOfBoundsDatetime; fixed in serving."""
    body = {"account_id": target.own_accounts[0], "offer": "contract_education", "accepted": True,
            "call_date": "0427-12-07"}  # fmt: skip
    status, _ = _post(target, body)
    assert status in (201, 422)
    target.store.outcomes()  # what training's outcomes feed and monitoring read: OutOfBoundsDatetime today


def test_a_body_the_document_allows_but_a_rule_refuses_names_the_field(target: Target) -> None:
    """A rule beyond JSON Schema (``schema_fuzz.BEYOND_THE_DOCUMENT``) refuses with 422 naming its field."""
    from schemathesis.python.asgi import get_client

    with get_client(target.app) as client:
        document = client.get("/api/v1/openapi.json").json()
    schema_of_body = {**document["components"]["schemas"]["OutcomeIn"], "components": document["components"]}
    body = {"account_id": target.own_accounts[0], "offer": "rollback", "accepted": True}  # rollback_pct: default 0
    assert jsonschema_rs.validator_for(schema_of_body).is_valid(body), "the document itself refuses the body"
    status, text = _post(target, body)
    assert status == 422 and "rollback_pct" in text, text
