"""The models the live plan uses: the versions the publication it serves names, loaded by number.

The nightly run stamps the versions it planned with in the day's manifest (``models``). The API and the rep page
plan with exactly those, so a live plan equals its published row whatever the registry's aliases say now: a
promotion reaches the desk with the next publication, never before. ``PlanModels`` loads a named pair through the
loader it is handed (``pipelines.services`` builds it from the model registry: serving never imports MLflow), keeps
the last few pairs it loaded, and when a pair cannot be loaded keeps planning with what it has and says so (in the
log, in ``/api/v1/models`` and on the page's footer), trying again at most every ``RETRY_EVERY`` seconds.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import date
from typing import Any

from pydantic import BaseModel

from models.champions import KINDS, Champions, described, model_identity, same_models, version_numbers

VersionLoader = Callable[[dict[str, int]], Champions]
"""Loads exact version numbers (``{"churn": 3, "save": 2}``) from the registry (``Tracker.load_versions``).

Raises ``LookupError`` for a version the registry does not have; any other failure is taken the same way.
"""
KEEP = 3
"""Pairs of loaded models kept (a switch back to a recent pair loads nothing)."""
RETRY_EVERY = 60.0
"""Seconds between two tries to load a pair that could not be loaded."""

logger = logging.getLogger("savedesk.serve")


class ModelsInUse(BaseModel):
    """Which model versions the live plans use, which the published lists name, and whether they agree."""

    business_date: date | None
    """The published day the live plans are for (None: nothing published yet)."""
    in_use: dict[str, dict[str, Any]]
    """What every live plan is stamped with (``Plan.models``): name, version and alias of each model."""
    published: dict[str, Any] | None
    """What the day's manifest names (None: nothing published, or a manifest that names no models)."""
    agree: bool | None
    """Whether the plans use the very versions the lists were made with (None: the lists name none)."""
    problem: str | None
    """Why they disagree, when they do: a version that could not be loaded."""


Key = tuple[tuple[str, int], ...]


def _key(stamp: Mapping[str, Any] | None) -> Key | None:
    identity = model_identity(stamp)
    return None if identity is None else tuple(identity[kind] for kind in KINDS)


class PlanModels:
    """The pairs of models loaded so far, by the versions they are, and why the last one asked for is missing.

    Thread-safe: the live planner asks from its reload (under its own lock); the status is read by any request.
    """

    def __init__(
        self,
        champions: Champions,
        loader: VersionLoader | None = None,
        keep: int = KEEP,
        retry_every: float = RETRY_EVERY,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Start with ``champions`` (the server's first pair); load others with ``loader`` (None: never switch)."""
        self.loader, self.keep, self.retry_every, self.clock = loader, keep, retry_every, clock
        self._loaded: OrderedDict[Key, Champions] = OrderedDict()
        first = _key(champions.versions)
        if first is not None:
            self._loaded[first] = champions
        self._failed: tuple[Key, float, str] | None = None
        self._lock = threading.Lock()

    @property
    def problem(self) -> str | None:
        """Why the last pair asked for is not in use (None when it is, or when none was asked for)."""
        failed = self._failed
        return None if failed is None else failed[2]

    def retry_due(self, named: Mapping[str, Any] | None) -> bool:
        """Whether ``named`` could not be loaded before and may be tried again now."""
        failed, wanted = self._failed, _key(named)
        return failed is not None and failed[0] == wanted and self.clock() - failed[1] >= self.retry_every

    def for_publication(self, named: Mapping[str, Any] | None, current: Champions, day: date) -> Champions:
        """The models to plan a publication with: the pair its manifest ``named``, else ``current``.

        ``current`` stays when the manifest names no models (a publication from before they were stamped) or when
        the pair cannot be loaded; the reason is kept (``problem``) and logged. Never raises.
        """
        wanted = _key(named)
        if wanted is None or named is None:
            self._failed = None
            return current
        if same_models(current.versions, named):
            self._failed = None
            return self._stamped(wanted, current, named)
        with self._lock:
            found = self._loaded.get(wanted)
            if found is not None:
                self._loaded.move_to_end(wanted)
        if found is None:
            failed = self._failed
            if failed is not None and failed[0] == wanted and self.clock() - failed[1] < self.retry_every:
                return current
            found = self._load(wanted, named, current, day)
            if found is None:
                return current
        self._failed = None
        chosen = self._stamped(wanted, found, named)
        logger.info("Live plans for %s use %s, as the published lists do", day, described(named))
        return chosen

    def _load(self, wanted: Key, named: Mapping[str, Any], current: Champions, day: date) -> Champions | None:
        """Load the pair ``named`` (None when it cannot be: the reason is logged and kept)."""
        numbers = version_numbers(named)
        if self.loader is None or numbers is None:
            return self._refused(wanted, named, current, day, "this server was started without a model registry")
        try:
            loaded = self.loader(numbers)
        except Exception as error:  # missing, unreachable or corrupt: whatever it is, the desk keeps planning
            logger.warning("Could not load %s for the lists of %s: %s", described(named), day, error)
            why = f"the registry could not load them ({type(error).__name__})"
            return self._refused(wanted, named, current, day, why)
        if _key(loaded.versions) != wanted:
            return self._refused(wanted, named, current, day, f"the registry gave {described(loaded.versions)}")
        with self._lock:
            self._loaded[wanted] = loaded
            while len(self._loaded) > self.keep:
                self._loaded.popitem(last=False)
        return loaded

    def _refused(
        self, wanted: Key, named: Mapping[str, Any], current: Champions, day: date, why: str
    ) -> Champions | None:
        """Keep and log why ``named`` is not in use; None (nothing loaded)."""
        problem = (
            f"The lists of {day} were made with {described(named)}, but {why}; live plans keep using "
            f"{described(current.versions)} and may differ from the lists (see the server's log)."
        )
        logger.warning(problem)
        self._failed = (wanted, self.clock(), problem)
        return None

    def _stamped(self, key: Key, champions: Champions, named: Mapping[str, Any]) -> Champions:
        """``champions`` stamped as the manifest names them, so a plan says what its published row says."""
        stamp = {kind: dict(named[kind]) for kind in KINDS}
        if champions.versions == stamp:
            return champions
        stamped = replace(champions, versions=stamp)
        with self._lock:
            if key in self._loaded:
                self._loaded[key] = stamped
        return stamped

    def status(self, day: date | None, in_use: Champions, named: Mapping[str, Any] | None) -> ModelsInUse:
        """What ``/api/v1/models`` answers for the publication of ``day`` planned with ``in_use``."""
        agree = None if model_identity(named) is None else same_models(in_use.versions, named)
        published = dict(named) if isinstance(named, Mapping) else None
        return ModelsInUse(business_date=day, in_use=in_use.versions, published=published, agree=agree,
                           problem=None if agree is not False else self.problem)  # fmt: skip


def footer(status: ModelsInUse) -> str:
    """The versions in a sentence for the page's footer (short; a disagreement said plainly)."""
    used = described(status.in_use)
    if status.agree is False:
        return f"Plans use {used}; the lists were made with {described(status.published)}."
    return f"Plans use {used}." if status.agree is None else f"Plans and lists use {used}."
