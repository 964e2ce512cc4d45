"""The rep page in a real browser: headless Chromium (Debian's package) against ``savedesk serve``.

A rep signs in with a token, opens the day's list, opens an account from it,
records the call's outcome, and sees it on the page and in the outcomes store.
The server is the real command in a child process on a free port, over the
published test workspace and a fresh outcomes store.
"""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pandas as pd
import pytest
from playwright.sync_api import Page, expect, sync_playwright

from serving.auth import Role
from serving.store import OutcomesStore

pytestmark = pytest.mark.slow
CHROMIUM = Path("/usr/bin/chromium")


def _workspace_builder() -> object:
    """``tests/serving/published_workspace.py``, shared with the API tests (one build per test run)."""
    path = Path(__file__).parents[1] / "serving" / "published_workspace.py"
    spec = importlib.util.spec_from_file_location("published_workspace", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    base: str
    store: OutcomesStore
    token: str
    territory: str
    account: str
    log: Path
    monthly_revenue: float
    """The account's current monthly rate (an outcome's new rate must be in proportion to it)."""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Iterator[Server]:
    """``savedesk serve`` over the published workspace, with one rep user."""
    workspace = _workspace_builder().published_workspace(tmp_path_factory, worker_id)  # type: ignore[attr-defined]
    scratch = tmp_path_factory.mktemp("browser")
    url = f"sqlite:///{scratch / 'outcomes.db'}"
    published = workspace / "published"
    day = max(p.name for p in published.iterdir() if not p.name.startswith("."))
    listed = pd.read_parquet(published / day / "proactive.parquet")
    first = listed.sort_values(["rep_id", "rank"]).iloc[0]
    context = pd.read_parquet(workspace / "features" / "nightly" / f"as_of={day}.parquet").set_index("account_id")
    revenue = float(context.at[str(first["account_id"]), "monthly_revenue"])
    store = OutcomesStore.open(url)
    token = store.add_user("rita", Role.REP, [str(first["territory"])], str(first["rep_id"]))
    port = free_port()
    env = {**os.environ, "SAVEDESK_OUTCOMES_URL": url, "OMP_WAIT_POLICY": "passive", "MLFLOW_DISABLE_TELEMETRY": "true"}
    savedesk = str(Path(sys.executable).with_name("savedesk"))
    log = (scratch / "server.log").open("wb")
    process = subprocess.Popen(  # noqa: S603
        [savedesk, "serve", "--data", str(workspace), "--port", str(port)], env=env, stdout=log, stderr=log
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while True:
        assert process.poll() is None, (scratch / "server.log").read_text()[-3000:]
        try:
            if httpx.get(f"{base}/api/v1/health", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, "savedesk serve did not answer within 180 s"
        time.sleep(0.5)
    yield Server(base, store, token, str(first["territory"]), str(first["account_id"]), scratch / "server.log", revenue)
    process.terminate()
    process.wait(timeout=30)
    log.close()
    store.dispose()


@pytest.fixture(scope="module")
def page() -> Iterator[Page]:
    """A headless Chromium page; fails (never skips) when Debian's chromium is missing."""
    assert CHROMIUM.exists(), (
        f"{CHROMIUM} is missing: install Debian's chromium package (apt-get install chromium); "
        "the browser tests need it and `playwright install` cannot download here"
    )
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        yield browser.new_page()
        browser.close()


def test_a_rep_signs_in_opens_an_account_from_the_list_and_records_the_call(server: Server, page: Page) -> None:
    page.goto(f"{server.base}/")
    page.fill("#token", server.token)
    page.click("button[type=submit]")
    expect(page).to_have_url(f"{server.base}/list")
    expect(page.locator("h1")).to_contain_text("Call list")
    assert page.locator("table.list tbody tr").count() > 0
    cookies = {c["name"]: c for c in page.context.cookies()}
    assert cookies["savedesk_token"]["httpOnly"] and cookies["savedesk_token"]["sameSite"] == "Lax"

    page.click(f"a[href='/accounts/{server.account}']")
    expect(page.locator("h1")).to_have_text(server.account)
    expect(page.locator("#recommendation")).not_to_be_empty()
    assert page.locator("ul.points li").count() > 0

    page.select_option("#offer", "rollback")
    page.select_option("#rollback_pct", "10")
    page.check("#accepted_yes")
    new_rate = round(0.9 * server.monthly_revenue, 2)
    page.fill("#new_monthly_rate", f"{new_rate:.2f}")
    page.fill("#notes", "agreed after the rollback")
    page.click("#record")
    expect(page.locator("#recorded")).to_contain_text("Recorded: rollback 10 %, accepted")

    written = server.store.outcomes(server.account)
    assert len(written) == 1
    row = written.iloc[0]
    assert (row["offer"], row["rollback_pct"], bool(row["accepted"]), row["new_monthly_rate"], row["user_name"]) == (
        "rollback", 10.0, True, new_rate, "rita",
    )  # fmt: skip
    assert row["territory"] == server.territory

    page.reload()  # the browser re-sends nothing: the page shows the account with its recorded outcome
    expect(page.locator("table.history tbody tr")).to_have_count(1)
    assert len(server.store.outcomes(server.account)) == 1

    logged = server.log.read_text()
    assert '"route": "/accounts/{account_id}/outcome"' in logged and '"user": "rita"' in logged
    assert "agreed after the rollback" not in logged and server.token not in logged


def test_signing_in_with_a_wrong_token_shows_why_and_sets_no_cookie(server: Server, page: Page) -> None:
    page.context.clear_cookies()
    page.goto(f"{server.base}/")
    page.fill("#token", "not-a-token")
    page.click("button[type=submit]")
    expect(page.locator(".error")).to_contain_text("not valid")
    assert not page.context.cookies()
    page.goto(f"{server.base}/list")
    expect(page).to_have_url(f"{server.base}/")


@dataclass
class Site:
    """Another web site on this machine: ``pages`` served at ``http://<host>:<port>/<name>``."""

    folder: Path
    port: int

    def url(self, host: str, name: str) -> str:
        return f"http://{host}:{self.port}/{name}"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """A plain static web server on another port (a CRM, a mail client's web view, or an attacker's page)."""
    folder = tmp_path_factory.mktemp("site")
    handler = partial(SimpleHTTPRequestHandler, directory=str(folder))
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield Site(folder, int(httpd.server_address[1]))
    httpd.shutdown()
    httpd.server_close()


def sign_in(server: Server, page: Page) -> None:
    page.context.clear_cookies()
    page.goto(f"{server.base}/")
    page.fill("#token", server.token)
    page.click("button[type=submit]")
    expect(page).to_have_url(f"{server.base}/list")


def test_a_link_from_another_site_opens_the_account_without_signing_the_rep_out(
    server: Server, page: Page, site: Site
) -> None:
    sign_in(server, page)
    (site.folder / "crm.html").write_text(f'<a id="open" href="{server.base}/accounts/{server.account}">open</a>')
    page.goto(site.url("localhost", "crm.html"))  # localhost is another site than 127.0.0.1
    page.click("#open")
    expect(page).to_have_url(f"{server.base}/accounts/{server.account}")
    expect(page.locator("h1")).to_have_text(server.account)
    assert "savedesk_token" in {c["name"] for c in page.context.cookies()}, "the session survives the link"


def test_a_form_posted_from_another_port_of_the_same_host_records_nothing(
    server: Server, page: Page, site: Site
) -> None:
    sign_in(server, page)
    before = len(server.store.outcomes(server.account))
    fields = {"idempotency_key": "forged", "offer": "rollback", "rollback_pct": "20", "accepted": "true"}
    inputs = "".join(f'<input type="hidden" name="{k}" value="{v}">' for k, v in fields.items())
    (site.folder / "attack.html").write_text(
        f'<form id="f" method="post" action="{server.base}/accounts/{server.account}/outcome">{inputs}</form>'
        '<script>document.getElementById("f").submit()</script>'
    )
    page.goto(site.url("127.0.0.1", "attack.html"))  # same site, another origin (port)
    page.wait_for_url(f"{server.base}/**")
    page.wait_for_load_state()
    assert len(server.store.outcomes(server.account)) == before, "a forged form must record nothing"
    assert "reload" in page.content().lower()
