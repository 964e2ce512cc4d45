"""The hidden truth of a simulated hauler, and the summary that checks it is plausible."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sources import vocabulary as v
from sources.simulator.book import SEGMENT
from sources.simulator.calendar import EPOCH
from sources.simulator.dynamics import DURABLE_SAVE_DAYS, Hauler
from sources.simulator.tables import Keys, codes, dates

DURABLE_DAYS = DURABLE_SAVE_DAYS


def truth_tables(hauler: Hauler, keys: Keys) -> dict[str, pa.Table]:
    """True hazards, save responses, latent drivers and costs to serve."""
    end = hauler.calendar.end
    h = {k: np.concatenate([row[k] for row in hauler.hazard_rows]) for k in hauler.hazard_rows[0]}
    order = np.lexsort((h["month"], h["account"]))
    hazard = pa.table({
        "account_id": keys.account_id.take(pa.array(h["account"][order])),
        "month": dates(hauler.calendar.month_starts[h["month"][order]], end),
        "request_hazard": pa.array(h["request"][order].astype(np.float32)),
        "closure_hazard": pa.array(h["closure"][order].astype(np.float32)),
        "exit_decided": pa.array(h["exit_decided"][order]),
    })  # fmt: skip

    t = _answered(hauler)
    position = keys.request_lookup[t["request"]]
    known = np.flatnonzero(position >= 0)
    offers = len(v.CATALOG_OFFERS)
    rows = np.repeat(known, offers)
    offer = np.tile(np.arange(offers), len(known))
    save_response = pa.table({
        "request_id": keys.request_id.take(pa.array(position[rows])),
        "offer": codes(v.CATALOG_OFFERS, offer),
        "durable_save_probability": pa.array(t["durable"][rows, offer].astype(np.float32)),
        "rep_propensity": pa.array(t["propensity"][rows, offer].astype(np.float32)),
        "offered": pa.array(t["offer"][rows] == offer),
    })  # fmt: skip
    save_response = save_response.take(pc.sort_indices(save_response, [("request_id", "ascending")]))

    a = hauler.accounts
    latent = pa.table({
        "account_id": keys.account_id,
        "price_sensitivity": pa.array(a.price_sensitivity.astype(np.float32)),
        "service_sensitivity": pa.array(a.service_sensitivity.astype(np.float32)),
        "distress": pa.array(a.distress.astype(np.float32)),
        "utilization": pa.array(a.utilization.astype(np.float32)),
        "route_quality": pa.array(hauler.route_quality.astype(np.float32)),
        "hidden_frailty": pa.array(a.frailty.astype(np.float32)),
        "extra_increase_pct": pa.array(a.extra_increase_pct.astype(np.float32)),
    })  # fmt: skip
    order = np.argsort(keys.line_number)
    lines = pa.table({
        "line_id": keys.line_id,
        "monthly_cost_to_serve": pa.array(hauler.lines.cost[order]),
    })  # fmt: skip
    out = {"hazard": hazard, "save_response": save_response, "latent": latent, "lines": lines}
    if hauler.config.silent_leave_logit is not None:
        gone = np.flatnonzero(hauler.silent & (hauler.closed <= end))
        out["silent_leavers"] = pa.table({
            "account_id": keys.account_id.take(pa.array(gone)),
            "left_on": dates(hauler.closed[gone], end),
        })  # fmt: skip
    return out


def _answered(hauler: Hauler) -> dict[str, np.ndarray]:
    rows = hauler.desk.truth
    return {k: np.concatenate([row[k] for row in rows]) for k in rows[0]}


def summarize(hauler: Hauler, raw: dict[str, pa.Table]) -> dict[str, Any]:
    """Aggregates that show whether the simulated hauler is plausible.

    ``save_rate`` is the share of answered requests that end in a durable save
    (the account still active 90 days after the request), by the simulator's
    knowledge of what happens next, so requests near the extract's end count too.
    """
    cal, a = hauler.calendar, hauler.accounts
    commercial = a.segment == SEGMENT["commercial"]
    first_day = np.maximum(a.start, cal.start)
    last_day = np.where((hauler.closed >= 0) & (hauler.closed <= cal.end), hauler.closed, cal.end)
    exposure_years = np.clip(last_day - first_day, 0, None)[commercial].sum() / 365.25
    closed = ((hauler.closed >= cal.start) & (hauler.closed <= cal.end))[commercial].sum()

    reasons = raw["cancellation_requests"].column("reason").to_numpy(zero_copy_only=False)
    t = _answered(hauler)
    answered = t["answered"] & (t["day"] <= cal.end)
    close = hauler.closed[t["account"]]
    durable = t["accepted"] & ((close < 0) | (close > t["day"] + DURABLE_DAYS))
    by_offer = {
        offer: round(float(durable[answered & (t["offer"] == i)].mean()), 4)
        for i, offer in enumerate(v.CATALOG_OFFERS)
        if (answered & (t["offer"] == i)).any()
    }
    return {
        "start_date": str(EPOCH + timedelta(days=cal.start)),
        "end_date": str(EPOCH + timedelta(days=cal.end)),
        "accounts": int(a.size),
        "months": int(cal.months),
        "seed": int(hauler.config.seed),
        "rows": {name: int(table.num_rows) for name, table in raw.items()},
        "annual_churn_rate_commercial": round(float(closed / max(exposure_years, 1e-9)), 4),
        "controllable_share": round(float(np.isin(reasons, v.CONTROLLABLE_REASONS).mean()), 4) if len(reasons) else 0.0,
        "save_rate": round(float(durable[answered].mean()), 4) if answered.any() else 0.0,
        "save_rate_by_offer": by_offer,
        "offer_share": {
            offer: round(float((t["offer"][answered] == i).mean()), 4) for i, offer in enumerate(v.CATALOG_OFFERS)
        },
        "open_requests": int((~answered & (t["day"] <= cal.end)).sum()),
        **({"silent_leavers": int((hauler.silent & (hauler.closed <= cal.end)).sum())}
           if hauler.config.silent_leave_logit is not None else {}),
    }  # fmt: skip
