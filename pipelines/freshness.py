"""Today's business date at the desk, and the nightly's freshness check of the extract (``serving.freshness``).

Today is ``nightly.today`` when set (a replay, a test, ``savedesk nightly --today``), else the clock in
``nightly.time_zone``. A simulated extract (``extract.json`` source ``simulator``) has no clock of its own: it is
judged as of its own last day, so ``make demo`` and every simulated workspace stay fresh whatever the date; set
``nightly.today`` to judge one against another day.
"""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from pipelines.settings import Settings
from serving.freshness import Freshness, keep_check
from sources.reader import read_extract

SIMULATED = "simulator"
"""The ``source`` the simulator writes into ``extract.json``."""


class StaleExtract(Exception):
    """The extract is older than the nightly may publish from; the message names the dates and the settings."""


def on_day(settings: Settings, today: str | None) -> Settings:
    """``settings`` with today's business date set to ``today`` (ISO), or unchanged when it is None."""
    if today is None:
        return settings
    nightly = settings.nightly.model_copy(update={"today": date.fromisoformat(today)})
    return settings.model_copy(update={"nightly": nightly})


def desk_today(settings: Settings) -> date:
    """Today's date at the desk: ``nightly.today`` when set, else the clock in ``nightly.time_zone``."""
    if settings.nightly.today is not None:
        return settings.nightly.today
    return datetime.now(ZoneInfo(settings.nightly.time_zone)).date()


def business_today(settings: Settings, extract_end: date) -> date:
    """Today's business date for judging the extract ending ``extract_end`` (a simulated one: its last day)."""
    if settings.nightly.today is None and read_extract(settings.raw_dir).source == SIMULATED:
        return extract_end
    return desk_today(settings)


def check_extract(settings: Settings, extract_end: date) -> Freshness:
    """Judge the extract's age, keep the check for the rep page, and stop on a stale extract unless told to publish.

    Raises:
        StaleExtract: The extract is older than ``nightly.max_extract_age_days`` and ``nightly.stale_extract`` is
            ``stop``.
    """
    desk = settings.nightly
    check = Freshness(extract_end, business_today(settings, extract_end), desk.max_extract_age_days, desk.time_zone)
    keep_check(settings.catalog, check)
    if check.stale and desk.stale_extract == "stop":
        raise StaleExtract(check.sentence())
    return check
