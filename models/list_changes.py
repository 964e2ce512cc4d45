"""How the desk's lists would change if a challenger replaced the champion.

A better AUC says little about what the reps would see tomorrow. The gate
states it in accounts: on the latest snapshot of the book, who would enter and
who would leave the top of each list. For the churn model: the top of the risk
ranking (as many accounts as the desk calls a day) and, per territory, the
accounts the nightly plans proactive calls for first (risk × monthly revenue,
as many as the territory's reps call a day). For the save model: the
recommended offer of each test request (which requests would be led with
another offer).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

SHOWN = 10
"""Account (or request) ids kept per list and direction in the summary; the counts are always complete."""


@dataclass(frozen=True)
class ListChange:
    """One list's top before (champion) and after (challenger)."""

    name: str
    size: int
    entering: tuple[str, ...]
    leaving: tuple[str, ...]

    def sentence(self) -> str:
        """The change in words."""
        if not self.entering and not self.leaving:
            return f"{self.name}: unchanged ({self.size})"
        return f"{self.name}: {len(self.entering)} enter, {len(self.leaving)} leave (of {self.size})"

    def as_dict(self) -> dict[str, Any]:
        """Counts and the first ids of each direction."""
        return {
            "name": self.name,
            "size": self.size,
            "entering": len(self.entering),
            "leaving": len(self.leaving),
            "entering_ids": list(self.entering[:SHOWN]),
            "leaving_ids": list(self.leaving[:SHOWN]),
        }


@dataclass(frozen=True)
class ListChanges:
    """Every list's change, on the book of ``as_of``."""

    as_of: str
    lists: tuple[ListChange, ...]

    @property
    def entering(self) -> int:
        """Rows entering the top of any list."""
        return sum(len(c.entering) for c in self.lists)

    @property
    def leaving(self) -> int:
        """Rows leaving the top of any list."""
        return sum(len(c.leaving) for c in self.lists)

    def summary(self) -> str:
        """One line: how much moves, and where most."""
        if not self.lists:
            return f"List changes on {self.as_of}: no list to compare"
        moved = sorted((c for c in self.lists if c.entering or c.leaving), key=lambda c: -len(c.entering))
        head = f"List changes on {self.as_of}: {self.entering} enter and {self.leaving} leave over {len(self.lists)}"
        head += " lists"
        return head + ("; " + "; ".join(c.sentence() for c in moved[:4]) if moved else " (none changes)")

    def as_dict(self) -> dict[str, Any]:
        """The summary as plain values (the decision, the audit log, the run's report)."""
        return {
            "as_of": self.as_of,
            "entering": self.entering,
            "leaving": self.leaving,
            "lists": [c.as_dict() for c in self.lists],
        }

    def metrics(self) -> dict[str, float]:
        """Totals as run metrics."""
        return {"list_changes.entering": float(self.entering), "list_changes.leaving": float(self.leaving)}


def compare(name: str, before: Iterable[Any], after: Iterable[Any]) -> ListChange:
    """The change of one list from the keys on it before to those after (sorted, as text)."""
    old, new = {str(k) for k in before}, {str(k) for k in after}
    return ListChange(name, len(new), tuple(sorted(new - old)), tuple(sorted(old - new)))


def top_keys(frame: pd.DataFrame, value: np.ndarray, n: int, key: str = "account_id") -> list[Any]:
    """The ``n`` keys of ``frame`` with the highest ``value`` (ties by key: the result never depends on row order)."""
    ranked = pd.DataFrame({"key": frame[key].to_numpy(), "value": value}).sort_values(
        ["value", "key"], ascending=[False, True], kind="stable"
    )
    return ranked["key"].head(max(n, 0)).tolist()


def churn_list_changes(
    book: pd.DataFrame,
    champion: np.ndarray,
    challenger: np.ndarray,
    capacity: Mapping[str, int],
    as_of: str,
) -> ListChanges:
    """The churn lists' tops under the champion's and the challenger's scores of ``book``.

    Args:
        book: The accounts of the latest snapshot (``account_id``, ``territory``, ``monthly_revenue``).
        champion: The champion's churn probability of each row of ``book``.
        challenger: The challenger's, same rows.
        capacity: Territory → proactive calls its reps make a day (a territory missing gets the smallest).
        as_of: The snapshot's date, for the summary.
    """
    revenue = pd.to_numeric(book["monthly_revenue"], errors="coerce").fillna(0.0).to_numpy()
    fallback = min(capacity.values(), default=1)
    desk = sum(capacity.get(t, fallback) for t in book["territory"].dropna().unique())
    lists = [compare(f"top {desk} by risk", top_keys(book, champion, desk), top_keys(book, challenger, desk))]
    territory = book["territory"].astype(str).to_numpy()
    for name in sorted(set(territory)):
        rows = territory == name
        part, n = book[rows], capacity.get(name, fallback)
        before, after = (
            top_keys(part, champion[rows] * revenue[rows], n),
            top_keys(part, challenger[rows] * revenue[rows], n),
        )
        lists.append(compare(f"proactive {name}", before, after))
    return ListChanges(as_of, tuple(lists))


def offer_changes(champion_plans: pd.DataFrame, challenger_plans: pd.DataFrame, as_of: str) -> ListChanges:
    """Which requests each offer would lead with under the challenger save model, against the champion.

    Args:
        champion_plans: The champion's plans (``request_id``, ``offer``, ``choice``) of the test requests.
        challenger_plans: The challenger's plans of the same requests.
        as_of: The test period, for the summary.
    """

    def recommended(plans: pd.DataFrame) -> pd.DataFrame:
        return plans.loc[plans["choice"] == "recommended", ["request_id", "offer"]]

    before, after = recommended(champion_plans), recommended(challenger_plans)
    offers = sorted(set(before["offer"]) | set(after["offer"]))
    lists = [
        compare(f"leads with {offer}", before.loc[before["offer"] == offer, "request_id"],
                after.loc[after["offer"] == offer, "request_id"])
        for offer in offers
    ]  # fmt: skip
    return ListChanges(as_of, tuple(lists))
