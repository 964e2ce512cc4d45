"""A review of published talking points against issue 16's bar, with every number recomputed from the raw tables.

Shared by ``tests/unit/test_point_review.py`` (a small simulated hauler) and ``bench/review_points.py`` (a
workspace's published day). The recomputation is written here from scratch, from the tables as they were on the
list's date (rows stamped on or before it; a resolution, payment, close or line end after it not yet known), and
imports nothing of ``features``: it is an independent witness of what the sentences say.

Per published set (one listed decision's points) it counts: sets with two points of one concept (its own concept
map, ``concept_of``) or one sentence twice; "holds them" points that raise the risk or read as a risk; offer
reasons whose fact is older than the freshness window; points a rep may say to the customer that compare them
with other customers; and, on a sample of points, every number a sentence prints against the raw tables.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import pandas as pd

FRESH_DAYS = 180
CHANGE_ORDER = {"annual_increase": 1, "fuel_surcharge": 2, "environmental_fee": 3, "rollback": 4,
                "rate_lock_renewal": 5}  # fmt: skip
INCREASES = ("annual_increase", "fuel_surcharge", "environmental_fee")
SURCHARGES = ("fuel_surcharge", "environmental_fee")
EVENTS = {"missed_pickup": "missed_pickups", "late_pickup": "late_pickups", "overage": "overages",
          "contamination": "contaminations", "damaged_container": "damaged_containers"}  # fmt: skip
COMPARISON = re.compile(r"territor|median|neighbo|other customers|accounts like|than (?:most|others)|market|average"
                        r" customer", re.IGNORECASE)  # fmt: skip
READS_AS_RISK = re.compile(r"\b(?:up|above|more than|rose|went up|ends on|out of contract)\b|^\d")
PROTECTIVE = re.compile(r"^(?:no |a customer for |under an agreement|agreement runs until )")
_MONTHS = "January|February|March|April|May|June|July|August|September|October|November|December"
TOKEN = re.compile(
    rf"(?P<month>(?:{_MONTHS}) \d{{4}})|(?P<date>(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{{1,2}}"
    r"(?:, \d{4})?)|(?P<money>\$[\d,]+(?:\.\d+)?)|(?P<pct>\d+(?:\.\d+)?%)|(?P<number>\d+(?:\.\d+)?)"
)


def concept_of(feature: Any) -> str:
    """The review's own concept of a feature: windows and "days since" of one thing are one concept."""
    name = str(feature)
    if name.startswith("tenure"):
        return "tenure"
    if name in ("rate_change_pct_90d", "rate_change_pct_365d", "days_since_increase", "last_increase_pct"):
        return "rate increase"
    if name in ("month_to_month", "days_to_contract_end"):
        return "agreement"
    if name.startswith("fill_pct"):
        return "fill"
    for event, counted in EVENTS.items():
        if name in (f"days_since_{event}", *(f"{counted}_{d}d" for d in (30, 90, 365))):
            return counted
    return re.sub(r"_(?:30|90|365)d$", "", name)


@dataclass
class Review:
    """What the review found."""

    sets: int = 0
    points: int = 0
    repeated_concept: int = 0
    repeated_sentence: int = 0
    protective: int = 0
    protective_risky: int = 0
    offer_reasons: int = 0
    stale_offer_reasons: int = 0
    customer_points: int = 0
    customer_comparisons: int = 0
    openings: int = 0
    sampled_points: int = 0
    numbers_checked: int = 0
    numbers_equal: int = 0
    examples: list[str] = field(default_factory=list)

    def figures(self) -> dict[str, Any]:
        """The figures, as the script prints them."""
        out = {k: v for k, v in self.__dict__.items() if k != "examples"}
        checked = self.numbers_checked
        out["numbers_equal_pct"] = round(100 * self.numbers_equal / checked, 2) if checked else None
        return out


class RawBook:
    """The raw tables as they were on ``as_of``, and the facts a sentence may print, recomputed per account."""

    def __init__(self, tables: dict[str, pd.DataFrame], as_of: date) -> None:
        self.as_of = as_of
        day = pd.Timestamp(as_of)
        self.day = day
        t = {name: frame.to_pandas() if hasattr(frame, "to_pandas") else frame.copy() for name, frame in tables.items()}
        for frame in t.values():
            for column in frame.columns:
                if column.endswith("_date"):
                    frame[column] = pd.to_datetime(frame[column], errors="coerce")
        stamp = {"accounts": "start_date", "service_lines": "start_date", "rate_changes": "effective_date",
                 "service_events": "event_date", "contacts": "contact_date", "save_attempts": "attempt_date",
                 "invoices": "invoice_date", "cancellation_requests": "request_date"}  # fmt: skip
        for name, column in stamp.items():
            if name in t:
                t[name] = t[name][t[name][column] <= day].copy()
        for name, column in (("contacts", "resolved_date"), ("service_lines", "end_date"), ("accounts", "close_date")):
            if name in t:
                t[name].loc[t[name][column] > day, column] = pd.NaT
        self.t = t
        self.accounts = t["accounts"].set_index("account_id")
        self.lines = t["service_lines"][t["service_lines"]["end_date"].isna()]
        self._revenue: dict[int, pd.Series] = {}

    # --- price
    def revenue(self, days_back: int) -> pd.Series:
        """Each account's monthly rate of its lines in service, at the rates of ``days_back`` days ago."""
        if days_back not in self._revenue:
            when = self.day - pd.Timedelta(days=days_back)
            changes = self.t["rate_changes"]
            changes = changes[changes["effective_date"] <= when].assign(
                _order=lambda f: f["change_type"].map(CHANGE_ORDER).fillna(9)
            )
            last = changes.sort_values(["line_id", "effective_date", "_order"]).groupby("line_id")["new_rate"].last()
            rate = self.lines["line_id"].map(last).fillna(self.lines["monthly_rate"])
            self._revenue[days_back] = rate.groupby(self.lines["account_id"]).sum().round(2)
        return self._revenue[days_back]

    def change(self, account: str, days: int) -> float:
        now, then = self.revenue(0).get(account, math.nan), self.revenue(days).get(account, math.nan)
        return now / then - 1 if then > 0 else math.nan

    def territory_median(self, territory: str) -> float:
        active = self.accounts[self.accounts["close_date"].isna()]
        now, then = self.revenue(0), self.revenue(365)
        change = (now / then.where(then > 0) - 1).reindex(active.index)
        return float(change[active["territory"] == territory].median())

    def increases(self, account: str) -> pd.DataFrame:
        """The account's increases, one row per day: the mean size and whether a surcharge came that day."""
        c = self.t["rate_changes"]
        c = c[(c["account_id"] == account) & c["change_type"].isin(INCREASES) & (c["new_rate"] > c["old_rate"])]
        c = c.assign(pct=c["new_rate"] / c["old_rate"] - 1, surcharge=c["change_type"].isin(SURCHARGES))
        return c.groupby("effective_date").agg(pct=("pct", "mean"), surcharge=("surcharge", "any")).sort_index()

    # --- events and contacts
    def events(self, account: str, kind: str) -> pd.Series:
        e = self.t["service_events"]
        return e.loc[(e["account_id"] == account) & (e["event_type"] == kind), "event_date"]

    def contacts(self, account: str) -> pd.DataFrame:
        c = self.t["contacts"]
        return c[c["account_id"] == account]

    def since(self, days: int) -> pd.Timestamp:
        return self.day - pd.Timedelta(days=days)

    # --- agreement
    def agreement_end(self, account: str) -> pd.Timestamp | None:
        a = self.accounts.loc[account]
        start, term = a["start_date"], a.get("contract_term_months")
        if "save_attempts" in self.t:
            s = self.t["save_attempts"]
            s = s[(s["account_id"] == account) & s["accepted"].astype(bool) & s["new_term_months"].notna()]
            if len(s):
                last = s.sort_values("attempt_date").iloc[-1]
                start, term = last["attempt_date"], last["new_term_months"]
        if term is None or pd.isna(term) or term == 0:
            return None
        term_days = round(float(term) * 30.44)
        to_end = (start - self.day).days + term_days
        if bool(a.get("auto_renew", False)) and to_end < 0 and term_days > 0:
            to_end += ((-to_end) // term_days + 1) * term_days
        return None if to_end < 0 else self.day + pd.Timedelta(days=to_end)


def spoken_day(day: pd.Timestamp, as_of: date) -> str:
    return f"{day:%b} {day.day}" + ("" if day.year == as_of.year else f", {day.year}")


def _window(name: str) -> int:
    return int(re.search(r"_(30|90|365)d$", name).group(1))  # type: ignore[union-attr]


def _window_tokens(days: int) -> list[str]:
    return [] if days == 365 else [str(days)]


def expected(book: RawBook, account: str, feature: str, sentence: str) -> tuple[list[str], int, list[bool]] | None:
    """The tokens the sentence should print, how old its fact is (days), and the facts implied ("no …" is a 0).

    None: a feature the review does not recompute.
    """
    day, as_of = book.day, book.as_of
    holds = sentence.startswith(("no ", "a customer for", "under an", "agreement runs"))
    if feature.startswith("days_since_") and feature.removeprefix("days_since_") in EVENTS:
        dates = book.events(account, feature.removeprefix("days_since_"))
        if not len(dates):
            return None
        last = dates.max()
        days = (day - last).days
        return [spoken_day(last, as_of)], days, []
    for kind, counted in EVENTS.items():
        if re.fullmatch(rf"{counted}_(30|90|365)d", feature):
            window = _window(feature)
            dates = book.events(account, kind)
            dates = dates[dates > book.since(window)]
            age = (day - dates.min()).days if len(dates) else 0
            if holds:
                return _window_tokens(window), age, [len(dates) == 0]
            return [str(len(dates)), *_window_tokens(window)], age, []
    if feature == "tenure_days":
        start = book.accounts.loc[account, "start_date"]
        days = (day - start).days
        month = f"{start:%B %Y}"
        return ([str(int(days // 365.25)), month] if holds else [month]), 0, []
    if feature == "days_to_contract_end":
        end = book.agreement_end(account)
        if end is None:
            return None
        return [spoken_day(end, as_of)], 0, []
    if feature == "month_to_month":
        return [], 0, [book.agreement_end(account) is None if not holds else book.agreement_end(account) is not None]
    if feature in ("rate_change_pct_90d", "rate_change_pct_365d"):
        window = _window(feature)
        change = book.change(account, window)
        if holds:
            return _window_tokens(window), window, [change <= 0]
        return [f"{abs(change):.0%}", *_window_tokens(window)], window, []
    if feature in ("days_since_increase", "last_increase_pct", "surcharges_365d"):
        inc = book.increases(account)
        if feature == "surcharges_365d":
            recent = inc[inc.index > book.since(365)]
            age = (day - recent.index.min()).days if recent["surcharge"].any() else 0
            n = int(recent["surcharge"].sum())
            return ([] if holds else [str(n)]), age, ([n == 0] if holds else [])
        if not len(inc):
            return None
        last = inc.index.max()
        days = (day - last).days
        if feature == "last_increase_pct":
            return [f"{round(inc['pct'].iloc[-1], 6):.1%}", spoken_day(last, as_of)], days, []
        return [spoken_day(last, as_of)], days, []
    if feature == "increase_vs_territory_365d":
        territory = book.accounts.loc[account, "territory"]
        gap = book.change(account, 365) - book.territory_median(territory)
        return [f"{abs(gap):.1%}"], 365, []
    if feature in ("fill_pct_last", "fill_pct_mean_365d"):
        e = book.t["service_events"]
        audits = e[(e["account_id"] == account) & (e["event_type"] == "fill_audit") & e["fill_pct"].notna()]
        if not len(audits):
            return None
        if feature == "fill_pct_last":
            last = audits["event_date"].max()
            return [f"{audits.loc[audits['event_date'] == last, 'fill_pct'].max():.0f}%"], (day - last).days, []
        recent = audits[audits["event_date"] > book.since(365)]
        return [f"{recent['fill_pct'].mean():.0f}%"], (day - recent["event_date"].min()).days, []
    if feature == "weekly_capacity_yards":
        lines = book.lines[book.lines["account_id"] == account]
        return [f"{round((lines['container_yards'] * lines['pickups_per_week']).sum(), 3):g}"], 0, []
    contact_counts = {"complaints_90d": ("complaint", 90), "complaints_365d": ("complaint", 365),
                      "billing_disputes_365d": ("billing_dispute", 365)}  # fmt: skip
    if feature in contact_counts or feature in ("escalations_365d", "unresolved_contacts"):
        c = book.contacts(account)
        if feature == "unresolved_contacts":
            mine = c[c["resolved_date"].isna()]
        elif feature == "escalations_365d":
            mine = c[c["escalated"].astype(bool) & (c["contact_date"] > book.since(365))]
        else:
            kind, window = contact_counts[feature]
            mine = c[(c["contact_type"] == kind) & (c["contact_date"] > book.since(window))]
        age = (day - mine["contact_date"].min()).days if len(mine) else 0
        window_tokens = _window_tokens(_window(feature)) if feature != "unresolved_contacts" else []
        if holds:
            return window_tokens, age, [len(mine) == 0]
        return [str(len(mine)), *window_tokens], age, []
    return None


def tokens(sentence: str) -> list[str]:
    """The numbers a sentence prints: days ("Aug 2"), months ("March 2019"), money, percents, plain numbers."""
    return [m.group(0) for m in TOKEN.finditer(sentence)]


def review(
    points: pd.DataFrame,
    decisions: pd.DataFrame,
    tables: dict[str, pd.DataFrame],
    as_of: date,
    sample: int = 600,
    seed: int = 0,
) -> Review:
    """Review a published day's talking points.

    Args:
        points: The talking points (``list_key``, ``kind``, ``feature``, ``contribution``, ``direction``,
            ``audience``, ``sentence``).
        decisions: One row per listed decision: ``list_key``, ``account_id``, ``offer`` and, when present, the
            deal's ``proposed_monthly_rate`` and ``proposed_term_months``.
        tables: The raw (or clean) tables.
        as_of: The list's as-of date.
        sample: How many points (with a recomputable feature, openings included) to check the numbers of.
        seed: The sample's seed.
    """
    out = Review()
    book = RawBook(tables, as_of)
    account = decisions.set_index("list_key")["account_id"].astype(str).to_dict()
    out.sets = int(points["list_key"].nunique())
    out.points = len(points)
    said = points[~points["kind"].isin(["opening", "guardrail"])]
    concept = said["feature"].map(concept_of)
    twice = said.assign(c=concept).groupby("list_key")["c"].agg(lambda c: c.duplicated().any())
    out.repeated_concept = int(twice.sum())
    out.repeated_sentence = int(points.groupby("list_key")["sentence"].agg(lambda s: s.duplicated().any()).sum())
    protective = points[points["kind"] == "protective"]
    out.protective = len(protective)
    risky = (protective["contribution"] >= 0) | (protective["direction"] != "lowers_risk")
    risky |= protective["sentence"].map(lambda s: bool(READS_AS_RISK.search(s)) or not PROTECTIVE.search(s))
    out.protective_risky = int(risky.sum())
    _note(out, protective[risky], "reads as a risk")
    customer = points[points["audience"] == "customer"]
    out.customer_points = len(customer)
    compares = customer["sentence"].map(lambda s: bool(COMPARISON.search(s)))
    out.customer_comparisons = int(compares.sum())
    _note(out, customer[compares], "compares")
    offers = points[points["kind"] == "offer_driver"]
    out.offer_reasons = len(offers)
    for row in offers.itertuples():
        got = expected(book, account[str(row.list_key)], str(row.feature), str(row.sentence))
        if row.feature != "reason" and (got is None or got[1] > FRESH_DAYS):
            out.stale_offer_reasons += 1
            _note(out, offers.loc[[row.Index]], f"older than {FRESH_DAYS} days ({got[1] if got else 'unknown age'})")
    out.openings = int((points["kind"] == "opening").sum())
    _check_numbers(out, book, points, decisions, account, sample, seed)
    return out


def _check_numbers(
    out: Review,
    book: RawBook,
    points: pd.DataFrame,
    decisions: pd.DataFrame,
    account: dict[str, str],
    sample: int,
    seed: int,
) -> None:
    """Every number of a sample of points against the raw tables (an opening's offer terms against the deal)."""
    numbered = points[points["kind"].isin(["risk_driver", "protective", "offer_driver", "opening"])]
    numbered = numbered[numbered["feature"].notna() | (numbered["kind"] == "opening")]
    picked = numbered.sample(min(sample, len(numbered)), random_state=seed) if len(numbered) else numbered
    deal = decisions.set_index("list_key")
    for row in picked.itertuples():
        key, sentence = str(row.list_key), str(row.sentence)
        want: list[str] = []
        facts: list[bool] = []
        if row.kind == "opening":
            want, facts = _opening_expected(book, account[key], row.feature, sentence, deal.loc[key])
        elif row.feature != "reason":
            got = expected(book, account[key], str(row.feature), sentence)
            if got is None:
                continue
            want, _, facts = got
        out.sampled_points += 1
        have = tokens(sentence)
        missing = Counter(want) - Counter(have)
        extra = Counter(have) - Counter(want)
        checked = max(len(want), len(have)) + len(facts)
        wrong = max(sum(missing.values()), sum(extra.values())) + sum(not f for f in facts)
        out.numbers_checked += checked
        out.numbers_equal += checked - min(wrong, checked)
        if wrong:
            _note(out, points.loc[[row.Index]], f"numbers {have} but the raw tables say {want} {facts}")


def _opening_expected(
    book: RawBook, account: str, feature: Any, sentence: str, deal: pd.Series
) -> tuple[list[str], list[bool]]:
    """The tokens of an opening line: the month they joined, the grievance's numbers, the offer's terms."""
    want: list[str] = []
    facts: list[bool] = []
    if "with us since" in sentence:
        start = book.accounts.loc[account, "start_date"]
        want.append(f"{start:%B %Y}")
        facts.append((book.day - start).days >= 365)
    if isinstance(feature, str) and feature:
        phrase = sentence.split("that ", 1)[-1] if "that " in sentence else sentence
        got = expected(book, account, feature, phrase.split(" — ")[0])
        if got is not None:
            want += got[0]
            facts.append(got[1] <= FRESH_DAYS)
    offer = str(deal.get("offer", ""))
    if offer.startswith("rollback_"):
        want.append(f"{offer.removeprefix('rollback_')}%")
    rate, term = deal.get("proposed_monthly_rate"), deal.get("proposed_term_months")
    if "$" in sentence and rate is not None and not pd.isna(rate):
        want.append(f"${float(rate):,.0f}")
    if "-month" in sentence and term is not None and not pd.isna(term):
        want.append(f"{float(term):.0f}")
    return want, facts


def _note(out: Review, rows: pd.DataFrame, why: str) -> None:
    for row in rows.head(5).itertuples():
        if len(out.examples) < 30:
            out.examples.append(f"{row.list_key} {row.kind} {row.feature}: {row.sentence!r} — {why}")


def read_tables(folder: Any) -> dict[str, pd.DataFrame]:
    """Every contract table of a folder of Parquet files (a workspace's ``clean``, one file or one per shard, or
    ``raw``)."""
    from pathlib import Path

    from features.view import table_files
    from sources.contract import TABLES

    found = {name: table_files(Path(folder), name) for name in TABLES}
    return {name: pd.concat([pd.read_parquet(p) for p in files], ignore_index=True)
            for name, files in found.items() if files}  # fmt: skip


def as_date(value: Any) -> date:
    return pd.Timestamp(value).date()
