"""Alerts (issue 19, acceptance 3): a webhook receiver on this machine gets exactly one alert for a failing nightly,
one for a stale extract and none for a clean night; a second failure of the same cause the same day sends nothing
more."""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Iterator
from datetime import date, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner

from pipelines.alerts import STALE_EXTRACT, alert, mlflow_link
from pipelines.cli import app
from pipelines.settings import AlertSettings, load_settings

runner = CliRunner()
RELAXED_GATES = "[churn.gate]\nmin_auc = 0.55\n\n[save.gate]\nmin_auc = 0.6\nmax_ece = 0.25\n"
"""The flow tests' gates (``tests/flows/conftest.py``): these tests judge the nightly, not the models."""


class Receiver:
    """A webhook on 127.0.0.1 that keeps every JSON body posted to it."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        received = self.received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                received.append(json.loads(body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"json://127.0.0.1:{self.server.server_address[1]}/alerts"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def titles(self) -> list[str]:
        return [str(r.get("title", "")) for r in self.received]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    found.thread.start()
    try:
        yield found
    finally:
        found.server.shutdown()
        found.server.server_close()


def workspace(trained: Path, tmp_path: Path, receiver: Receiver, today: date | None = None) -> Path:
    """A copy of the trained hauler alerting ``receiver``, judged on ``today`` (default: the day after its end)."""
    data = tmp_path / "ws"
    shutil.copytree(trained, data, ignore=shutil.ignore_patterns("published", "prefect", "alerts"))
    end = date.fromisoformat(json.loads((data / "raw" / "extract.json").read_text())["end_date"])
    settings = f'\n[nightly]\ntoday = "{today or end + timedelta(days=1)}"\n\n[alerts]\nurls = ["{receiver.url}"]\n'
    (data / "savedesk.toml").write_text(RELAXED_GATES + settings)
    return data


def nightly(data: Path) -> int:
    return runner.invoke(app, ["nightly", "--data", str(data)]).exit_code


def test_a_clean_night_sends_no_alert(trained: Path, tmp_path: Path, receiver: Receiver) -> None:
    data = workspace(trained, tmp_path, receiver)

    assert nightly(data) == 0

    assert load_settings(data).catalog.latest() is not None
    assert receiver.received == [], receiver.titles()
    assert not (data / "alerts" / "sent.jsonl").exists()


def test_a_failing_nightly_sends_one_alert_and_a_second_failure_that_day_none(
    trained: Path, tmp_path: Path, receiver: Receiver
) -> None:
    data = workspace(trained, tmp_path, receiver)
    accounts = pd.read_parquet(data / "raw" / "accounts.parquet")
    accounts.assign(close_date=accounts["start_date"], close_reason="price").to_parquet(
        data / "raw" / "accounts.parquet", index=False
    )  # no account in service: the night fails

    assert nightly(data) == 2
    assert nightly(data) == 2

    assert len(receiver.received) == 1, receiver.titles()
    (sent,) = receiver.received
    assert sent["title"].endswith(": savedesk-nightly failed") and sent["type"] == "failure"
    assert "no account in service" in sent["message"].lower() and str(data) in sent["message"]
    ledger = [json.loads(line) for line in (data / "alerts" / "sent.jsonl").read_text().splitlines()]
    assert [(r["cause"], r["day"]) for r in ledger] == [("savedesk-nightly failed", ledger[0]["day"])]


def test_a_stale_extract_sends_one_alert_and_not_a_failure(trained: Path, tmp_path: Path, receiver: Receiver) -> None:
    end = date.fromisoformat(json.loads((trained / "raw" / "extract.json").read_text())["end_date"])
    data = workspace(trained, tmp_path, receiver, today=end + timedelta(days=4))

    assert nightly(data) == 2
    assert nightly(data) == 2

    assert receiver.titles() == [f"savedesk {data.name}: {STALE_EXTRACT}"]
    message = receiver.received[0]["message"]
    assert end.isoformat() in message and (end + timedelta(days=4)).isoformat() in message
    assert not (data / "published").exists() or not [
        p for p in (data / "published").iterdir() if not p.name.startswith(".")
    ]


def test_an_alert_goes_once_per_cause_per_day_and_only_where_configured(tmp_path: Path, receiver: Receiver) -> None:
    quiet = load_settings(tmp_path / "quiet")
    assert not alert(quiet, "drift x", "x has drifted")  # no channel: nothing sent, no ledger
    assert not quiet.alerts_ledger.exists()

    settings = load_settings(tmp_path / "loud", alerts=AlertSettings(urls=[receiver.url]))
    assert alert(settings, "drift x", "x has drifted", "http://mlflow.example/#/runs/1")
    assert not alert(settings, "drift x", "x has drifted again")
    assert alert(settings, "drift y", "y has drifted")
    tomorrow = settings.nightly.model_copy(update={"today": date(2030, 1, 2)})
    assert alert(settings.model_copy(update={"nightly": tomorrow}), "drift x", "x has drifted")

    assert [r["message"] for r in receiver.received] == [
        "x has drifted\n\nhttp://mlflow.example/#/runs/1",
        "y has drifted",
        "x has drifted",
    ]


def test_an_undelivered_alert_is_not_kept_and_is_tried_again(tmp_path: Path, receiver: Receiver) -> None:
    nowhere = load_settings(tmp_path, alerts=AlertSettings(urls=["json://127.0.0.1:9/closed"]))  # discard port
    assert not alert(nowhere, "savedesk-train failed", "the training failed")
    assert not nowhere.alerts_ledger.exists() or not nowhere.alerts_ledger.read_text()

    reachable = nowhere.model_copy(update={"alerts": AlertSettings(urls=[receiver.url])})
    assert alert(reachable, "savedesk-train failed", "the training failed")
    assert len(receiver.received) == 1


def test_an_alerts_mlflow_link_never_carries_a_password() -> None:
    assert mlflow_link("http://mlflow.internal:5000/", "abc") == "http://mlflow.internal:5000/#/runs/abc"
    told = mlflow_link("postgresql+psycopg://savedesk:s3cret@db.internal:5432/mlflow", "abc")
    assert "s3cret" not in told and "savedesk:" not in told and "db.internal:5432/mlflow" in told and "abc" in told
