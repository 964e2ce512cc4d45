"""The API over a trained, published workspace: tokens, territories, payloads, idempotency, models, logs."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from published_workspace import published_workspace
from served_app import Served, form_token, outcome, serve

from models.run_scan import find_strings
from pipelines.services import open_tracker
from pipelines.settings import load_settings
from serving.auth import RateLimiter, Role
from serving.desk import TokenCache
from sources.contract import PII_COLUMNS

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Iterator[Served]:
    """The app over the published workspace, with a fresh outcomes store and four users (one revoked)."""
    workspace = published_workspace(tmp_path_factory, worker_id)
    with serve(workspace, f"sqlite:///{tmp_path_factory.mktemp('api-store') / 'outcomes.db'}") as served:
        yield served


def endpoints(s: Served) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        ("GET", f"/api/v1/lists/{s.day}", {}),
        ("GET", f"/api/v1/accounts/{s.account}/plan", {}),
        ("GET", "/api/v1/models", {}),
        ("POST", "/api/v1/outcomes", {"json": outcome(s.account), "headers": {"Idempotency-Key": "k-401"}}),
    ]


def test_no_unknown_or_revoked_token_gets_401_and_nothing_is_written(served: Served) -> None:
    before = served.rows()
    for method, url, kw in endpoints(served):
        extra = kw.pop("headers", {})
        for headers in ({}, {"Authorization": "Bearer not-a-token"}, served.headers("revoked"),
                        {"Authorization": f"Basic {served.tokens['rep']}"}):  # fmt: skip
            response = served.client.request(method, url, headers={**headers, **extra}, **kw)
            assert response.status_code == 401, (method, url, headers, response.text)
            assert response.headers["www-authenticate"].startswith("Bearer")
    assert served.rows() == before
    assert served.client.get("/api/v1/health").status_code == 200


def test_a_rep_reads_only_their_territory_and_gets_403_or_404_elsewhere(served: Served) -> None:
    rep, client, day = served.headers("rep"), served.client, served.day
    own = client.get(f"/api/v1/lists/{day}", headers=rep).json()
    rows = own["inbound"] + own["proactive"] + own["flips"]
    assert rows and {r["territory"] for r in rows} == {served.territory}
    assert all(isinstance(r["talking_points"], list) for r in rows)
    assert any(r["talking_points"] for r in rows)
    everyone = client.get(f"/api/v1/lists/{day}", headers=served.headers("manager")).json()
    assert {served.territory, served.other_territory} <= {r["territory"] for r in everyone["proactive"]}

    assert (
        client.get(f"/api/v1/lists/{day}", headers=rep, params={"territory": served.other_territory}).status_code == 403
    )
    assert client.get(f"/api/v1/lists/{day}", headers=rep, params={"rep": served.other_rep_id}).status_code == 403
    mine = client.get(f"/api/v1/lists/{day}", headers=rep, params={"rep": served.rep_id}).json()
    assert {r["rep_id"] for r in mine["inbound"] + mine["proactive"]} == {served.rep_id}
    assert client.get(f"/api/v1/accounts/{served.other_account}/plan", headers=rep).status_code == 404
    assert client.get(f"/api/v1/accounts/{served.account}/plan", headers=rep).status_code == 200
    assert (
        client.get(f"/api/v1/accounts/{served.other_account}/plan", headers=served.headers("manager")).status_code
        == 200
    )
    assert client.get("/api/v1/accounts/NO-SUCH-ACCOUNT/plan", headers=rep).status_code == 404
    assert client.get("/api/v1/lists/1999-01-01", headers=rep).status_code == 404

    before = served.rows()
    refused = client.post("/api/v1/outcomes", json=outcome(served.other_account),
                          headers=served.headers("rep", **{"Idempotency-Key": "k-403"}))  # fmt: skip
    assert refused.status_code == 404
    assert served.rows() == before


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"credit_amount": -5}, "credit_amount"),
        ({"offer": "bribe"}, "offer"),
        ({"discount": 50}, "discount"),
        ({"accepted": None}, "accepted"),
        ({"new_term_months": 500}, "new_term_months"),
        ({"notes": "x" * 2001}, "notes"),
        ({"call_date": "yesterday"}, "call_date"),
        ({"offer": "rollback", "rollback_pct": 7}, "rollback_pct"),
        ({"rollback_pct": 10}, "rollback_pct"),
    ],
)
def test_a_bad_payload_gets_422_naming_the_field_and_writes_nothing(
    served: Served, change: dict[str, Any], field: str
) -> None:
    before = served.rows()
    body = {k: v for k, v in {**outcome(served.account), **change}.items() if v is not None}
    response = served.client.post("/api/v1/outcomes", json=body,
                                  headers=served.headers("rep", **{"Idempotency-Key": f"k-422-{field}"}))  # fmt: skip
    assert response.status_code == 422, response.text
    assert field in [d["field"] for d in response.json()["detail"]]
    assert "x" * 50 not in response.text, "a 422 must not echo what was sent"
    assert served.rows() == before


def test_a_missing_idempotency_key_gets_422_naming_the_header(served: Served) -> None:
    before = served.rows()
    response = served.client.post("/api/v1/outcomes", json=outcome(served.account), headers=served.headers("rep"))
    assert response.status_code == 422
    assert "idempotency-key" in [d["field"] for d in response.json()["detail"]]
    assert served.rows() == before


def test_an_oversized_body_is_refused_with_413_before_parsing(served: Served) -> None:
    limit = served.app.state.desk.config.max_body_bytes
    before = served.rows()
    headers = served.headers("rep", **{"Idempotency-Key": "k-413", "Content-Type": "application/json"})
    big = b'{"account_id": "' + b"A" * limit + b'"}'
    assert served.client.post("/api/v1/outcomes", content=big, headers=headers).status_code == 413

    def streamed() -> Iterator[bytes]:  # no Content-Length: sent chunked, counted as it arrives
        yield b'{"notes": "'
        for _ in range(limit // 1000 + 2):
            yield b"y" * 1000
        yield b'"}'

    assert served.client.post("/api/v1/outcomes", content=streamed(), headers=headers).status_code == 413
    assert served.rows() == before


def test_a_retry_with_the_same_key_records_once(served: Served) -> None:
    headers = served.headers("rep", **{"Idempotency-Key": "k-replay"})
    rate = round(0.9 * served.monthly_revenue(served.account), 2)
    body = outcome(served.account, offer="rollback", rollback_pct=10, new_monthly_rate=rate, notes="called back")
    before = served.rows()
    first = served.client.post("/api/v1/outcomes", json=body, headers=headers)
    again = served.client.post("/api/v1/outcomes", json=body, headers=headers)
    changed = served.client.post("/api/v1/outcomes", json={**body, "accepted": False}, headers=headers)
    assert (first.status_code, again.status_code, changed.status_code) == (201, 200, 409)
    assert first.json() == {**again.json(), "created": True}
    written = served.store.outcomes()
    assert len(written) == before + 1
    row = written[written["idempotency_key"] == "k-replay"].iloc[0]
    assert (row["user_name"], row["territory"], row["rollback_pct"], bool(row["accepted"])) == (
        "rita", served.territory, 10.0, True,
    )  # fmt: skip


def test_the_model_versions_in_use_are_the_registrys_champions(served: Served) -> None:
    tracker = open_tracker(load_settings(served.workspace))
    expected = {kind: tracker.champion_version(name) for kind, name in (("churn", "savedesk-churn"),
                                                                        ("save", "savedesk-save"))}  # fmt: skip
    answer = served.client.get("/api/v1/models", headers=served.headers("rep")).json()
    assert {k: (v["name"], v["version"]) for k, v in answer["in_use"].items()} == {
        k: (v.name, v.version) for k, v in expected.items() if v is not None
    }
    assert answer["agree"] is True and answer["in_use"] == answer["published"]  # nothing promoted since the night
    plan = served.client.get(f"/api/v1/accounts/{served.account}/plan", headers=served.headers("rep")).json()
    assert plan["models"] == answer["in_use"]


def test_the_rate_limit_answers_429_with_retry_after(served: Served) -> None:
    desk = served.app.state.desk
    kept, desk.limiter = desk.limiter, RateLimiter(2)
    try:
        statuses = [served.client.get("/api/v1/models", headers=served.headers("manager")) for _ in range(3)]
    finally:
        desk.limiter = kept
    assert [r.status_code for r in statuses] == [200, 200, 429]
    assert int(statuses[-1].headers["retry-after"]) >= 1


def test_the_page_keeps_the_token_in_a_lax_http_only_cookie_and_records_a_double_submit_once(
    served: Served,
) -> None:
    with TestClient(served.app) as browser:
        assert browser.post("/sign-in", data={"token": "wrong"}).status_code == 401
        signed = browser.post("/sign-in", data={"token": served.tokens["rep"]}, follow_redirects=False)
        cookie = signed.headers["set-cookie"].lower()
        assert signed.status_code == 303 and "httponly" in cookie and "samesite=lax" in cookie
        assert browser.get("/list").status_code == 200
        before = served.rows()
        token = form_token(browser.get(f"/accounts/{served.account}").text)
        form = {"idempotency_key": "page-key-1", "offer": "service_recovery", "rollback_pct": "0", "accepted": "true",
                "csrf_token": token}  # fmt: skip
        first = browser.post(f"/accounts/{served.account}/outcome", data=form, follow_redirects=False)
        second = browser.post(f"/accounts/{served.account}/outcome", data=form, follow_redirects=False)
        assert first.status_code == second.status_code == 303
        assert first.headers["location"] == second.headers["location"]
        assert served.rows() == before + 1
        shown = browser.get(first.headers["location"])
        assert "Recorded: service recovery" in shown.text
        assert browser.get(f"/accounts/{served.other_account}").status_code == 404


CALLER = {
    "account_name": "Quilty Salvage & Sons LLC",
    "contact_name": "Dolores Haze-Quilty",
    "phone": "+1-555-867-5309",
    "email": "dolores.haze@example.com",
    "street_address": "1313 Mockingbird Lane",
}
"""Contact details of the account on the line, as a rep might type them (the simulator's extract has none)."""


def test_no_pii_or_token_reaches_the_logs(served: Served, caplog: pytest.LogCaptureFixture) -> None:
    accounts = pd.read_parquet(served.workspace / "clean" / "accounts.parquet")
    pii = [c for c in sorted(PII_COLUMNS) if c in accounts]
    needles = [str(v) for c in pii for v in accounts[c].dropna().unique() if len(str(v)) >= 6]
    needles += list(CALLER.values())
    secret_note = "spoke to {contact_name} of {account_name} at {phone}, {email}, {street_address}".format(**CALLER)
    caplog.set_level(logging.DEBUG)
    client, day, rep = served.client, served.day, served.headers("rep")
    client.get("/api/v1/health")
    client.get(f"/api/v1/lists/{day}", headers=rep, params={"territory": served.territory, "rep": served.rep_id})
    client.get(f"/api/v1/lists/{day}", headers=rep, params={"territory": CALLER["account_name"]})
    client.get(f"/api/v1/accounts/{served.account}/plan", headers=rep)
    client.get(f"/api/v1/accounts/{served.other_account}/plan", headers=rep)
    client.get(f"/api/v1/accounts/{CALLER['email']}/plan", headers=rep)
    client.get("/api/v1/models", headers=rep)
    for key, body in (("k-pii", outcome(served.account, notes=secret_note)),
                      ("k-pii-bad", outcome(served.account, notes=secret_note, credit_amount=-1)),
                      ("k-pii-403", outcome(served.other_account, notes=secret_note)),
                      ("k-pii-404", outcome(CALLER["phone"], notes=secret_note))):  # fmt: skip
        client.post("/api/v1/outcomes", json=body, headers=served.headers("rep", **{"Idempotency-Key": key}))
    client.post("/api/v1/outcomes", content=secret_note.encode() * 200, headers=rep)
    client.get("/api/v1/models", headers={"Authorization": f"Bearer {CALLER['email']}"})
    with TestClient(served.app) as browser:
        browser.post("/sign-in", data={"token": CALLER["contact_name"]})
        browser.post("/sign-in", data={"token": served.tokens["rep"]})
        browser.get("/list")
        browser.get(f"/accounts/{served.account}")
        form = {"idempotency_key": "page-pii", "offer": "flip", "accepted": "false", "notes": secret_note}
        browser.post(f"/accounts/{served.account}/outcome", data=form)
        browser.post(f"/accounts/{served.account}/outcome", data={**form, "credit_amount": "-3"})
    # The test client's own loggers (httpx, httpcore) print URLs on the client side: not the server's logs.
    server = [r for r in caplog.records if not r.name.startswith(("httpx", "httpcore"))]
    assert any(r.name.startswith("httpx") for r in caplog.records), "the capture should see every logger"
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    logged = "\n".join(formatter.format(r) for r in server)
    access = [r.getMessage() for r in server if r.name == "savedesk.access"]
    assert len(access) >= 20 and any('"user": "rita"' in line for line in access)
    assert any("/api/v1/accounts/{account_id}/plan" in line for line in access)
    assert find_strings(needles, logged) == []
    assert all(t not in logged for t in served.tokens.values())
    written = served.store.outcomes()
    assert secret_note in set(written["notes"]), "the notes are stored, only never logged"


def test_a_revoked_token_stops_working_once_its_trust_has_expired(served: Served) -> None:
    now = [0.0]
    tokens = TokenCache(served.store, seconds=2.0, clock=lambda: now[0])
    token = served.store.add_user("short-lived", Role.MANAGER)
    assert tokens.user(token) is not None
    served.store.revoke_user("short-lived")
    now[0] = 1.0
    assert tokens.user(token) is not None, "trusted for 2 s without asking the store"
    now[0] = 2.5
    assert tokens.user(token) is None
    assert tokens.user("never-issued") is None


def test_an_outcome_recorded_through_the_api_is_in_the_next_training_data(served: Served) -> None:
    from pipelines.workspace import open_workspace

    folder = served.workspace / "published" / served.day
    inbound = pd.read_parquet(folder / "inbound.parquet", columns=["request_id", "account_id"])
    assert len(inbound), "the test hauler has no open request to answer"
    request, account = str(inbound["request_id"].iloc[0]), str(inbound["account_id"].iloc[0])
    # Dated on the business date: the feed places an outcome inside the extract it joins (a later call waits
    # for the extract that covers its day).
    body = outcome(
        account, request_id=request, offer="rollback", rollback_pct=5, new_term_months=24, call_date=served.day
    )
    answer = served.client.post(
        "/api/v1/outcomes", json=body, headers=served.headers("manager", **{"Idempotency-Key": "k-feed"})
    )
    assert answer.status_code == 201, answer.text
    settings = load_settings(served.workspace).model_copy(update={"outcomes_url": served.outcomes_url})
    tables = open_workspace(settings).tables
    attempts = tables["save_attempts"].collect().to_pandas()
    mine = attempts[attempts["request_id"] == request]
    desk = mine[mine["attempt_id"].str.startswith("desk-")]
    assert len(desk) == 1
    assert (desk["offer"].iloc[0], float(desk["rollback_pct"].iloc[0]), bool(desk["accepted"].iloc[0])) == (
        "rollback", 5.0, True,
    )  # fmt: skip
    requests = tables["cancellation_requests"].collect().to_pandas()
    assert requests.loc[requests["request_id"] == request, "resolution"].tolist() == ["saved"]
