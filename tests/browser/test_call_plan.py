"""The call plan in a real browser: the deal a rep puts to the customer, and pages that fit a phone.

Headless Chromium (Debian's package) against ``savedesk serve`` over the published test workspace. A rep of a
California territory opens a commercial account (a jurisdiction that mandates recycling and organics) at its
right-size and reads the deal: the current and proposed rate and service, the term, the monthly change, their
authority, the price floor, the approval needed, the agreement's end and the compliance notes. At 390 px (a
phone) the list, the plan and the printable list scroll only up and down.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from pipelines.settings import load_settings
from serving.auth import Role
from serving.formatting import dollars
from serving.store import OutcomesStore
from tests.browser.test_rep_page import CHROMIUM, _workspace_builder, free_port

pytestmark = pytest.mark.slow
PHONE = {"width": 390, "height": 844}


@dataclass
class Desk:
    base: str
    token: str
    workspace: Path
    account: pd.Series
    """The night's context of a California commercial account whose right-size is allowed."""
    plan: dict[str, Any]
    """Its plan as the API sends it."""
    rep: str
    authority_pct: float


def _right_size_in_california(base: str, token: str, context: pd.DataFrame) -> tuple[pd.Series, dict[str, Any]]:
    """The first California commercial account (by id) whose plan allows a right-size, with its plan."""
    candidates = context[(context["state"] == "CA") & (context["segment"] == "commercial")].sort_values("account_id")
    headers = {"Authorization": f"Bearer {token}"}
    for account in candidates.itertuples(index=False):
        plan = httpx.get(f"{base}/api/v1/accounts/{account.account_id}/plan", headers=headers, timeout=30).json()
        if any(o["offer"] == "right_size" and o["allowed"] for o in plan.get("offers", [])):
            return candidates.set_index("account_id", drop=False).loc[account.account_id], plan
    raise AssertionError(f"no California commercial account of {len(candidates)} may be right-sized")


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Iterator[Desk]:
    """``savedesk serve`` over the published workspace; a rep of the right-sized account's territory."""
    workspace = _workspace_builder().published_workspace(tmp_path_factory, worker_id)  # type: ignore[attr-defined]
    scratch = tmp_path_factory.mktemp("call-plan")
    url = f"sqlite:///{scratch / 'outcomes.db'}"
    settings = load_settings(workspace)
    day = max(p.name for p in settings.published_dir.iterdir() if not p.name.startswith("."))
    context = pd.read_parquet(workspace / "features" / "nightly" / f"as_of={day}.parquet")
    store = OutcomesStore.open(url)
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
    account, plan = _right_size_in_california(base, manager, context)
    listed = pd.concat(
        [pd.read_parquet(f) for f in (settings.published_dir / day).glob("*.parquet") if f.stem != "talking_points"]
    )
    mine = listed[listed["territory"] == account["territory"]]
    assert len(mine), f"nothing listed in {account['territory']}"
    rep = str(mine["rep_id"].iloc[0])
    token = store.add_user("rita", Role.REP, [str(account["territory"])], rep)
    yield Desk(base, token, workspace, account, plan, rep, settings.save.guardrails.rep_max_rollback_pct)
    process.terminate()
    process.wait(timeout=30)
    log.close()
    store.dispose()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Headless Chromium; fails (never skips) when Debian's chromium is missing."""
    assert CHROMIUM.exists(), f"{CHROMIUM} is missing: install Debian's chromium package (apt-get install chromium)"
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        yield launched
        launched.close()


def signed_in(browser: Browser, desk: Desk, viewport: dict[str, int] | None = None) -> Page:
    page = browser.new_page(viewport=viewport) if viewport else browser.new_page()  # type: ignore[arg-type]
    page.goto(f"{desk.base}/")
    page.fill("#token", desk.token)
    page.click("button[type=submit]")
    expect(page).to_have_url(f"{desk.base}/list")
    return page


def test_the_plan_shows_the_deal_of_a_right_size_in_california(browser: Browser, desk: Desk) -> None:
    page = signed_in(browser, desk)
    account = desk.account
    page.goto(f"{desk.base}/accounts/{account['account_id']}?offer=right_size")
    expect(page.locator("#deal-title")).to_contain_text("right size")
    offer = next(o for o in desk.plan["offers"] if o["offer"] == "right_size")
    terms = offer["terms"]
    current = float(account["monthly_revenue"])
    proposed = float(offer["new_monthly_rate"])
    change = proposed - current
    assert proposed < current and terms["monthly_change"] == pytest.approx(change)
    assert proposed >= terms["floor_monthly_rate"] * (1 - 1e-9), "an allowed right-size keeps the floor"

    expect(page.locator("#deal-current")).to_contain_text(f"{dollars(current)} a month")
    yards, pickups = float(account["biggest_yards"]), float(account["biggest_pickups"])
    expect(page.locator("#deal-current")).to_contain_text(f"{round(yards, 1):g} yd, {round(pickups, 2):g}×/week")
    expect(page.locator("#deal-proposed")).to_contain_text(f"{dollars(proposed)} a month")
    expect(page.locator("#deal-proposed")).to_contain_text(terms["proposed_change"])
    assert terms["proposed_change"].startswith(str(account["biggest_stream"]))
    term = terms["proposed_term_months"]
    expect(page.locator("#deal-term")).to_have_text(f"{term:g} months" if term else "no new term")
    expect(page.locator("#deal-change")).to_have_text(f"{dollars(change)} a month")
    authority = f"up to {desk.authority_pct:g} % off ({dollars(current * desk.authority_pct / 100)} a month)"
    expect(page.locator("#deal-authority")).to_have_text(authority)
    expect(page.locator("#deal-floor")).to_have_text(f"{dollars(terms['floor_monthly_rate'])} a month")
    expect(page.locator("#deal-approval")).to_contain_text("no approval needed")
    days = account["days_to_contract_end"]
    if pd.isna(days):
        expect(page.locator("#deal-end")).to_contain_text("month to month" if account["month_to_month"] else "not in")
    else:
        end = (pd.Timestamp(account["as_of"]) + pd.Timedelta(days=float(days))).date().isoformat()
        expect(page.locator("#deal-end")).to_have_text(end)
    compliance = page.locator("#deal-compliance li")
    assert compliance.count() >= 1
    expect(compliance.first).to_contain_text("California")
    expect(compliance.first).to_contain_text("recycling and organics")
    expect(page.locator("#offer")).to_have_value("right_size")  # the outcome form follows the deal shown
    page.close()


def test_the_recommendations_deal_is_shown_without_asking(browser: Browser, desk: Desk) -> None:
    page = signed_in(browser, desk)
    page.goto(f"{desk.base}/accounts/{desk.account['account_id']}")
    recommended = desk.plan["deal"]
    expect(page.locator("#deal-title")).to_contain_text(recommended["offer"].replace("_", " "))
    expect(page.locator("#deal-current")).to_contain_text(f"{dollars(recommended['current_monthly_rate'])} a month")
    expect(page.locator("#deal-compliance li").first).to_contain_text("California")
    page.close()


def assert_no_sideways_scroll(page: Page, what: str) -> None:
    width, inner = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert inner == PHONE["width"], what
    assert width <= inner, f"{what} is {width} px wide on a {inner} px screen"


def test_on_a_phone_the_list_and_the_plan_scroll_only_up_and_down(browser: Browser, desk: Desk) -> None:
    page = signed_in(browser, desk, PHONE)
    assert page.locator("table.list tbody tr").count() > 0
    assert_no_sideways_scroll(page, "the list")
    page.goto(f"{desk.base}/accounts/{desk.account['account_id']}?offer=right_size")
    expect(page.locator("#deal")).to_be_visible()
    assert_no_sideways_scroll(page, "the plan")
    day = max(p for p in (desk.workspace / "published").iterdir() if not p.name.startswith("."))
    rep_page = day / "reps" / f"{desk.rep}.html"
    assert rep_page.is_file()
    page.goto(rep_page.resolve().as_uri())  # the printable list, as a rep opens it from an email
    assert page.locator("tbody tr").count() > 0
    assert_no_sideways_scroll(page, "the printable list")
    page.close()
