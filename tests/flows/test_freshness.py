"""Freshness (issue 19, acceptance 4): a stale extract stops the nightly with a sentence naming the dates, and the
rep page shows the previous day's lists with a notice saying so; configured to, the nightly publishes them with
the notice instead."""

from __future__ import annotations

import html
import json
import re
import shutil
from datetime import date, timedelta
from pathlib import Path

from typer.testing import CliRunner

from pipelines.cli import app
from pipelines.settings import load_settings
from serving.freshness import spoken_day
from tests.serving.served_app import serve, signed_in

runner = CliRunner()
RELAXED_GATES = "[churn.gate]\nmin_auc = 0.55\n\n[save.gate]\nmin_auc = 0.6\nmax_ece = 0.25\n"
"""The flow tests' gates (``tests/flows/conftest.py``): these tests judge the nightly, not the models."""


def words(output: str) -> str:
    return " ".join(output.split())


def copy_of(trained: Path, tmp_path: Path, settings: str = "") -> Path:
    data = tmp_path / "ws"
    shutil.copytree(trained, data, ignore=shutil.ignore_patterns("published", "prefect", "alerts"))
    (data / "savedesk.toml").write_text(RELAXED_GATES + settings)
    return data


def extract_end(data: Path) -> date:
    return date.fromisoformat(json.loads((data / "raw" / "extract.json").read_text())["end_date"])


def nightly(data: Path, *args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["nightly", "--data", str(data), *args])
    return result.exit_code, words(result.output)


def notice_on_page(data: Path, tmp_path: Path) -> tuple[str, str]:
    """The list page's heading day and its notice (empty when there is none), as a manager sees them.

    The API's lists of the same day carry the same notice (``notice``: null when there is none).
    """
    with serve(data, f"sqlite:///{tmp_path / 'outcomes.db'}") as served, signed_in(served, "manager") as browser:
        page = browser.get("/list")
        assert page.status_code == 200, page.text
        heading = re.search(r"<h1>Call list · ([0-9-]+)</h1>", page.text)
        assert heading is not None
        listed = served.client.get(f"/api/v1/lists/{heading.group(1)}", headers=served.headers("manager"))
        assert listed.status_code == 200, listed.text
    notice = re.search(r'<p class="card stale" role="status">([^<]*)</p>', page.text)
    shown = html.unescape(notice.group(1)) if notice else ""
    assert (listed.json()["notice"] or "") == shown
    return heading.group(1), shown


def test_a_stale_extract_stops_the_nightly_and_the_page_says_its_lists_are_from_a_previous_day(
    trained: Path, tmp_path: Path
) -> None:
    data = copy_of(trained, tmp_path)
    end = extract_end(data)
    code, output = nightly(data, "--today", (end + timedelta(days=1)).isoformat())  # the normal night: a day old
    assert code == 0, output
    published = sorted(p.name for p in (data / "published").iterdir() if not p.name.startswith("."))
    assert published == [end.isoformat()]
    assert notice_on_page(data, tmp_path / "fresh") == (end.isoformat(), "")

    today = end + timedelta(days=3)  # two nights without a new extract
    code, output = nightly(data, "--today", today.isoformat())

    assert code == 2, output
    for told in (end.isoformat(), today.isoformat(), "3 days", "the limit is 1 day", "nightly.max_extract_age_days",
                 "nightly.stale_extract"):  # fmt: skip
        assert told in output, (told, output)
    assert sorted(p.name for p in (data / "published").iterdir() if not p.name.startswith(".")) == published
    shown, notice = notice_on_page(data, tmp_path / "stale")
    assert shown == end.isoformat()
    assert notice.startswith(f"These lists are from {spoken_day(end)}:") and "extract had not arrived" in notice

    code, output = nightly(data, "--today", (end + timedelta(days=1)).isoformat())  # the extract is fresh again
    assert code == 0, output
    assert notice_on_page(data, tmp_path / "again") == (end.isoformat(), "")


def test_configured_to_publish_a_stale_extract_the_nightly_publishes_with_a_notice(
    trained: Path, tmp_path: Path
) -> None:
    data = copy_of(trained, tmp_path, '\n[nightly]\nstale_extract = "publish_with_notice"\nmax_extract_age_days = 2\n')
    end = extract_end(data)
    today = end + timedelta(days=3)

    code, output = nightly(data, "--today", today.isoformat())

    assert code == 0, output
    assert "3 days" in output and "the limit is 2 days" in output
    manifest = load_settings(data).catalog.manifest(end)
    kept = manifest["freshness"]
    assert (kept["extract_end"], kept["today"], kept["stale"]) == (end.isoformat(), today.isoformat(), True)
    shown, notice = notice_on_page(data, tmp_path)
    assert shown == end.isoformat() and notice == kept["notice"]
    assert notice.startswith(f"These lists are from {spoken_day(end)}:")


def test_a_backfill_names_its_day_and_is_not_judged_for_freshness(trained: Path, tmp_path: Path) -> None:
    data = copy_of(trained, tmp_path)
    end = extract_end(data)

    code, output = nightly(data, "--as-of", end.isoformat(), "--today", (end + timedelta(days=30)).isoformat())

    assert code == 0, output
    assert "freshness" not in load_settings(data).catalog.manifest(end)
