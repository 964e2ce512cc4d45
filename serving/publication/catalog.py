"""The catalog of a published day: which files a business date's publication holds, and where to find them.

Layout of a published date (``<date>`` is ISO, e.g. ``2026-10-31``)::

    DIR/published/<date>/inbound.parquet         the inbound queue       (serving.call_lists.CallLists.inbound)
    DIR/published/<date>/proactive.parquet       proactive outreach
    DIR/published/<date>/flips.parquet           the flip list
    DIR/published/<date>/talking_points.parquet  talking points of the listed rows, keyed by list_key
    DIR/published/<date>/holdout.parquet         proactive accounts held out that night (models.holdout)
    DIR/published/<date>/reps/<rep>.csv          one CSV per rep, ready for CRM import
    DIR/published/<date>/reps/<rep>.html         one printable page per rep
    DIR/published/<date>/manifest.json           business date, as-of, models, input fingerprint, row counts,
                                                 sha256 of every other file, created_at (UTC)
    DIR/features/nightly/as_of=<date>.parquet    the night's account context (intraday runs and the live plan)
    DIR/published/.freshness.json                a stale extract's check while it lasts (``serving.freshness``)

``<date>`` is a link to the complete version folder published last (``serving.publication.atomic``).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd

from serving.call_lists import CallLists

LIST_FILES = {"inbound": "inbound.parquet", "proactive": "proactive.parquet", "flips": "flips.parquet"}
"""Each list (as ``CallLists.frames`` names it) → its file."""
REQUEST_LISTS = ("inbound", "flips")
"""The lists holding open cancellation requests (keys of ``LIST_FILES``)."""
TALKING_POINTS_FILE = "talking_points.parquet"
HOLDOUT_FILE = "holdout.parquet"
"""The night's randomized holdout of proactive outreach (``models.holdout.HOLDOUT_COLUMNS``); absent before issue 18."""
MANIFEST = "manifest.json"
FRESHNESS_FILE = ".freshness.json"


@dataclass(frozen=True)
class PublishedCatalog:
    """Where the published days and the nights' account contexts of a workspace are.

    Attributes:
        folder: The published folder (``DIR/published``), one link per business date.
        contexts: The folder of the nights' account contexts (``DIR/features/nightly``).
    """

    folder: Path
    contexts: Path

    def link(self, day: date) -> Path:
        """``folder/<date>``: the link to the date's published version (it may not exist)."""
        return self.folder / day.isoformat()

    def resolved(self, day: date) -> Path:
        """The version folder ``folder/<date>`` points at now: resolve once, then read every file from it.

        Raises:
            FileNotFoundError: When nothing is published for the date.
        """
        target = self.link(day)
        if not target.exists():
            raise FileNotFoundError(f"nothing published for {day} in {self.folder}")
        return target.resolve()

    def version(self, day: date) -> str:
        """The name of the version folder ``folder/<date>`` points at (the date itself for a plain folder)."""
        link = self.link(day)
        return os.path.basename(os.readlink(link)) if link.is_symlink() else day.isoformat()

    def is_published(self, day: date) -> bool:
        """Whether a complete publication (one with its manifest) is there for ``day``."""
        return (self.link(day) / MANIFEST).is_file()

    def latest(self) -> date | None:
        """The latest business date with a complete publication (None when there is none)."""
        try:
            names = os.listdir(self.folder)
        except FileNotFoundError:
            return None
        days = []
        for name in names:
            try:
                day = date.fromisoformat(name)
            except ValueError:
                continue
            if (self.folder / name / MANIFEST).is_file():  # the name as listed (3.11 also reads 20261031)
                days.append(day)
        return max(days, default=None)

    def manifest(self, day: date) -> dict[str, Any]:
        """The date's manifest, parsed.

        Raises:
            FileNotFoundError: When nothing is published for the date.
        """
        manifest: dict[str, Any] = json.loads((self.link(day) / MANIFEST).read_text())
        return manifest

    @property
    def freshness(self) -> Path:
        """Where the nightly keeps a stale extract's check (today, the extract's last day) until a fresh one."""
        return self.folder / FRESHNESS_FILE

    def context(self, day: date) -> Path:
        """Where the nightly run keeps the night's account context, for the intraday runs and the live plan."""
        return self.contexts / f"as_of={day.isoformat()}.parquet"


def read_published(folder: Path, day: date) -> tuple[CallLists, pd.DataFrame]:
    """The call lists and talking points published in ``folder`` (a date's link or version folder) for ``day``."""
    frames = {name: pd.read_parquet(folder / file) for name, file in LIST_FILES.items()}
    lists = CallLists(day, frames["inbound"], frames["proactive"], frames["flips"])
    if (folder / HOLDOUT_FILE).exists():
        holdout = pd.read_parquet(folder / HOLDOUT_FILE)
        lists = CallLists(day, lists.inbound, lists.proactive, lists.flips, holdout=holdout)
    return lists, pd.read_parquet(folder / TALKING_POINTS_FILE)
