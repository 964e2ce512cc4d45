"""Account ids of any spelling open from every link the pages build, and a locked store answers 503, not 500."""

from __future__ import annotations

import contextlib
import html
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pandas as pd
import pytest
import sqlalchemy as sa
from published_workspace import published_workspace
from served_app import Served, form_token, latest_day, outcome, serve, signed_in
from store_locks import sqlite_write_lock

import serving.store

pytestmark = pytest.mark.slow
ODD = "AC/ME 7?#%&é+"
"""An account id with every character a URL treats specially."""


@pytest.fixture(scope="module")
def odd(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Iterator[tuple[Served, str]]:
    """The published workspace, copied, with the first proactive row's account renamed ``ODD``; and its territory."""
    source = published_workspace(tmp_path_factory, worker_id)
    workspace = Path(shutil.copytree(source, tmp_path_factory.mktemp("odd") / "ws", symlinks=True))
    day = latest_day(workspace)
    lists = workspace / "published" / day / "proactive.parquet"
    rows = pd.read_parquet(lists)
    original = str(rows.at[0, "account_id"])
    rows.loc[0, "account_id"] = ODD
    rows.to_parquet(lists)
    context_file = workspace / "features" / "nightly" / f"as_of={day}.parquet"
    context = pd.read_parquet(context_file)
    copy = context[context["account_id"] == original].assign(account_id=ODD)
    pd.concat([context, copy], ignore_index=True).to_parquet(context_file)
    with serve(workspace, f"sqlite:///{workspace / 'outcomes.db'}", raise_server_exceptions=False) as served:
        yield served, str(rows.at[0, "territory"])


def test_an_odd_account_id_opens_from_the_list_and_records_from_its_form(odd: tuple[Served, str]) -> None:
    served, territory = odd
    encoded = quote(ODD, safe="")
    with signed_in(served, "manager") as browser:
        listed = browser.get("/list", params={"territory": territory})
        assert listed.status_code == 200
        assert f'href="/accounts/{encoded}"' in listed.text, re.findall(r'href="/accounts/[^"]*"', listed.text)[:3]
        page = browser.get(f"/accounts/{encoded}")
        assert page.status_code == 200, page.text[:300]
        assert f"<h1>{html.escape(ODD)}</h1>" in page.text
        assert f'action="/accounts/{encoded}/outcome"' in page.text
        form = {"idempotency_key": "odd-1", "csrf_token": form_token(page.text), "offer": "flip", "rollback_pct": "0",
                "accepted": "false"}  # fmt: skip
        recorded = browser.post(f"/accounts/{encoded}/outcome", data=form, follow_redirects=False)
        assert recorded.status_code == 303
        assert recorded.headers["location"].startswith(f"/accounts/{encoded}?recorded=")
        assert "Recorded: flip" in browser.get(recorded.headers["location"]).text
    plan = served.client.get(f"/api/v1/accounts/{encoded}/plan", headers=served.headers("manager"))
    assert plan.status_code == 200 and plan.json()["account_id"] == ODD
    assert served.store.outcomes(ODD)["account_id"].tolist() == [ODD]


@contextlib.contextmanager
def locked(url: str) -> Iterator[None]:
    """Hold the outcomes table's write lock, as a long writer would."""
    if url.startswith("sqlite"):
        with sqlite_write_lock(url):
            yield
        return
    engine = sa.create_engine(url, poolclass=sa.NullPool)
    with engine.connect() as connection:
        connection.exec_driver_sql("LOCK TABLE outcomes IN EXCLUSIVE MODE")
        try:
            yield
        finally:
            connection.rollback()
    engine.dispose()


def test_a_store_locked_past_the_wait_answers_503_with_retry_after(
    store_url: str, tmp_path_factory: pytest.TempPathFactory, worker_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(serving.store, "STORE_WAIT_SECONDS", 0.5)
    with serve(published_workspace(tmp_path_factory, worker_id), store_url, raise_server_exceptions=False) as served:
        before = served.rows()
        with locked(store_url):
            answer = served.client.post("/api/v1/outcomes", json=outcome(served.account),
                                        headers=served.headers("rep", **{"Idempotency-Key": "k-busy"}))  # fmt: skip
            assert answer.status_code == 503, answer.text
            assert int(answer.headers["retry-after"]) >= 1
            assert "try again" in answer.json()["detail"]
            with signed_in(served) as browser:
                page = browser.get(f"/accounts/{served.account}")
                form = {"idempotency_key": "page-busy", "csrf_token": form_token(page.text), "offer": "flip",
                        "rollback_pct": "0", "accepted": "false"}  # fmt: skip
                shown = browser.post(f"/accounts/{served.account}/outcome", data=form)
                assert shown.status_code == 503 and "retry-after" in shown.headers
                assert "try again" in shown.text
        assert served.rows() == before
        again = served.client.post("/api/v1/outcomes", json=outcome(served.account),
                                   headers=served.headers("rep", **{"Idempotency-Key": "k-busy"}))  # fmt: skip
        assert again.status_code == 201, "nothing was half-written: the retry records it"
