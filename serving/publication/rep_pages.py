"""The printable page of a rep's call list (``reps/<rep>.html``), and the talking points a rep's files show.

The page is ``serving/templates/published_list.html``; its talking points use the
same markup as the live list (``serving/templates/_talking_points.html``). The
page is self-contained: inline style, no script, and a Content-Security-Policy
that allows nothing else.
"""

from __future__ import annotations

from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

import jinja2
import pandas as pd

from models.deal import APPROVALS
from models.point_wording import KIND_LABELS
from models.policy import RECOMMENDATION_WORDS
from models.valuation import P_SAVE_SOURCE, notice_of
from serving.call_lists import FLIP, INBOUND, PROACTIVE
from serving.formatting import dollars, number, percent, text, words

TEMPLATES = Path(__file__).resolve().parents[1] / "templates"
PAGE = "published_list.html"

SECTIONS = (
    (INBOUND, "Inbound queue — cancellation requests, due today", "inbound", "Request", "Expected value"),
    (FLIP, "Flips — specialist visits, due today", "flips", "Request", "Expected value"),
    (PROACTIVE, "Proactive outreach", "proactive", "Account", "Saveable value"),
)
"""Each list on the page, in order: list, title, short name, what its key is, what its value is."""

ShownPoints = dict[str, list[dict[str, str]]]
"""list_key → the talking points a rep's files show: ``sentence``, ``kind``, ``label``, ``css``, ``audience``."""


def shown_points(points: pd.DataFrame, top: int | None) -> ShownPoints:
    """The talking points that may go on a rep's files, by list_key, in page order (at most ``top`` when given).

    A point shows when its ``on_page`` is true, or, without that column, when it
    is ``actionable`` and not ``sensitive`` (as far as those columns exist).

    Args:
        points: The talking points, sorted in page order (key, kind, rank).
        top: At most this many points per listed row (None: all).
    """
    page = points[_on_page(points)]
    if top is not None:
        page = page[page.groupby("list_key", sort=False).cumcount() < top]

    def column(name: str) -> list[str]:
        return [text(x) for x in page[name].tolist()] if name in page else [""] * len(page)

    out: ShownPoints = {}
    for key, sentence, direction, kind, audience in zip(
        column("list_key"), column("sentence"), column("direction"), column("kind"), column("audience"), strict=True
    ):
        label = KIND_LABELS.get(kind) or words(direction)
        css = "good" if direction in ("lowers_risk", "raises_save") else "bad" if direction else ""
        out.setdefault(key, []).append(
            {"sentence": sentence, "kind": kind, "label": label, "css": css, "audience": audience}
        )
    return out


def _on_page(points: pd.DataFrame) -> pd.Series:
    if "on_page" in points:
        return points["on_page"].fillna(False).astype(bool)
    show = pd.Series(True, index=points.index)
    if "actionable" in points:
        show &= points["actionable"].fillna(False).astype(bool)
    if "sensitive" in points:
        show &= ~points["sensitive"].fillna(True).astype(bool)
    return show


def rep_page(rep: str, day: date, items: list[dict[str, Any]], shown: ShownPoints) -> bytes:
    """A rep's printable page: their rows of each list (``items``, in page order) with the points ``shown``."""
    sections = []
    for name, title, short, key_label, value_label in SECTIONS:
        rows = [_html_row(r, name, shown) for r in items if r.get("list") == name]
        sections.append(
            {
                "title": title,
                "short": short,
                "count": len(rows),
                "key_label": key_label,
                "value_label": value_label,
                "reason": name != PROACTIVE,
                "rows": rows,
            }
        )
    territories = sorted({text(r.get("territory")) for r in items})
    notice = notice_of(r.get(P_SAVE_SOURCE) for r in items)  # offers valued from the catalog's prior save rates
    page = _page().render(rep=rep, day=day.isoformat(), territory=", ".join(territories), sections=sections,
                          notice=notice)  # fmt: skip
    return page.encode("utf-8")


def deal_line(row: dict[str, Any]) -> dict[str, str]:
    """A listed row's deal in one line, the approval it needs, and its jurisdiction's compliance notes.

    As ``deal``, ``approval`` and ``compliance`` (the notes only for a change of service); each empty when the
    row lacks it.
    """
    current, proposed, change = (
        row.get(c) for c in ("current_monthly_rate", "proposed_monthly_rate", "monthly_change")
    )
    deal = ""
    if dollars(current) and dollars(proposed):
        moved = round(number(change) or 0.0, 2)
        sign = "+" if moved > 0 else ""
        deal = f"{dollars(current)} → {dollars(proposed)} a month ({sign}{dollars(change)})" if moved else (
            f"{dollars(current)} a month, rate unchanged"
        )  # fmt: skip
        term = number(row.get("proposed_term_months"))
        deal += f", {term:g}-month term" if term else ""
    notes = row.get("compliance_notes")
    changes = bool(text(row.get("proposed_change")))
    approval = text(row.get("approval"))
    return {
        "deal": deal,
        "approval": APPROVALS.get(approval, approval) if approval else "",
        "compliance": " ".join(str(n) for n in notes) if changes and notes is not None and len(notes) else "",
    }


@cache
def _page() -> jinja2.Template:
    """The page's template, loaded on first use."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True, undefined=jinja2.StrictUndefined
    )
    return env.get_template(PAGE)


def _html_row(row: dict[str, Any], name: str, shown: ShownPoints) -> dict[str, Any]:
    value = row.get("saveable_value") if name == PROACTIVE else row.get("expected_net_value")
    codes = [c for c in text(row.get("reason_codes")).split(",") if c]
    return {
        "rank": text(row.get("rank")),
        "new": text(row.get("batch")) == "intraday",
        "key": text(row.get("list_key")),
        "account": text(row.get("account_id")),
        "segment": text(row.get("segment")),
        "reason": words(row.get("reason")),
        "risk": percent(row.get("churn_probability")),
        "offer": words(row.get("offer")),
        "fallback": words(row.get("fallback_offer")),
        "why": "; ".join(RECOMMENDATION_WORDS.get(c, c) for c in codes),
        "guardrail": text(row.get("guardrail_note")),
        "p_save": percent(row.get("p_save")),
        "value": dollars(value),
        **deal_line(row),
        "points": [  # the guardrail's note is shown with the offer already
            p for p in shown.get(text(row.get("list_key")), []) if p["sentence"] != text(row.get("guardrail_note"))
        ],
    }
