"""What the save model promised on the desk's matured requests: the P(save) of the offer each rep made.

The promise recorded when the offer was made is the published one: a request
on a published inbound (or flips) list carries the ``p_save`` of its
recommended offer and the ``fallback_p_save`` of its fallback; when the rep
made one of those, that is the promise. The extract's ``save_attempts`` carry
no prediction, so every other request is given the save champion's P(save) for
the offer made, recomputed on the account as of the month end before the
request (``features.requests.request_decisions``: what the model would have
said then). ``models.promise`` judges the two against the saves.
"""

from __future__ import annotations

from datetime import date

import pandas as pd

from features.labels import LabelSpec
from features.requests import request_decisions
from models.names import SAVE_MODEL
from models.promise import PROMISED
from pipelines.settings import Settings
from pipelines.workspace import Workspace
from serving.publication.catalog import LIST_FILES, REQUEST_LISTS, PublishedCatalog

PUBLISHED, RECOMPUTED = "published", "recomputed"
"""Where a request's promise came from (the ``promise_source`` column)."""


def published_promises(catalog: PublishedCatalog) -> pd.DataFrame:
    """Every published request's promised P(save) per offer: ``request_id``, ``offer``, ``promised``.

    A request listed on several nights keeps its first night's promise (the one made before the call).
    """
    rows, folder = [], catalog.folder
    for published in sorted(folder.glob("????-??-??")) if folder.is_dir() else []:
        try:
            day = date.fromisoformat(published.name)
        except ValueError:
            continue
        version = catalog.resolved(day)
        for name in REQUEST_LISTS:
            path = version / LIST_FILES[name]
            if not path.is_file():
                continue
            lists = pd.read_parquet(path)
            for offer, p in (("offer", "p_save"), ("fallback_offer", "fallback_p_save")):
                if {offer, p} <= set(lists.columns):
                    part = lists[["request_id", offer, p]].set_axis(["request_id", "offer", PROMISED], axis=1)
                    rows.append(part.assign(business_date=day))
    if not rows:
        return pd.DataFrame({"request_id": [], "offer": [], PROMISED: []})
    every = pd.concat(rows, ignore_index=True).dropna(subset=["offer", PROMISED])
    first = every.sort_values("business_date", kind="stable").drop_duplicates(["request_id", "offer"])
    return first[["request_id", "offer", PROMISED]].reset_index(drop=True)


def recomputed_promises(
    settings: Settings, workspace: Workspace, window: tuple[date, date]
) -> tuple[pd.DataFrame, str | None]:
    """The save champion's P(save) for the offer made on every answered request dated in ``window``.

    Returns:
        (``request_id``, ``promised``; None, or the sentence saying why there are none).
    """
    from pipelines.services import open_tracker

    empty = pd.DataFrame({"request_id": pd.Series([], dtype=object), PROMISED: pd.Series([], dtype=float)})
    tracker = open_tracker(settings)
    champion = tracker.champion_version(SAVE_MODEL)
    if champion is None:
        return empty, f"no {SAVE_MODEL} champion to recompute the promises of unpublished requests"
    model = tracker.load_save_model(champion.model_uri)
    spec = LabelSpec(durable_days=settings.save.durable_days)
    decisions = request_decisions(workspace.tables, workspace.end, window[0], window[1], spec)
    if decisions.empty:
        return empty, None
    return pd.DataFrame({"request_id": decisions["request_id"], PROMISED: model.predict_proba(decisions)}), None


def promised_requests(
    settings: Settings, workspace: Workspace, decisions: pd.DataFrame, window: tuple[date, date]
) -> tuple[pd.DataFrame, list[str]]:
    """``decisions`` with the promise of the offer made (``promised``) and its ``promise_source``.

    Returns:
        (the decisions, a request without a promise left out; what was skipped and why, as sentences).
    """
    skipped: list[str] = []
    if decisions.empty:
        return decisions.assign(**{PROMISED: pd.Series(dtype=float), "promise_source": pd.Series(dtype=object)}), []
    published = published_promises(settings.catalog)
    out = decisions.merge(published, on=["request_id", "offer"], how="left")
    out["promise_source"] = out[PROMISED].notna().map({True: PUBLISHED, False: RECOMPUTED})
    missing = out[PROMISED].isna()
    if missing.any():
        recomputed, why = recomputed_promises(settings, workspace, window)
        if why:
            skipped.append(f"{_requests(int(missing.sum()))} not judged by promise: {why}")
        fill = out.loc[missing, "request_id"].map(recomputed.set_index("request_id")[PROMISED])
        out.loc[missing, PROMISED] = fill
    lost = int(out[PROMISED].isna().sum())
    if lost and not skipped:
        skipped.append(f"{_requests(lost)} not judged by promise: the account was not in service the month before")
    return out.dropna(subset=[PROMISED]).reset_index(drop=True), skipped


def _requests(count: int) -> str:
    return f"{count:,} request" + ("" if count == 1 else "s")
