"""The proactive calls of a simulated hauler as a raw table, and their true effects as a truth table.

Columns of both are declared in ``sources.simulator.calls`` (the truth's ``call_effects``) and
``sources.contract`` (the extract's optional ``proactive_calls``). A hauler without proactive calls
(``OutreachConfig.enabled`` false) gets neither table.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from sources.simulator.calls import CALL_OFFERS
from sources.simulator.dynamics import Hauler
from sources.simulator.tables import Keys, dates, identifiers

CALL_OUTCOME = "reached"
"""The outcome of every simulated call in the extract: the simulator logs only calls that reached the customer."""


def call_raw(hauler: Hauler, keys: Keys) -> dict[str, pa.Table]:
    """``proactive_calls``: one row per call made, by account then day (empty dict without calls)."""
    if hauler.calls is None:
        return {}
    log = hauler.log["proactive_calls"].take()
    if not log:
        log = {"account": np.zeros(0, np.int32), "day": np.zeros(0, np.int64), "rep": np.zeros(0, np.int64),
               "offer": np.zeros(0, np.int8)}  # fmt: skip
    end = hauler.calendar.end
    order = np.lexsort((log["day"], log["account"]))
    order = order[log["day"][order] <= end]
    account = log["account"][order]
    territory = hauler.accounts.territory[account]
    rep_id = np.char.add(np.char.add("R", np.char.zfill(territory.astype(str), 2)), log["rep"][order].astype(str))
    return {
        "proactive_calls": pa.table(
            {
                "call_id": identifiers("PC", np.arange(len(order)), 8),
                "account_id": keys.account_id.take(pa.array(account)),
                "call_date": dates(log["day"][order], end),
                "rep_id": pa.array(rep_id.astype(str)),
                "offer": pa.array(np.asarray(CALL_OFFERS, dtype=object)[log["offer"][order]].astype(str)),
                "outcome": pa.array(np.full(len(order), CALL_OUTCOME)),
            }
        )  # fmt: skip
    }


def call_truth(hauler: Hauler, keys: Keys) -> dict[str, pa.Table]:
    """``call_effects``: the true effect of a call for every account-month the hazard covers (none without calls)."""
    if hauler.calls is None or not hauler.calls.truth:
        return {}
    t = {k: np.concatenate([row[k] for row in hauler.calls.truth]) for k in hauler.calls.truth[0]}
    order = np.lexsort((t["month"], t["account"]))
    end = hauler.calendar.end
    return {
        "call_effects": pa.table(
            {
                "account_id": keys.account_id.take(pa.array(t["account"][order])),
                "month": dates(hauler.calendar.month_starts[t["month"][order]], end),
                "callable": pa.array(t["callable"][order]),
                "listed": pa.array(t["listed"][order]),
                "held_out": pa.array(t["held_out"][order]),
                "called": pa.array(t["called"][order]),
                "request_hazard_uncalled": pa.array(t["uncalled"][order]),
                "request_hazard_called": pa.array(t["called_hazard"][order]),
                "churn_effect": pa.array(t["churn_effect"][order]),
                "retention_effect": pa.array(-t["churn_effect"][order]),
            }
        )  # fmt: skip
    }
