"""The scheduled deployments ``savedesk deploy`` registers: three flows, cron in the desk's time zone."""

from __future__ import annotations

from pathlib import Path

from pipelines.flows import deployments
from pipelines.settings import NightlySettings, load_settings


def test_three_deployments_with_their_crons_in_the_desks_time_zone(tmp_path: Path) -> None:
    settings = load_settings(tmp_path, nightly=NightlySettings(time_zone="America/Chicago", nightly_cron="0 2 * * *"))
    planned = {d.name: d for d in deployments(settings)}
    assert set(planned) == {"nightly", "weekly", "business-hours"}
    expected = {"nightly": "0 2 * * *", "weekly": "0 4 * * 0", "business-hours": "0 9-17 * * 1-5"}
    flows = {"nightly": "savedesk-nightly", "weekly": "savedesk-train", "business-hours": "savedesk-intraday"}
    for name, deployment in planned.items():
        (schedule,) = deployment.schedules
        assert schedule.schedule.cron == expected[name]
        assert schedule.schedule.timezone == "America/Chicago"
        assert deployment.flow_name == flows[name]
        assert deployment.parameters == {"data": str(tmp_path.resolve())}


def test_the_schedules_follow_the_settings(tmp_path: Path) -> None:
    settings = load_settings(tmp_path, nightly=NightlySettings(time_zone="America/Toronto", nightly_cron="30 1 * * *"))
    nightly = next(d for d in deployments(settings) if d.name == "nightly")
    assert (nightly.schedules[0].schedule.cron, nightly.schedules[0].schedule.timezone) == (
        "30 1 * * *", "America/Toronto",
    )  # fmt: skip
