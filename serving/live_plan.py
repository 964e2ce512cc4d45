"""The live save plan: what to offer the account on the line, from the night's features and the champion models.

A rep opens an account while the customer talks. The plan is computed by the
planner the nightly run lists with (``models.planner.plan``): churn risk from
the churn champion, every catalog offer priced with the save champion, the
guardrails, the recommendation and its fallback, and the talking points
(``models.talking_points``). An account with an open
cancellation request is planned with the reason it gave; any other account gets
the proactive plan (the save model's mixture over the reasons it would give).

**What it reads.** The latest published business date (``DIR/published/<date>``),
its open requests (the inbound and flip rows, intraday additions included) and
the night's account context kept by the nightly run (``PublishedCatalog.context``).
Both are read once per published version and indexed by ``account_id``.

**Which models.** The versions the publication's manifest names (``serving.plan_models``), loaded by number when
a new publication names others and swapped in with it: a night and its models change together, so a live plan
equals its published row even after a promotion, and a promotion reaches the desk with the next publication.

**Why a cache.** The inputs of a plan change only when a new version is
published, so each account's plan is computed once per version and kept
(least recently used first out); a new publication empties the cache.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from typing import Any

import numpy as np
import pandas as pd

from features.registry import BY_NAME
from models.champions import Champions
from models.planner import plan
from models.point_wording import DESIGN_POINTS
from models.policy import FALLBACK, RECOMMENDED
from models.talking_points import rep_driver, talking_points
from models.valuation import MODEL, P_SAVE_SOURCE, notice_of
from serving.config import DeskConfig
from serving.formatting import text
from serving.night import Night, read_night
from serving.plan_body import (
    DEAL_FIELDS,
    OFFER_COLUMNS,
    Plan,
    Request,
    choice_of,
    day_of,
    deal_of,
    guardrails_of,
    offer_of,
    point_of,
)
from serving.plan_models import ModelsInUse, PlanModels, VersionLoader

CACHE_SIZE = 50_000
"""Plans kept per published version (a plan is a few kilobytes)."""
LOOK_EVERY = 1.0
"""Seconds between two looks for a new publication."""


class LivePlanner:
    """Plans accounts against the latest published version, with the model versions it names.

    Plans are kept as JSON (what the API sends), at most ``cache_size`` of them;
    ``warm`` plans a list of accounts ahead of the calls, many at a time.
    """

    def __init__(
        self,
        config: DeskConfig,
        champions: Champions,
        cache_size: int = CACHE_SIZE,
        look_every: float = LOOK_EVERY,
        load_versions: VersionLoader | None = None,
    ) -> None:
        """Plan with ``champions`` until a publication names others, loaded with ``load_versions`` (None: never).

        Looks for a new publication at most every ``look_every`` seconds.
        """
        self.config = config
        self.models = PlanModels(champions, load_versions)
        self.cache_size = cache_size
        self.look_every = look_every
        self._champions = champions
        self._before: tuple[Night, Champions] | None = None
        self._night: Night | None = None
        self._looked = -math.inf
        self._cache: OrderedDict[str, bytes] = OrderedDict()
        self._lock = threading.Lock()
        self._reload = threading.Lock()

    def night(self) -> Night:
        """The latest published version's inputs (re-read when a new date or version is published).

        Raises:
            LookupError: Nothing is published yet (run ``savedesk nightly``).
        """
        current = self._night
        if current is not None and time.monotonic() - self._looked < self.look_every:
            return current
        catalog = self.config.catalog
        day = catalog.latest()
        self._looked = time.monotonic()
        if day is None:
            raise LookupError(f"Nothing published in {catalog.folder}: run savedesk nightly first.")
        version = catalog.version(day)
        same = current is not None and current.business_date == day and current.version == version
        if current is not None and same and not self.models.retry_due(current.models):
            return current
        if current is not None and not self._reload.acquire(blocking=False):
            return current  # another request is reading it (or loading its models): the pair in use serves meanwhile
        if current is None:
            self._reload.acquire()
        try:
            current = self._night
            fresh = current is None or current.business_date != day or current.version != version
            if current is None or fresh or self.models.retry_due(current.models):
                night = read_night(catalog, day) if current is None or fresh else current
                self._switch(night, self.models.for_publication(night.models, self._champions, day))
                current = night
        finally:
            self._reload.release()
        return current

    def _switch(self, night: Night, champions: Champions) -> None:
        """Serve ``night`` planned with ``champions``: both at once, with an empty cache when either changed."""
        with self._lock:
            if night is self._night and champions is self._champions:
                return
            self._before = (self._night, self._champions) if self._night is not None else None
            self._night, self._champions, self._cache = night, champions, OrderedDict()

    @property
    def champions(self) -> Champions:
        """The models the latest version read is planned with."""
        return self._champions

    def champions_of(self, night: Night) -> Champions:
        """The models ``night`` is planned with (the pair before a switch too, for a plan begun just before it)."""
        with self._lock:
            before = self._before
            if before is not None and before[0] is night and self._night is not night:
                return before[1]
            return self._champions

    def models_in_use(self) -> ModelsInUse:
        """Which model versions the plans use, which the publication names, and whether they agree."""
        try:
            self.night()
        except LookupError:
            return self.models.status(None, self._champions, None)
        with self._lock:
            night, champions = self._night, self._champions
        assert night is not None  # noqa: S101 - read above
        return self.models.status(night.business_date, champions, night.models)

    @property
    def cached(self) -> int:
        """How many plans are ready."""
        return len(self._cache)

    def plan(self, account_id: str) -> Plan | None:
        """The account's live plan (None for an account not in service on the latest published date).

        Raises:
            Unplannable: The account's territory has no cost to serve to price offers with.
        """
        found = self.plan_json(account_id)
        return None if found is None else Plan.model_validate_json(found)

    def cached_json(self, account_id: str) -> bytes | None:
        """The account's plan as JSON when it is ready (None when it must be computed first)."""
        night = self.night()
        with self._lock:
            hit = self._cache.get(account_id) if self._night is night else None
            if hit is not None:
                self._cache.move_to_end(account_id)
            return hit

    def plan_json(self, account_id: str) -> bytes | None:
        """The account's plan as JSON, from the cache when this version has planned it already.

        Raises:
            Unplannable: The account's territory has no cost to serve to price offers with.
        """
        hit = self.cached_json(account_id)
        if hit is not None:
            return hit
        night = self.night()
        if account_id not in night.context.index:
            return None
        territory = unpriced_territory(self.config, night, account_id)
        if territory is not None:
            raise Unplannable(
                f"No plan for account {account_id}: territory {territory} has no cost to serve to price offers with"
                " (save.offers.cost_to_serve.territory_index); ask the desk's administrator to add it."
            )
        return self._plan_and_keep(night, [account_id]).get(account_id)

    def warm(self, account_ids: list[str], batch: int = 256) -> int:
        """Plan the accounts not planned yet, ``batch`` at a time, until the cache is full; returns how many."""
        night, done = self.night(), 0
        todo = [a for a in dict.fromkeys(account_ids) if a in night.context.index and a not in self._cache]
        for start in range(0, len(todo), batch):
            if self._night is not night or len(self._cache) + batch > self.cache_size:
                break
            done += len(self._plan_and_keep(night, todo[start : start + batch]))
        return done

    def _plan_and_keep(self, night: Night, account_ids: list[str]) -> dict[str, bytes]:
        planned = plan_accounts(self.config, self.champions_of(night), night, account_ids)
        plans = {p.account_id: p.model_dump_json().encode() for p in planned}
        with self._lock:
            if self._night is night:
                self._cache.update(plans)
                while len(self._cache) > self.cache_size:
                    self._cache.popitem(last=False)
        return plans


class Unplannable(LookupError):
    """An account in service that cannot be planned: its territory has no cost to serve to price offers with."""


def unpriced_territory(config: DeskConfig, night: Night, account_id: str) -> str | None:
    """The account's territory when the offer catalog cannot price offers there (no cost index), else None."""
    territory = night.territory(account_id)
    if territory is None or not config.offers.cost_to_serve.unknown(pd.Series([territory])):
        return None
    return territory


def plan_accounts(config: DeskConfig, champions: Champions, night: Night, account_ids: list[str]) -> list[Plan]:
    """Plan accounts as the nightly run plans listed decisions (see the module's docstring), many at once.

    Accounts not in service that night are left out, and so are accounts of a territory the catalog cannot price
    (one bad territory never stops the others: the nightly leaves it out the same way); the rest come back in the
    order given.
    """
    churn = champions.churn
    wanted = [a for a in dict.fromkeys(account_ids) if a in night.context.index]
    unpriced = set(config.offers.cost_to_serve.unknown(night.context.loc[wanted, "territory"])) if wanted else set()
    if unpriced:
        wanted = [a for a in wanted if night.territory(a) not in unpriced]
    rows = night.context.loc[wanted].reset_index(drop=True)
    rows["churn_probability"] = churn.predict_proba(rows)
    asking = rows["account_id"].isin(night.requests.index).to_numpy()
    requests = night.requests.reindex(rows["account_id"][asking])
    decided: dict[str, Plan] = {}
    if asking.any():  # a rep's one account is one kind or the other: take rows only for a mixed batch
        called = rows if asking.all() else rows[asking].reset_index(drop=True)
        called = called.assign(**{c: requests[c].to_numpy() for c in ("request_id", "reason", "request_date")})
        decided.update(_plans(config, champions, night, called, "request_id"))
    if not asking.all():
        quiet = rows if not asking.any() else rows[~asking].reset_index(drop=True)
        decided.update(_plans(config, champions, night, quiet, "account_id"))
    return [decided[a] for a in wanted]


def _plans(
    config: DeskConfig, champions: Champions, night: Night, decisions: pd.DataFrame, key: str
) -> dict[str, Plan]:
    """The plans of decisions of one kind (open requests keyed by ``request_id``, or accounts by ``account_id``)."""
    planned = plan(decisions, key, champions.save, config.offers, config.guardrails, every_deal=True)
    chosen = planned.decisions.assign(list_key=planned.decisions[key])
    points = rep_visible(talking_points(champions.churn, champions.save, chosen, night.business_date, key="list_key"))
    offers = _grouped(_records(planned.offers, [key, *OFFER_COLUMNS, *DEAL_FIELDS]), key)
    said = _grouped(_records(points), "list_key")
    out = {}
    for row in _records(chosen, [*PLAN_COLUMNS, key, "guardrail_note", P_SAVE_SOURCE, *DEAL_FIELDS]):
        mine = offers[row[key]]
        best = next(o for o in mine if o["choice"] == RECOMMENDED)
        second = next((o for o in mine if o["choice"] == FALLBACK), None)
        asked = key == "request_id"
        source = text(row.get(P_SAVE_SOURCE)) or MODEL
        out[str(row["account_id"])] = Plan(
            account_id=str(row["account_id"]),
            territory=str(row["territory"]),
            segment=text(row["segment"]) or None,
            business_date=night.business_date,
            request=Request(
                request_id=str(row["request_id"]), reason=str(row["reason"]), request_date=day_of(row["request_date"])
            )
            if asked
            else None,  # fmt: skip
            churn_probability=float(row["churn_probability"]),
            recommendation=choice_of(best),
            fallback=choice_of(second) if second is not None else None,
            guardrail_note=text(row["guardrail_note"]),
            guardrails=guardrails_of(mine),
            deal=deal_of(row),
            offers=[offer_of(o) for o in mine],
            talking_points=[point_of(p) for p in said.get(row[key], [])],
            models=champions.versions,
            p_save_source=source,
            p_save_notice=notice_of([source]),
        )
    return out


PLAN_COLUMNS = ("account_id", "territory", "segment", "request_id", "reason", "request_date", "churn_probability")
"""The decision's columns a plan reads (those present: a proactive account has no request)."""


def _records(frame: pd.DataFrame, columns: list[str] | None = None) -> list[dict[str, Any]]:
    """The rows as dicts, read column by column (far faster than ``iterrows``); only ``columns`` when given."""
    present = frame.columns.tolist()
    known = set(present)
    names = [c for c in columns if c in known] if columns is not None else present
    values = {str(c): frame[c].tolist() for c in dict.fromkeys(names)}
    return [dict(zip(values, row, strict=True)) for row in zip(*values.values(), strict=True)]


def _grouped(records: list[dict[str, Any]], key: str) -> dict[Any, list[dict[str, Any]]]:
    out: dict[Any, list[dict[str, Any]]] = {}
    for record in records:
        out.setdefault(record[key], []).append(record)
    return out


def rep_visible(points: pd.DataFrame) -> pd.DataFrame:
    """The points a rep may see: a guardrail note, a decision sentence, or a rep driver.

    A rep driver is a registered, actionable, non-sensitive feature (``models.talking_points.rep_driver``): the
    rule of the nightly's pages, checked again here so that nothing else reaches a rep.
    """
    feature = points["feature"]
    ok = [
        f is None or (isinstance(f, float) and np.isnan(f)) or f in DESIGN_POINTS or rep_driver(BY_NAME.get(str(f)))
        for f in feature.tolist()
    ]
    return points[np.asarray(ok, dtype=bool)]
