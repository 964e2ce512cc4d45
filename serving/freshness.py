"""Whether the desk's lists are today's: an extract's last day against today's business date, and what the page says.

The nightly run judges an extract by its age, the days from its last day to today's business date in the desk's
time zone. Older than the allowed age it is stale: the run stops (nothing new is published; the page keeps the
previous day's lists and says why) or, when so configured, publishes its lists with a notice kept in the day's
manifest (``freshness``). A stale check is kept in ``DIR/published/.freshness.json`` (``PublishedCatalog.freshness``)
until a fresh one removes it, for the rep page, which says when its lists are from a previous day and why
(``page_notice``).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import date
from typing import Any

from serving.publication.catalog import PublishedCatalog

MANIFEST_KEY = "freshness"
"""The manifest's key of a stale night's check (present only when lists were published from a stale extract)."""


def spoken_day(day: date) -> str:
    """A day as a rep says it: ``Tuesday 3 Nov``."""
    return f"{day:%A} {day.day} {day:%b}"


def _days(n: int) -> str:
    return f"{n} day" if n == 1 else f"{n} days"


@dataclass(frozen=True)
class Freshness:
    """One check of an extract's age.

    Attributes:
        extract_end: The extract's last day.
        today: Today's business date at the desk.
        max_age_days: Days the last day may lie before today (``nightly.max_extract_age_days``).
        time_zone: The desk's time zone, which today's date is taken in.
    """

    extract_end: date
    today: date
    max_age_days: int
    time_zone: str

    @property
    def age_days(self) -> int:
        """Days from the extract's last day to today."""
        return (self.today - self.extract_end).days

    @property
    def stale(self) -> bool:
        """Whether the extract is older than allowed."""
        return self.age_days > self.max_age_days

    def sentence(self) -> str:
        """The operator's sentence: both dates, the allowed age and the settings to change."""
        return (
            f"The extract is stale: its last day is {self.extract_end} ({spoken_day(self.extract_end)}),"
            f" {_days(self.age_days)} before today's business date {self.today} ({self.time_zone}); the limit is"
            f" {_days(self.max_age_days)} (nightly.max_extract_age_days). Load the new extract and run"
            ' again, set nightly.stale_extract = "publish_with_notice" to publish these lists with a notice, or'
            " name the day with --as-of for a backfill."
        )

    def notice(self, shown: date | None = None) -> str:
        """The rep's sentence: which day the lists are from, and why they are not today's."""
        return (
            f"These lists are from {spoken_day(shown or self.extract_end)}: last night's extract had not arrived,"
            " so anything that happened since is not on them."
        )

    def as_dict(self) -> dict[str, Any]:
        """The check as the manifest and ``freshness.json`` keep it."""
        return {
            "extract_end": self.extract_end.isoformat(),
            "today": self.today.isoformat(),
            "age_days": self.age_days,
            "max_age_days": self.max_age_days,
            "time_zone": self.time_zone,
            "stale": self.stale,
            "notice": self.notice() if self.stale else None,
            "sentence": self.sentence() if self.stale else None,
        }

    @classmethod
    def from_dict(cls, kept: dict[str, Any]) -> Freshness:
        """A check read back from ``as_dict``'s form."""
        return cls(
            date.fromisoformat(kept["extract_end"]),
            date.fromisoformat(kept["today"]),
            int(kept["max_age_days"]),
            str(kept.get("time_zone", "")),
        )


def keep_check(catalog: PublishedCatalog, check: Freshness) -> None:
    """Keep a stale ``check`` for the page (written aside and moved into place), or forget the last one when fresh."""
    if not check.stale:
        catalog.freshness.unlink(missing_ok=True)
        return
    catalog.folder.mkdir(parents=True, exist_ok=True)
    aside = catalog.freshness.with_name(f".{catalog.freshness.name}.{os.getpid()}")
    aside.write_text(json.dumps(check.as_dict(), indent=2) + "\n", encoding="utf-8")
    os.replace(aside, catalog.freshness)


def last_check(catalog: PublishedCatalog) -> Freshness | None:
    """The last stale check, or None when the last night was fresh (or the check cannot be read)."""
    try:
        return Freshness.from_dict(json.loads(catalog.freshness.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def page_notice(catalog: PublishedCatalog, shown: date) -> str | None:
    """What the rep page says above the lists of ``shown`` when they are not today's; None when they are.

    A day published from a stale extract carries its notice in its manifest; a night stopped by a stale extract
    published nothing, so the last check says the lists shown (none newer than the extract) are from a previous day.
    """
    try:
        kept = catalog.manifest(shown).get(MANIFEST_KEY)
    except (OSError, ValueError):
        kept = None
    if isinstance(kept, dict) and kept.get("notice"):
        return str(kept["notice"])
    check = last_check(catalog)
    if check is not None and check.stale and shown <= check.extract_end < check.today:
        return check.notice(shown)
    return None
