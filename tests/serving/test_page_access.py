"""Who can do what from where: forms only from the desk's own origin with the session's token, a session that a
link from the CRM does not end, and no answer that tells a rep an account outside their territories exists.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from published_workspace import published_workspace
from served_app import Served, form_token, outcome, serve, signed_in

pytestmark = pytest.mark.slow
UNKNOWN = "NO-SUCH-ACCOUNT"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Iterator[Served]:
    url = f"sqlite:///{tmp_path_factory.mktemp('access-store') / 'outcomes.db'}"
    with serve(published_workspace(tmp_path_factory, worker_id), url, raise_server_exceptions=False) as served:
        yield served


# --- 6. cross-site request forgery ----------------------------------------------------------------------------------


def test_a_form_from_another_origin_or_without_the_sessions_token_records_nothing(served: Served) -> None:
    url = f"/accounts/{served.account}/outcome"
    rollback = {"offer": "rollback", "rollback_pct": "20", "accepted": "true"}
    with signed_in(served) as browser:
        token = form_token(browser.get(f"/accounts/{served.account}").text)
        before = served.rows()
        forged = [
            ({"Origin": "http://testserver:9999"}, token),  # same site, another port: the reported attack
            ({"Origin": "http://evil.example"}, token),
            ({"Origin": "null"}, token),
            ({"Referer": "http://testserver:8080/attack.html"}, token),
            ({}, ""),  # no token
            ({}, "0" * 64),  # a wrong token
            ({"Origin": "http://testserver"}, ""),
        ]
        for n, (headers, csrf) in enumerate(forged):
            form = {**rollback, "idempotency_key": f"forged-{n}", "csrf_token": csrf}
            answer = browser.post(url, data=form, headers=headers, follow_redirects=False)
            assert answer.status_code == 403, (headers, csrf[:4], answer.status_code)
            assert "reload" in answer.text.lower()
        assert served.rows() == before

        own = browser.post(url, data={**rollback, "idempotency_key": "own-origin", "csrf_token": token},
                           headers={"Origin": "http://testserver"}, follow_redirects=False)  # fmt: skip
        assert own.status_code == 303, own.text
        assert served.rows() == before + 1


def test_sign_in_and_sign_out_refuse_another_origin(served: Served) -> None:
    with signed_in(served) as browser:
        token = form_token(browser.get("/list").text)
        assert token, "the list page's sign-out form carries the session's token"
        out = browser.post("/sign-out", data={"csrf_token": token}, headers={"Origin": "http://testserver:9999"},
                           follow_redirects=False)  # fmt: skip
        assert out.status_code == 403
        assert browser.post("/sign-out", data={}, follow_redirects=False).status_code == 403
        assert browser.get("/list").status_code == 200, "still signed in"
        done = browser.post("/sign-out", data={"csrf_token": token}, follow_redirects=False)
        assert done.status_code == 303
    with TestClient(served.app) as fresh:
        answer = fresh.post("/sign-in", data={"token": served.tokens["rep"]}, headers={"Origin": "http://evil.example"},
                            follow_redirects=False)  # fmt: skip
        assert answer.status_code == 403 and "set-cookie" not in answer.headers


# --- 7. a link from the CRM ------------------------------------------------------------------------------------------


def test_the_session_cookie_is_lax_and_a_visit_without_it_does_not_sign_the_rep_out(served: Served) -> None:
    with TestClient(served.app) as browser:
        signed = browser.post("/sign-in", data={"token": served.tokens["rep"]}, follow_redirects=False)
        cookie = signed.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=lax" in cookie and "samesite=strict" not in cookie
    with TestClient(served.app) as stranger:  # a navigation that carries no cookie
        landed = stranger.get(f"/accounts/{served.account}", follow_redirects=False)
        assert landed.status_code == 303 and landed.headers["location"].startswith("/")
        assert "savedesk_token" not in landed.headers.get("set-cookie", ""), "an absent cookie is not deleted"
        stale = stranger.get("/list", headers={"Cookie": "savedesk_token=revoked-or-unknown"}, follow_redirects=False)
        assert stale.status_code == 303 and "savedesk_token" in stale.headers.get("set-cookie", "")


# --- 11. 404, not 403 ------------------------------------------------------------------------------------------------


def same_answer(other: str, unknown: str, served: Served) -> None:
    assert other.replace(served.other_account, "X") == unknown.replace(UNKNOWN, "X")
    assert served.other_territory not in other


def test_an_account_outside_the_reps_territories_answers_as_an_unknown_one(served: Served) -> None:
    rep, client = served.headers("rep"), served.client
    other = client.get(f"/api/v1/accounts/{served.other_account}/plan", headers=rep)
    unknown = client.get(f"/api/v1/accounts/{UNKNOWN}/plan", headers=rep)
    assert other.status_code == unknown.status_code == 404
    same_answer(other.text, unknown.text, served)

    before = served.rows()
    answers = [
        client.post("/api/v1/outcomes", json=outcome(a), headers=served.headers("rep", **{"Idempotency-Key": f"k-{a}"}))
        for a in (served.other_account, UNKNOWN)
    ]
    assert [a.status_code for a in answers] == [404, 404]
    same_answer(answers[0].text, answers[1].text, served)
    assert served.rows() == before

    with signed_in(served) as browser:
        pages = [browser.get(f"/accounts/{a}") for a in (served.other_account, UNKNOWN)]
        assert [p.status_code for p in pages] == [404, 404]
        same_answer(pages[0].text, pages[1].text, served)
        token = form_token(browser.get(f"/accounts/{served.account}").text)
        form = {"offer": "flip", "rollback_pct": "0", "accepted": "false", "csrf_token": token}
        posted = [browser.post(f"/accounts/{a}/outcome", data={**form, "idempotency_key": f"p-{a}"})
                  for a in (served.other_account, UNKNOWN)]  # fmt: skip
        assert [p.status_code for p in posted] == [404, 404]
        same_answer(posted[0].text, posted[1].text, served)
    assert served.rows() == before
    assert client.get(f"/api/v1/accounts/{served.other_account}/plan", headers=served.headers("manager")).is_success
