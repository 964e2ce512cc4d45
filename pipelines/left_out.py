"""One failing part never stops the rest: the territories, reps and accounts a night leaves out, and why.

The nightly plans every account it can. A territory its offers cannot be priced in (no cost index), a rep whose
page would overwrite another rep's, or an account whose plan fails is left out with a warning and counted; every
other one gets its lists. The night's summary and the published manifest list what was left out (``LeftOut``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass

import pandas as pd

from models.cost_to_serve import CostToServe
from serving.publication.publish import rep_file_stem
from serving.roster import Roster, roster_from_frame

Planner = Callable[[pd.DataFrame], pd.DataFrame]
"""Plans a frame of decisions (``models.planner.plan``'s decisions, for one key)."""

SHOWN_ACCOUNTS = 5


@dataclass(frozen=True)
class LeftOut:
    """A part of the book the night left out.

    Attributes:
        kind: ``territory``, ``rep`` or ``account``.
        name: The territory, the rep, or the account ids (the first few when there are many).
        accounts: Accounts left without a plan (a rep's rows go to the territory's other reps: 0).
        reason: Why, in words.
    """

    kind: str
    name: str
    accounts: int
    reason: str

    def sentence(self) -> str:
        """The warning a person reads."""
        what = f" ({self.accounts:,} accounts without a plan)" if self.accounts else ""
        return f"{self.kind} {self.name} was left out of tonight's lists{what}: {self.reason}"

    def as_dict(self) -> dict[str, object]:
        """The record the summary and the manifest keep."""
        return asdict(self)


def merged(parts: Iterable[LeftOut]) -> list[LeftOut]:
    """The same territory, rep or accounts left out by several shards for one reason, counted once, sorted."""
    totals: dict[tuple[str, str, str], int] = {}
    for part in parts:
        key = (part.kind, part.name, part.reason)
        totals[key] = totals.get(key, 0) + part.accounts
    return [LeftOut(kind, name, count, reason) for (kind, name, reason), count in sorted(totals.items())]


def carried(night: Iterable[dict[str, object]], new: Iterable[LeftOut]) -> list[LeftOut]:
    """What a published day has left out: the night's records (from its manifest), then what a later run adds."""
    kept = [LeftOut(**record) for record in night]  # type: ignore[arg-type]
    known = {(part.kind, part.name, part.reason) for part in kept}
    return kept + [part for part in merged(new) if (part.kind, part.name, part.reason) not in known]


def priced(scored: pd.DataFrame, cost: CostToServe) -> tuple[pd.DataFrame, list[LeftOut]]:
    """The accounts whose territory has a cost index, and the territories left out for want of one."""
    unknown = cost.unknown(scored["territory"])
    if not unknown:
        return scored, []
    missing = scored["territory"].isin(unknown)
    reason = (
        "its offers cannot be priced: it has no cost index in save.offers.cost_to_serve.territory_index"
        " (add it, or set save.offers.cost_to_serve.default_index)"
    )
    counts = scored.loc[missing, "territory"].value_counts()
    return scored[~missing], [LeftOut("territory", str(t), int(counts[t]), reason) for t in unknown]


def plan_apart(decisions: pd.DataFrame, planner: Planner) -> tuple[pd.DataFrame, list[LeftOut]]:
    """Plan the decisions; when that fails, plan each territory alone and find the accounts that fail.

    Args:
        decisions: Scored decisions with ``account_id`` and ``territory``.
        planner: Plans a frame of them.

    Returns:
        The plans of every part that could be planned, and what was left out: a territory when both its
        halves fail, else the accounts that fail (found by halving the failing part).

    Raises:
        Exception: The planner's own error, when not even an empty frame can be planned (nothing to isolate).
    """
    try:
        return planner(decisions), []
    except Exception:  # noqa: BLE001 - one failing part never stops the rest; each part is tried below
        if decisions.empty:
            raise
    plans: list[pd.DataFrame] = []
    left: list[LeftOut] = []
    for territory, part in decisions.groupby("territory", sort=True):
        try:
            plans.append(planner(part))
        except Exception as error:  # noqa: BLE001 - recorded as a left-out part
            done, lost = _halves(part, planner, error, str(territory), whole=True)
            plans += done
            left += lost
    frames = [frame for frame in plans if len(frame)]
    return (pd.concat(frames, ignore_index=True) if frames else planner(decisions.iloc[0:0])), left


def _halves(
    part: pd.DataFrame, planner: Planner, error: Exception, territory: str, *, whole: bool
) -> tuple[list[pd.DataFrame], list[LeftOut]]:
    """Plan the halves of a failing part (by account); follow the one half that fails, give up when both do."""
    accounts = sorted(part["account_id"].astype(str).unique())
    if len(accounts) > 1:
        first = part["account_id"].astype(str).isin(accounts[: len(accounts) // 2])
        done, failed = [], []
        for half in (part[first], part[~first]):
            try:
                done.append(planner(half))
            except Exception as half_error:  # noqa: BLE001 - recorded as a left-out part
                failed.append((half, half_error))
        if len(failed) == 1:
            more, lost = _halves(failed[0][0], planner, failed[0][1], territory, whole=False)
            return done + more, lost
        if not failed:
            return done, []
    reason = f"planning failed ({type(error).__name__}: {error})"
    if whole and len(accounts) > 1:
        return [], [LeftOut("territory", territory, len(accounts), reason)]
    shown = ", ".join(accounts[:SHOWN_ACCOUNTS]) + (" and others" if len(accounts) > SHOWN_ACCOUNTS else "")
    return [], [LeftOut("account", shown, len(accounts), reason)]


def file_safe(roster: Roster) -> tuple[Roster, list[LeftOut]]:
    """The roster without reps whose page and CSV would overwrite another rep's (the first by id stays)."""
    reps = roster.to_frame().sort_values("rep_id", kind="stable", ignore_index=True)
    stems = reps["rep_id"].astype(str).map(lambda rep: rep_file_stem(rep).lower())
    clash = stems.duplicated(keep="first")
    if not clash.any():
        return roster, []
    first = dict(zip(stems[~clash], reps.loc[~clash, "rep_id"], strict=True))
    left = [
        LeftOut(
            "rep",
            str(rep),
            0,
            f"their page and CSV would overwrite those of rep {first[stem]} (file name {stem!r});"
            " their rows went to the territory's other reps. Give the reps distinct ids.",
        )
        for rep, stem in zip(reps.loc[clash, "rep_id"], stems[clash], strict=True)
    ]
    return roster_from_frame(reps[~clash]), left
