"""The API and the rep page over the published test workspace, with users, for the API and hardening tests.

``serve(workspace, url)`` opens a fresh outcomes store at ``url``, adds four users (a rep, a rep of another
territory, a manager and a revoked rep) and yields the app with a test client and what the tests need to know
about the published day: two territories, their reps, an account of each.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from fastapi import FastAPI
from fastapi.testclient import TestClient

from pipelines.services import desk_app
from pipelines.settings import load_settings
from serving.auth import Role
from serving.publication.catalog import LIST_FILES
from serving.store import OutcomesStore


@dataclass
class Served:
    """The app, its store and who may use it."""

    app: FastAPI
    client: TestClient
    store: OutcomesStore
    workspace: Path
    day: str
    tokens: dict[str, str]
    territory: str
    """The rep's territory."""
    other_territory: str
    rep_id: str
    other_rep_id: str
    account: str
    """An account of the rep's territory (with an open request when there is one)."""
    other_account: str
    """An account of another territory."""
    outcomes_url: str = ""
    """The store's URL, for reading the workspace as training does."""

    def headers(self, who: str, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}", **extra}

    def rows(self) -> int:
        return len(self.store.outcomes())

    def monthly_revenue(self, account: str) -> float:
        """The account's current monthly rate in the night's context (what the desk judges money against)."""
        context = self.app.state.desk.planner.night().context
        return float(context.at[account, "monthly_revenue"])


def latest_day(workspace: Path) -> str:
    """The latest published business date of a workspace, as its folder is named."""
    return max(p.name for p in (workspace / "published").iterdir() if not p.name.startswith("."))


@contextmanager
def serve(workspace: Path, url: str, *, raise_server_exceptions: bool = True) -> Iterator[Served]:
    """The app over ``workspace`` with a fresh store at ``url`` and four users (one revoked)."""
    settings = load_settings(workspace).model_copy(update={"outcomes_url": url})
    day = latest_day(workspace)
    folder = settings.published_dir / day
    files = [folder / f for f in LIST_FILES.values()]
    listed = pd.concat([pd.read_parquet(f) for f in files if f.is_file()], ignore_index=True)
    by_size = listed.groupby("territory").size().sort_values(ascending=False)
    territory, other_territory = by_size.index[0], by_size.index[1]
    mine, theirs = listed[listed["territory"] == territory], listed[listed["territory"] == other_territory]
    asked = mine[mine["request_id"].notna()] if "request_id" in mine else mine.iloc[0:0]
    store = OutcomesStore.open(url)
    tokens = {
        "rep": store.add_user("rita", Role.REP, [territory], str(mine["rep_id"].iloc[0])),
        "other_rep": store.add_user("oscar", Role.REP, [other_territory], str(theirs["rep_id"].iloc[0])),
        "manager": store.add_user("maya", Role.MANAGER),
        "revoked": store.add_user("gone", Role.REP, [territory], str(mine["rep_id"].iloc[0])),
    }
    store.revoke_user("gone")
    app = desk_app(settings, warm="none")
    try:
        with TestClient(app, raise_server_exceptions=raise_server_exceptions) as client:
            yield Served(
                app, client, store, workspace, day, tokens, territory, other_territory,
                str(mine["rep_id"].iloc[0]), str(theirs["rep_id"].iloc[0]),
                str((asked if len(asked) else mine)["account_id"].iloc[0]), str(theirs["account_id"].iloc[0]), url,
            )  # fmt: skip
    finally:
        store.dispose()


def outcome(account: str, **fields: Any) -> dict[str, Any]:
    """An outcome's JSON body: contract education the customer accepted, with ``fields``."""
    return {"account_id": account, "offer": "contract_education", "accepted": True, **fields}


@contextmanager
def signed_in(served: Served, who: str = "rep") -> Iterator[TestClient]:
    """A browser of its own (cookies apart from ``served.client``), signed in as ``who``."""
    with TestClient(served.app, raise_server_exceptions=False) as browser:
        answer = browser.post("/sign-in", data={"token": served.tokens[who]}, follow_redirects=False)
        assert answer.status_code == 303, answer.text
        yield browser


def form_token(page: str) -> str:
    """The CSRF token of a page's forms (empty when the page has none)."""
    found = re.search(r'name="csrf_token" value="([^"]*)"', page)
    return found.group(1) if found else ""
