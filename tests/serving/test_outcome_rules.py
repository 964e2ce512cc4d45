"""What an outcome must be to be stored, on SQLite and PostgreSQL: a sane call date, text without control
characters, a request of its own account (open or closed), money in proportion to the account's rate.

Each rule is checked where the outcome enters (the API and the page's form), answers 422 with a sentence that
names the field, and writes nothing.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa
from published_workspace import published_workspace
from served_app import Served, form_token, outcome, serve, signed_in

from serving.outcomes import desk_today
from serving.store_schema import outcomes

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def served(module_store_url: str, tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Iterator[Served]:
    """The app over the published workspace with a fresh store on each engine; server errors answer 500."""
    with serve(published_workspace(tmp_path_factory, worker_id), module_store_url,
               raise_server_exceptions=False) as served:  # fmt: skip
        yield served


def post(served: Served, body: dict[str, Any], key: str, who: str = "rep") -> Any:
    return served.client.post("/api/v1/outcomes", json=body, headers=served.headers(who, **{"Idempotency-Key": key}))


def refused(served: Served, body: dict[str, Any], key: str, field: str) -> str:
    """Post ``body``; assert it is refused with 422 naming ``field`` and nothing written; return the message."""
    before = served.rows()
    answer = post(served, body, key)
    assert answer.status_code == 422, (body, answer.status_code, answer.text)
    problems = answer.json()["detail"]
    assert field in [p["field"] for p in problems], problems
    assert served.rows() == before
    return " ".join(p["msg"] for p in problems if p["field"] == field)


def today(served: Served) -> datetime.date:
    return desk_today(served.app.state.desk.config.time_zone)


# --- 1. call dates ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("day", ["0001-01-01", "1999-12-31", "2262-04-12", "2263-01-01", "2099-06-30", "+3"])
def test_a_call_date_outside_the_declared_range_gets_422(served: Served, day: str) -> None:
    sent = (today(served) + datetime.timedelta(days=3)).isoformat() if day == "+3" else day
    message = refused(served, outcome(served.account, call_date=sent), f"k-date-{day}", "call_date")
    assert "call_date" in message or "call date" in message.lower()


def test_the_earliest_day_and_today_are_accepted(served: Served) -> None:
    for n, day in enumerate(("2000-01-01", today(served).isoformat(), None)):
        body = outcome(served.account, **({"call_date": day} if day else {}))
        assert post(served, body, f"k-date-ok-{n}").status_code == 201


def test_the_page_refuses_a_call_date_outside_the_range(served: Served) -> None:
    with signed_in(served) as browser:
        page = browser.get(f"/accounts/{served.account}")
        before = served.rows()
        form = {"idempotency_key": "page-date", "csrf_token": form_token(page.text), "offer": "flip",
                "rollback_pct": "0", "accepted": "false", "call_date": "0001-01-01"}  # fmt: skip
        answer = browser.post(f"/accounts/{served.account}/outcome", data=form, follow_redirects=False)
        assert answer.status_code == 422 and "call_date" in answer.text
        assert served.rows() == before


def test_the_account_page_renders_with_a_bad_stored_outcome(served: Served) -> None:
    """A row written before the API checked dates (or by hand) shows as unreadable; it does not break the page."""
    good = post(served, outcome(served.account, notes="before the bad row"), "k-before-bad")
    assert good.status_code == 201
    engine = sa.create_engine(served.outcomes_url, poolclass=sa.NullPool)
    with engine.begin() as connection:
        query = sa.select(outcomes).where(outcomes.c.idempotency_key == "k-before-bad")
        row = connection.execute(query).mappings().one()
        bad = {**row, "idempotency_key": "k-bad-row", "call_date": datetime.date(1, 1, 1)}
        connection.execute(outcomes.insert().values({k: v for k, v in bad.items() if k != "outcome_id"}))
    engine.dispose()
    with signed_in(served) as browser:
        page = browser.get(f"/accounts/{served.account}")
    assert page.status_code == 200, page.text[:500]
    assert "unreadable" in page.text
    history = served.store.outcomes(served.account)
    assert history["call_date"].isna().sum() == 1 and history["call_date"].notna().any()


# --- 2. control characters -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"notes": "called back\x00 at noon"}, "notes"),
        ({"notes": "red \x1b[31m alert"}, "notes"),
        ({"request_id": "CR\x000001"}, "request_id"),
        ({"request_id": "CR0001\n"}, "request_id"),
    ],
)
def test_a_nul_or_control_character_gets_422_on_every_engine(
    served: Served, change: dict[str, str], field: str
) -> None:
    refused(served, outcome(served.account, **change), f"k-nul-{field}-{change[field].encode().hex()}", field)


def test_notes_keep_their_line_breaks_and_tabs(served: Served) -> None:
    note = "Line one\n\tline two\r\nline three"
    assert post(served, outcome(served.account, notes=note), "k-notes-lines").status_code == 201
    assert note in set(served.store.outcomes(served.account)["notes"])


def test_the_page_refuses_a_nul_in_notes_or_key_without_a_server_error(served: Served) -> None:
    with signed_in(served) as browser:
        page = browser.get(f"/accounts/{served.account}")
        before = served.rows()
        form = {"idempotency_key": "page-nul", "csrf_token": form_token(page.text), "offer": "flip",
                "rollback_pct": "0", "accepted": "false"}  # fmt: skip
        for change in ({"notes": "a\x00b"}, {"idempotency_key": "page\x00nul"}):
            answer = browser.post(f"/accounts/{served.account}/outcome", data={**form, **change},
                                  follow_redirects=False)  # fmt: skip
            assert answer.status_code == 422, (change, answer.status_code)
        assert served.rows() == before


# --- 10. consistency with the workspace ------------------------------------------------------------------------------


def closed_requests(served: Served) -> pd.DataFrame:
    requests = pd.read_parquet(served.workspace / "clean" / "cancellation_requests.parquet")
    return requests[requests["resolution"] != "open"]


def test_another_accounts_closed_request_gets_422(served: Served) -> None:
    closed = closed_requests(served)
    theirs = closed[closed["account_id"] != served.account].iloc[0]
    message = refused(served, outcome(served.account, request_id=str(theirs["request_id"])), "k-req", "request_id")
    assert "another account" in message
    assert str(theirs["account_id"]) not in message, "the answer must not name the other account"


def test_an_accounts_own_closed_request_is_accepted(served: Served) -> None:
    context = served.app.state.desk.planner.night().context
    mine = set(context.index[context["territory"] == served.territory])
    closed = closed_requests(served)
    own = closed[closed["account_id"].isin(mine)].iloc[0]
    body = outcome(str(own["account_id"]), request_id=str(own["request_id"]))
    answer = post(served, body, "k-own-closed")
    assert answer.status_code == 201, answer.text


def test_money_out_of_proportion_to_the_accounts_rate_gets_422(served: Served) -> None:
    revenue = served.monthly_revenue(served.account)
    message = refused(served, outcome(served.account, credit_amount=100_000), "k-credit", "credit_amount")
    assert "month" in message
    refused(served, outcome(served.account, new_monthly_rate=1_000_000), "k-rate", "new_monthly_rate")
    refused(served, outcome(served.account, new_monthly_rate=round(revenue * 10, 2)), "k-rate-10x", "new_monthly_rate")
    sane = outcome(served.account, credit_amount=round(revenue, 2), new_monthly_rate=round(revenue * 1.2, 2))
    assert post(served, sane, "k-money-ok").status_code == 201
