"""Shadow nights: a challenger the gate did not promote, scored beside the champion into ``DIR/shadow``.

With ``nightly.shadow_nights`` above 0, the nightly, after publishing the
champion's lists, plans the same accounts and requests again with each
model's challenger (a model whose challenger is its champion keeps its
champion) and writes those lists to ``DIR/shadow/<date>/`` with the same
writer: the same files, a manifest naming the challengers and how the lists
differ from the published ones. Nothing the desk reads (the published
folder, the API, the rep page) ever looks there, and talking points are left
out (they would cost SHAP for lists nobody calls).

A challenger is shadowed for ``shadow_nights`` business dates (a re-run of a
date counts once); then it waits for review: ``savedesk promote`` makes it
champion, and from the next nightly on its lists are the published ones.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd

from models.champions import Champions
from models.list_changes import compare
from models.names import CHURN_MODEL, SAVE_MODEL
from models.registry import CHALLENGER
from models.tracking import Tracker
from pipelines.nightly import check_features, desk_rules, gather_lists, proactive_limit, score_shard, shard
from pipelines.settings import Settings
from serving.call_lists import CallLists
from serving.publication.catalog import MANIFEST
from serving.publication.publish import publish
from serving.roster import Roster

MODELS = {"churn": CHURN_MODEL, "save": SAVE_MODEL}


def shadow_versions(tracker: Tracker) -> dict[str, dict[str, Any]] | None:
    """What a shadow night would plan with: each model's challenger where it is not the champion, else the champion.

    Returns:
        ``{"churn": {"name", "version", "alias"}, "save": {...}}``, or None when no model has a challenger apart
        from its champion (or a model has no champion: there is nothing published to shadow).
    """
    versions: dict[str, dict[str, Any]] = {}
    for kind, name in MODELS.items():
        champion, challenger = tracker.champion_version(name), tracker.alias_version(name, CHALLENGER)
        if champion is None:
            return None
        held = challenger if challenger is not None and challenger.version != champion.version else champion
        alias = CHALLENGER if held is challenger else "champion"
        versions[kind] = {"name": held.name, "version": held.version, "alias": alias}
    return versions if any(v["alias"] == CHALLENGER for v in versions.values()) else None


def nights_shadowed(folder: Path, versions: dict[str, dict[str, Any]], day: date) -> int:
    """Business dates other than ``day`` already shadowed with exactly these versions."""
    if not folder.is_dir():
        return 0
    count = 0
    for link in folder.iterdir():
        if link.name.startswith(".") or link.name == day.isoformat() or not (link / MANIFEST).is_file():
            continue
        if json.loads((link / MANIFEST).read_text()).get("models") == versions:
            count += 1
    return count


def load_shadow(tracker: Tracker, versions: dict[str, dict[str, Any]]) -> Champions:
    """The models of ``versions`` from the registry, as a ``Champions`` the nightly steps plan with."""
    churn, save = versions["churn"], versions["save"]
    return Champions(
        tracker.load_churn_model(f"models:/{churn['name']}/{churn['version']}"),
        tracker.load_save_model(f"models:/{save['name']}/{save['version']}"),
        versions,
    )


def differences(published: CallLists, shadow: CallLists) -> dict[str, dict[str, Any]]:
    """Each list's rows entering and leaving under the challenger, against the published lists."""
    before, after = published.frames(), shadow.frames()
    return {name: compare(name, before[name]["list_key"], after[name]["list_key"]).as_dict() for name in before}


def shadow_night(
    settings: Settings,
    tracker: Tracker,
    day: date,
    context: pd.DataFrame,
    requests: pd.DataFrame,
    roster: Roster,
    published: CallLists,
    champion_versions: dict[str, dict[str, Any]],
) -> dict[str, Any] | None:
    """Plan the night again with the challengers and write their lists to ``DIR/shadow/<date>/``.

    Args:
        settings: ``nightly.shadow_nights``, the desk's rules and the shadow folder.
        tracker: The registry.
        day: The business date.
        context: The night's accounts in service.
        requests: The night's open requests.
        roster: The night's roster.
        published: The lists published for ``day`` (compared, never changed).
        champion_versions: The champions the published lists were planned with.

    Returns:
        What was shadowed (folder, versions, counts, differences), or None when nothing is to be shadowed:
        shadow nights off, no challenger apart from the champions, or this challenger's nights are done.
    """
    desk = settings.nightly
    versions = shadow_versions(tracker) if desk.shadow_nights > 0 else None
    if versions is None:
        return None
    done = nights_shadowed(settings.shadow_dir, versions, day)
    if done >= desk.shadow_nights:
        return None
    models = load_shadow(tracker, versions)
    check_features(context, models)
    limit = proactive_limit(desk, roster)
    scored = [score_shard(settings, part, requests, models, limit) for part in shard(context, desk.shards)]
    lists, _ = gather_lists(scored, roster, desk_rules(desk, settings.outreach), day)
    changed = differences(published, lists)
    extra = {
        "as_of": day.isoformat(),
        "models": versions,
        "shadow_of": champion_versions,
        "shadow_night": done + 1,
        "shadow_nights": desk.shadow_nights,
        "compared_with_published": changed,
    }
    folder = publish(settings.shadow_dir, day, lists, pd.DataFrame(columns=["list_key", "sentence"]), extra)
    return {"folder": str(folder), "night": done + 1, "of": desk.shadow_nights, "models": versions,
            **lists.counts(), "compared_with_published": changed}  # fmt: skip
