"""Outcomes within the rules in a real browser: a rep's rollback beyond authority waits, a manager approves it, the
updated agreement prints.

Headless Chromium (Debian's package) against ``savedesk serve`` in a child process over the published test
workspace and a fresh outcomes store, as ``test_rep_page.py``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pandas as pd
import pytest
from playwright.sync_api import Page, expect, sync_playwright
from test_rep_page import CHROMIUM, _workspace_builder, free_port

from models.offers import offer_terms
from pipelines.settings import load_settings
from serving.auth import Role
from serving.store import OutcomesStore

pytestmark = pytest.mark.slow


@dataclass
class Desk:
    base: str
    store: OutcomesStore
    rep_token: str
    manager_token: str
    account: str
    monthly_revenue: float


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Iterator[Desk]:
    """``savedesk serve`` with a rep and a manager, and an account where a 20 % rollback stays above the floor."""
    workspace = _workspace_builder().published_workspace(tmp_path_factory, worker_id)  # type: ignore[attr-defined]
    scratch = tmp_path_factory.mktemp("approvals-browser")
    url = f"sqlite:///{scratch / 'outcomes.db'}"
    day = max(p.name for p in (workspace / "published").iterdir() if not p.name.startswith("."))
    context = pd.read_parquet(workspace / "features" / "nightly" / f"as_of={day}.parquet")
    save = load_settings(workspace).save
    terms = offer_terms(context, save.offers)
    kept = terms[terms["offer"] == "contract_education"].reset_index(drop=True)
    floor = kept["monthly_cost_to_serve"] * (1 + save.guardrails.min_margin_pct / 100)
    fits = kept[kept["monthly_revenue"] * 0.8 >= floor * 1.01]  # only the rep's authority holds a 20 % rollback
    account = str(fits["account_id"].iloc[0])
    territory = str(context.set_index("account_id").at[account, "territory"])
    store = OutcomesStore.open(url)
    rep = store.add_user("rita", Role.REP, [territory], "R-RITA")
    manager = store.add_user("maya", Role.MANAGER)
    port = free_port()
    env = {**os.environ, "SAVEDESK_OUTCOMES_URL": url, "OMP_WAIT_POLICY": "passive", "MLFLOW_DISABLE_TELEMETRY": "true"}
    log = (scratch / "server.log").open("wb")
    process = subprocess.Popen(  # noqa: S603
        [str(Path(sys.executable).with_name("savedesk")), "serve", "--data", str(workspace), "--port", str(port)],
        env=env, stdout=log, stderr=log,
    )  # fmt: skip
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
    revenue = float(fits["monthly_revenue"].iloc[0])
    yield Desk(base, store, rep, manager, account, revenue)
    process.terminate()
    process.wait(timeout=30)
    log.close()
    store.dispose()


@pytest.fixture(scope="module")
def page() -> Iterator[Page]:
    """A headless Chromium page; fails (never skips) when Debian's chromium is missing."""
    assert CHROMIUM.exists(), f"{CHROMIUM} is missing: install Debian's chromium package (apt-get install chromium)"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        yield browser.new_page()
        browser.close()


def sign_in(page: Page, desk: Desk, token: str) -> None:
    page.context.clear_cookies()
    page.goto(f"{desk.base}/")
    page.fill("#token", token)
    page.click("button[type=submit]")
    expect(page).to_have_url(f"{desk.base}/list")


def test_a_rollback_beyond_authority_waits_a_manager_approves_and_the_agreement_prints(desk: Desk, page: Page) -> None:
    sign_in(page, desk, desk.rep_token)
    page.goto(f"{desk.base}/accounts/{desk.account}")
    page.select_option("#offer", "rollback")
    page.select_option("#rollback_pct", "20")
    page.check("#accepted_yes")
    new_rate = round(0.8 * desk.monthly_revenue, 2)
    page.fill("#new_monthly_rate", f"{new_rate:.2f}")
    page.fill("#new_term_months", "24")
    page.click("#record")
    expect(page.locator("#recorded")).to_contain_text("Recorded: rollback 20 %, accepted")
    expect(page.locator("#standing")).to_contain_text("awaiting a manager's approval")
    expect(page.locator("#proposal-link")).to_have_count(0)  # nothing to hand the customer yet
    row = desk.store.outcomes(desk.account).iloc[-1]
    assert (row["approval"], row["held_for"]) == ("pending", "rep_authority")
    outcome_id = int(row["outcome_id"])

    page.goto(f"{desk.base}/approvals")  # a rep sees it waiting, and cannot decide it
    expect(page.locator(f"#pending-{outcome_id}")).to_be_visible()
    expect(page.locator(f"#approve-{outcome_id}")).to_have_count(0)

    sign_in(page, desk, desk.manager_token)
    page.goto(f"{desk.base}/approvals")
    page.fill(f"#note-{outcome_id}", "long-standing customer")
    page.click(f"#approve-{outcome_id}")
    expect(page.locator("#decided")).to_contain_text("approved")
    assert desk.store.outcome(outcome_id)["approval"] == "approved"  # type: ignore[index]
    assert desk.store.decisions(outcome_id)["action"].tolist() == ["held", "approved"]

    page.click("#proposal-link")
    expect(page.locator("#proposal h1")).to_have_text("Updated service agreement")
    expect(page.locator("#rate-after")).to_contain_text(f"{new_rate:,.2f}")
    expect(page.locator("#term")).to_contain_text("24 months")
    page.emulate_media(media="print")
    expect(page.locator("#proposal")).to_be_visible()
    expect(page.locator("header.bar")).to_be_hidden()
    expect(page.locator("p.no-print").first).to_be_hidden()
    expect(page.locator("footer.models")).to_be_hidden()  # model versions are not for the customer
    pdf = page.pdf(format="Letter")
    assert pdf.startswith(b"%PDF")
    assert pdf.count(b"/Type /Page") - pdf.count(b"/Type /Pages") == 1  # one page for the customer
    page.emulate_media(media="screen")
