"""The live save plan: what to offer the account on the line, from the night's features and the champion models.

A rep opens an account while the customer talks. The plan is computed the way
the nightly run plans a listed row (``pipelines.nightly.score_shard``): churn
risk from the ``savedesk-churn`` champion, every catalog offer priced with the
``savedesk-save`` champion (``models.policy.plan_offers``), the guardrails, the
recommendation and its fallback (``models.policy.recommendations``) and the
talking points (``models.talking_points``). An account with an open
cancellation request is planned with the reason it gave; any other account gets
the proactive plan (the save model's mixture over the reasons it would give).

**What it reads.** The latest published business date (``DIR/published/<date>``),
its open requests (the inbound and flip rows, intraday additions included) and
the night's account context kept by the nightly run (``pipelines.nightly.context_path``).
Both are read once per published version and indexed by ``account_id``; the
models are loaded once, when the planner is made.

**Why a cache.** The inputs of a plan change only when a new version is
published, so each account's plan is computed once per version and kept
(least recently used first out); a new publication empties the cache.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel

from features.registry import BY_NAME
from models.churn import ChurnModel
from models.guardrails import REASON_WORDS
from models.policy import FALLBACK, REASON_CODES, RECOMMENDED, plan_offers, recommendations
from models.save import SaveModel
from models.talking_points import DESIGN_POINTS, rep_driver, talking_points
from pipelines.nightly import context_path
from pipelines.settings import Settings

CHURN_MODEL, SAVE_MODEL = "savedesk-churn", "savedesk-save"
REQUEST_LISTS = ("inbound.parquet", "flips.parquet")
CACHE_SIZE = 50_000
"""Plans kept per published version (a plan is a few kilobytes)."""
LOOK_EVERY = 1.0
"""Seconds between two looks for a new publication."""


class Offer(BaseModel):
    """One catalog offer for the account: its terms, value and what the guardrails said."""

    offer: str
    rollback_pct: float
    new_monthly_rate: float | None
    new_term_months: float | None
    concession_monthly: float | None
    one_off_cost: float | None
    margin_kept: float | None
    p_save: float
    expected_net_value: float
    allowed: bool
    blocked_by: list[str]
    needs_manager: bool
    capped_to: str
    note: str
    rank: int
    """1 = the recommendation, 2 = the fallback, ...; 0 = not allowed."""
    choice: str
    reason_codes: list[str]


class Choice(BaseModel):
    """The recommended offer or the fallback, and why, in words."""

    offer: str
    p_save: float
    expected_net_value: float
    reason_codes: list[str]
    reasons: list[str]


class Guardrail(BaseModel):
    """A guardrail that kept offers off the table for this account."""

    guardrail: str
    words: str
    offers: list[str]


class TalkingPoint(BaseModel):
    """A sentence for the call, with the feature and contribution behind it."""

    kind: str
    rank: int
    feature: str | None
    contribution: float | None
    direction: str
    sentence: str


class Request(BaseModel):
    """The open cancellation request the plan answers."""

    request_id: str
    reason: str
    request_date: date | None


class Plan(BaseModel):
    """The live save plan of one account."""

    account_id: str
    territory: str
    segment: str | None
    business_date: date
    request: Request | None
    churn_probability: float
    recommendation: Choice
    fallback: Choice | None
    guardrail_note: str
    """The guardrail that kept a more valuable offer than the recommendation off the table, in a rep's words."""
    guardrails: list[Guardrail]
    offers: list[Offer]
    talking_points: list[TalkingPoint]
    models: dict[str, dict[str, Any]]


@dataclass(frozen=True)
class Champions:
    """The champion models the server plans with, loaded once, and what they are."""

    churn: ChurnModel
    save: SaveModel
    versions: dict[str, dict[str, Any]]
    """``{"churn": {"name", "version", "alias"}, "save": {...}}``."""


def load_champions(settings: Settings) -> Champions:
    """The current champions of the churn and save models from the workspace's registry.

    Raises:
        LookupError: A model has no champion (run ``savedesk train``).
    """
    from models.tracking import Tracker

    tracker = Tracker.from_settings(settings)
    found = {kind: tracker.champion_version(name) for kind, name in (("churn", CHURN_MODEL), ("save", SAVE_MODEL))}
    missing = [name for name, version in found.items() if version is None]
    if missing:
        raise LookupError(f"No champion {missing} model in {tracker.display_uri}: run savedesk train first.")
    churn, save = found["churn"], found["save"]
    assert churn is not None and save is not None  # noqa: S101 - narrowed by the check above
    versions = {k: {"name": v.name, "version": v.version, "alias": "champion"} for k, v in found.items() if v}
    return Champions(tracker.load_churn_model(churn.model_uri), tracker.load_save_model(save.model_uri), versions)


def latest_published(published: Path) -> date | None:
    """The latest business date with a complete publication under ``published`` (None when there is none)."""
    try:
        names = os.listdir(published)
    except FileNotFoundError:
        return None
    days = []
    for name in names:
        try:
            day = date.fromisoformat(name)
        except ValueError:
            continue
        if (published / name / "manifest.json").is_file():
            days.append(day)
    return max(days, default=None)


def published_version(published: Path, day: date) -> str:
    """The name of the version folder ``published/<day>`` points at (the date itself for a plain folder)."""
    link = published / day.isoformat()
    return os.path.basename(os.readlink(link)) if link.is_symlink() else day.isoformat()


@dataclass(frozen=True)
class Night:
    """One published version's inputs, indexed by account."""

    business_date: date
    version: str
    """The version folder the date's link pointed at when read; a re-publication changes it."""
    context: pd.DataFrame
    """The night's account context, indexed by ``account_id``."""
    requests: pd.DataFrame
    """Open requests (``request_id``, ``reason``, ``request_date``), the latest per account, by ``account_id``."""

    def territory(self, account_id: str) -> str | None:
        """The account's territory, or None for an account not in service that night."""
        if account_id not in self.context.index:
            return None
        return str(self.context.at[account_id, "territory"])


def read_night(settings: Settings, day: date) -> Night:
    """The context and open requests of the version published for ``day``."""
    folder = settings.published_dir / published_version(settings.published_dir, day)
    context = pd.read_parquet(context_path(settings, day))
    context = context.drop_duplicates("account_id", keep="last").set_index("account_id", drop=False)
    context.index.name = None
    frames = [pd.read_parquet(folder / name) for name in REQUEST_LISTS if (folder / name).is_file()]
    frames = [f[["request_id", "account_id", "reason", "request_date"]] for f in frames if len(f)]
    if frames:
        requests = pd.concat(frames, ignore_index=True).sort_values(["account_id", "request_date", "request_id"])
    else:
        requests = pd.DataFrame(columns=["request_id", "account_id", "reason", "request_date"])
    requests = requests.drop_duplicates("account_id", keep="last").set_index("account_id")
    return Night(day, folder.name, context, requests)


class LivePlanner:
    """Plans accounts against the latest published version, with the champions loaded once.

    Plans are kept as JSON (what the API sends), at most ``cache_size`` of them;
    ``warm`` plans a list of accounts ahead of the calls, many at a time.
    """

    def __init__(
        self, settings: Settings, champions: Champions, cache_size: int = CACHE_SIZE, look_every: float = LOOK_EVERY
    ) -> None:
        """Plan with ``champions``; look for a new publication at most every ``look_every`` seconds."""
        self.settings = settings
        self.champions = champions
        self.cache_size = cache_size
        self.look_every = look_every
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
        day = latest_published(self.settings.published_dir)
        self._looked = time.monotonic()
        if day is None:
            raise LookupError(f"Nothing published in {self.settings.published_dir}: run savedesk nightly first.")
        version = published_version(self.settings.published_dir, day)
        if current is not None and current.business_date == day and current.version == version:
            return current
        with self._reload:
            current = self._night
            if current is None or current.business_date != day or current.version != version:
                current = read_night(self.settings, day)
                with self._lock:
                    self._night, self._cache = current, OrderedDict()
        return current

    @property
    def cached(self) -> int:
        """How many plans are ready."""
        return len(self._cache)

    def plan(self, account_id: str) -> Plan | None:
        """The account's live plan (None for an account not in service on the latest published date)."""
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
        """The account's plan as JSON, from the cache when this version has planned it already."""
        hit = self.cached_json(account_id)
        if hit is not None:
            return hit
        night = self.night()
        if account_id not in night.context.index:
            return None
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
        plans = {p.account_id: p.model_dump_json().encode() for p in plan_accounts(self.settings, self.champions,
                                                                                   night, account_ids)}  # fmt: skip
        with self._lock:
            if self._night is night:
                self._cache.update(plans)
                while len(self._cache) > self.cache_size:
                    self._cache.popitem(last=False)
        return plans


def plan_accounts(settings: Settings, champions: Champions, night: Night, account_ids: list[str]) -> list[Plan]:
    """Plan accounts as the nightly run plans listed decisions (see the module's docstring), many at once.

    Accounts not in service that night are left out; the rest come back in the order given.
    """
    churn = champions.churn
    wanted = [a for a in dict.fromkeys(account_ids) if a in night.context.index]
    rows = night.context.loc[wanted].reset_index(drop=True)
    rows["churn_probability"] = churn.predict_proba(rows)
    asking = rows["account_id"].isin(night.requests.index).to_numpy()
    requests = night.requests.reindex(rows["account_id"][asking])
    decided: dict[str, Plan] = {}
    if asking.any():  # a rep's one account is one kind or the other: take rows only for a mixed batch
        called = rows if asking.all() else rows[asking].reset_index(drop=True)
        called = called.assign(**{c: requests[c].to_numpy() for c in ("request_id", "reason", "request_date")})
        decided.update(_plans(settings, champions, night, called, "request_id"))
    if not asking.all():
        quiet = rows if not asking.any() else rows[~asking].reset_index(drop=True)
        decided.update(_plans(settings, champions, night, quiet, "account_id"))
    return [decided[a] for a in wanted]


def _plans(
    settings: Settings, champions: Champions, night: Night, decisions: pd.DataFrame, key: str
) -> dict[str, Plan]:
    """The plans of decisions of one kind (open requests keyed by ``request_id``, or accounts by ``account_id``)."""
    churn, save = champions.churn, champions.save
    decisions = save.with_reason_shares(decisions)  # proactive accounts: the reason model once per account
    plans = plan_offers(decisions, settings.save.offers, settings.save.guardrails, save.predict_proba)
    chosen = recommendations(plans)
    listed = _listed(decisions, chosen, key)
    points = rep_visible(talking_points(churn, save, listed, night.business_date, key="list_key"))
    offers = _grouped(_records(plans, [key, *OFFER_COLUMNS]), key)
    said = _grouped(_records(points), "list_key")
    notes = dict(zip(chosen[key].tolist(), chosen["guardrail_note"].tolist(), strict=True))
    out = {}
    for row in _records(decisions, [*PLAN_COLUMNS, key]):
        mine = offers[row[key]]
        best = next(o for o in mine if o["choice"] == RECOMMENDED)
        second = next((o for o in mine if o["choice"] == FALLBACK), None)
        asked = key == "request_id"
        out[str(row["account_id"])] = Plan(
            account_id=str(row["account_id"]),
            territory=str(row["territory"]),
            segment=_text(row["segment"]) or None,
            business_date=night.business_date,
            request=Request(
                request_id=str(row["request_id"]), reason=str(row["reason"]), request_date=_day(row["request_date"])
            )
            if asked
            else None,  # fmt: skip
            churn_probability=float(row["churn_probability"]),
            recommendation=_choice(best),
            fallback=_choice(second) if second is not None else None,
            guardrail_note=_text(notes.get(row[key])),
            guardrails=_guardrails(mine),
            offers=[_offer(o) for o in mine],
            talking_points=[_point(p) for p in said.get(row[key], [])],
            models=champions.versions,
        )
    return out


OFFER_COLUMNS = tuple(Offer.model_fields)
"""The columns of a planned offer a plan reads (``Offer``'s fields, those present)."""
PLAN_COLUMNS = ("account_id", "territory", "segment", "request_id", "reason", "request_date", "churn_probability")
"""The decision's columns a plan reads (those present: a proactive account has no request)."""


def _listed(decisions: pd.DataFrame, chosen: pd.DataFrame, key: str) -> pd.DataFrame:
    """The decisions with what talking points read of their recommendation (``offer``, ``guardrail_note``).

    Each decision has one recommendation: its columns are put beside the decision by position, which costs far
    less than merging the frames while a rep waits on one account; anything else is merged.
    """
    aligned = pd.Index(chosen[key]).get_indexer(decisions[key]) if chosen[key].is_unique else None
    if (
        aligned is None
        or (aligned < 0).any()
        or {"offer", "guardrail_note", "list_key"} & set(decisions.columns.tolist())
    ):
        return decisions.merge(chosen, on=key, how="inner").assign(list_key=lambda f: f[key])
    mine = decisions.reset_index(drop=True)
    recommended = {c: chosen[c].iloc[aligned].reset_index(drop=True) for c in ("offer", "guardrail_note")}
    return mine.assign(**recommended, list_key=mine[key])


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


def _guardrails(offers: list[dict[str, Any]]) -> list[Guardrail]:
    """Each guardrail that blocked an offer, with the offers it blocked, in the order the guardrails run."""
    blocked: dict[str, list[str]] = {}
    for offer in offers:
        for code in _text(offer["blocked_by"]).split(","):
            if code:
                blocked.setdefault(code, []).append(str(offer["offer"]))
    order = list(REASON_WORDS)
    codes = sorted(blocked, key=lambda c: order.index(c) if c in order else len(order))
    return [Guardrail(guardrail=c, words=REASON_WORDS.get(c, c), offers=blocked[c]) for c in codes]


def _choice(offer: dict[str, Any]) -> Choice:
    codes = [c for c in _text(offer["reason_codes"]).split(",") if c]
    return Choice(
        offer=str(offer["offer"]),
        p_save=float(offer["p_save"]),
        expected_net_value=float(offer["expected_net_value"]),
        reason_codes=codes,
        reasons=[REASON_CODES.get(c, c) for c in codes],
    )


def _offer(offer: dict[str, Any]) -> Offer:
    return Offer(
        offer=str(offer["offer"]),
        rollback_pct=float(offer["rollback_pct"]),
        new_monthly_rate=_number(offer.get("new_monthly_rate")),
        new_term_months=_number(offer.get("new_term_months")),
        concession_monthly=_number(offer.get("concession_monthly")),
        one_off_cost=_number(offer.get("one_off_cost")),
        margin_kept=_number(offer.get("margin_kept")),
        p_save=float(offer["p_save"]),
        expected_net_value=float(offer["expected_net_value"]),
        allowed=bool(offer["allowed"]),
        blocked_by=[c for c in _text(offer["blocked_by"]).split(",") if c],
        needs_manager=bool(offer["needs_manager"]),
        capped_to=_text(offer["capped_to"]),
        note=_text(offer["note"]),
        rank=int(offer["rank"]),
        choice=_text(offer["choice"]),
        reason_codes=[c for c in _text(offer["reason_codes"]).split(",") if c],
    )


def _point(point: dict[str, Any]) -> TalkingPoint:
    return TalkingPoint(
        kind=str(point["kind"]),
        rank=int(point["rank"]),
        feature=_text(point["feature"]) or None,
        contribution=_number(point["contribution"]),
        direction=_text(point["direction"]),
        sentence=_text(point["sentence"]),
    )


def _day(value: Any) -> date | None:
    return None if value is None or pd.isna(value) else pd.Timestamp(value).date()


def _text(value: Any) -> str:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return ""
    return str(value)


def _number(value: Any) -> float | None:
    if value is None or isinstance(value, str):
        return None
    number = float(value)
    return None if np.isnan(number) else number
