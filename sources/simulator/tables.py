"""Turning the simulated hauler's arrays into the contract's raw tables and the truth.

Rows of every event table are sorted by account and date before they get their
identifiers, so the files come out in the layout features read fastest, and the
same seed gives the same bytes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sources import vocabulary as v
from sources.simulator.book import SEGMENT
from sources.simulator.dynamics import Hauler
from sources.simulator.events import VOCABULARIES
from sources.simulator.names import personal_data


def identifiers(prefix: str, numbers: np.ndarray, width: int) -> pa.Array:
    """``prefix`` + zero-padded number, e.g. ``A0000042``."""
    text = pc.utf8_lpad(pc.cast(pa.array(numbers, type=pa.int64()), pa.string()), width, "0")
    return pc.binary_join_element_wise(prefix, text, "")


def dates(days: np.ndarray, end: int) -> pa.Array:
    """Day numbers as dates; -1 (not yet) and anything after the extract's end become null."""
    days = np.asarray(days, dtype=np.int64)
    unknown = (days < 0) | (days > end)
    return pa.array(np.where(unknown, 0, days).astype(np.int32), type=pa.date32(), mask=unknown)


def codes(vocabulary: tuple[str, ...], index: np.ndarray) -> pa.Array:
    """Coded column from indices into a vocabulary (-1 = null)."""
    index = np.asarray(index)
    return pa.DictionaryArray.from_arrays(
        pa.array(np.where(index < 0, 0, index).astype(np.int32), mask=index < 0), pa.array(vocabulary)
    ).cast(pa.string())


def _order(account: np.ndarray, day: np.ndarray, closed: np.ndarray | None = None) -> np.ndarray:
    """Row order by account then day, leaving out rows stamped after the account closed.

    Events are drawn for a whole month before that month's cancellations close
    some accounts, so the days after a close are cut here.
    """
    order = np.lexsort((day, account))
    if closed is None:
        return order
    close = closed[account[order]]
    return order[(close < 0) | (day[order] <= close)]


@dataclass(frozen=True)
class Keys:
    """How the simulator's row numbers map to the identifiers in the raw tables."""

    account_id: pa.Array
    line_id: pa.Array
    line_number: np.ndarray
    """Position in ``line_id`` of each simulated line."""
    request_id: pa.Array
    request_lookup: np.ndarray
    """Position in ``request_id`` of each simulated request number (-1: not in the extract)."""


def _silently_ended(hauler: Hauler) -> np.ndarray:
    """Lines that ended when their account left without a word: the records still show them in service."""
    owner = hauler.lines.account
    return hauler.silent[owner] & (hauler.lines.end == hauler.closed[owner])


def raw_tables(hauler: Hauler) -> tuple[dict[str, pa.Table], Keys]:
    """Every contract table of a simulated hauler, in contract column order."""
    a, end = hauler.accounts, hauler.calendar.end
    cfg = hauler.config
    account_id = identifiers("A", np.arange(a.size), 7)
    personal = personal_data(hauler.rng, a.segment == SEGMENT["residential"])
    territories = cfg.territories
    tables: dict[str, pa.Table] = {}
    tables["accounts"] = pa.table({
        "account_id": account_id,
        **{k: pa.array(col, type=pa.string()) for k, col in personal.items()},
        "city": pa.array(np.array([t.city for t in territories])[a.territory]),
        "state": pa.array(np.array([t.state for t in territories])[a.territory]),
        "territory": pa.array(np.array([t.name for t in territories])[a.territory]),
        "segment": codes(v.SEGMENTS, a.segment),
        "industry": codes(v.INDUSTRIES, a.industry),
        "start_date": dates(a.start, end),
        "contract_term_months": pa.array(a.term_months, type=pa.int64()),
        "auto_renew": pa.array(a.auto_renew),
        # A silent leaver's record stays open: only its invoices stop (the truth keeps the day it left).
        "close_date": dates(np.where(hauler.silent, -1, hauler.closed), end),
        "close_reason": codes(v.CANCELLATION_REASONS, np.where(
            (hauler.closed >= 0) & (hauler.closed <= end) & ~hauler.silent, hauler.close_reason, -1)),
    })  # fmt: skip

    ln = hauler.lines
    line_order = np.lexsort((ln.stream, ln.start, ln.account))
    line_number = np.empty(len(line_order), dtype=np.int64)
    line_number[line_order] = np.arange(len(line_order))
    line_id = identifiers("L", np.arange(len(line_order)), 8)
    tables["service_lines"] = pa.table({
        "line_id": line_id,
        "account_id": account_id.take(pa.array(ln.account[line_order])),
        "stream": codes(v.STREAMS, ln.stream[line_order]),
        "container_type": codes(v.CONTAINER_TYPES, ln.container[line_order]),
        "container_yards": pa.array(ln.yards[line_order]),
        "pickups_per_week": pa.array(ln.pickups[line_order]),
        "monthly_rate": pa.array(ln.start_rate[line_order]),
        "is_lease": pa.array(ln.is_lease[line_order]),
        "start_date": dates(ln.start[line_order], end),
        "end_date": dates(np.where(_silently_ended(hauler), -1, ln.end)[line_order], end),
    })  # fmt: skip

    def line_ids(lines: np.ndarray) -> pa.Array:
        return line_id.take(pa.array(line_number[lines]))

    log = hauler.log
    rc = log["rate_changes"].take()
    o = _order(rc["account"], rc["day"], hauler.closed)
    tables["rate_changes"] = pa.table({
        "change_id": identifiers("RC", np.arange(len(o)), 9),
        "account_id": account_id.take(pa.array(rc["account"][o])),
        "line_id": line_ids(rc["line"][o]),
        "effective_date": dates(rc["day"][o], end),
        "change_type": codes(VOCABULARIES["change_type"], rc["change_type"][o]),
        "old_rate": pa.array(rc["old_rate"][o]),
        "new_rate": pa.array(rc["new_rate"][o]),
    })  # fmt: skip

    del rc
    se = log["service_events"].take()
    o = _order(se["account"], se["day"], hauler.closed)
    tables["service_events"] = pa.table({
        "event_id": identifiers("SE", np.arange(len(o)), 9),
        "account_id": account_id.take(pa.array(se["account"][o])),
        "line_id": line_ids(se["line"][o]),
        "event_date": dates(se["day"][o], end),
        "event_type": codes(VOCABULARIES["event_type"], se["event_type"][o]),
        "charge": pa.array(se["charge"][o].astype(np.float64), from_pandas=True),
        "fill_pct": pa.array(se["fill_pct"][o].astype(np.float64), from_pandas=True),
    })  # fmt: skip

    del se
    inv = log["invoices"].take()
    o = _order(inv["account"], inv["day"])
    tables["invoices"] = pa.table({
        "invoice_id": identifiers("INV", np.arange(len(o)), 9),
        "account_id": account_id.take(pa.array(inv["account"][o])),
        "invoice_date": dates(inv["day"][o], end),
        "due_date": pa.array(inv["due"][o].astype(np.int32), type=pa.date32()),
        "amount": pa.array(inv["amount"][o]),
        "paid_date": dates(inv["paid"][o], end),
    })  # fmt: skip

    del inv
    ct = log["contacts"].take()
    o = _order(ct["account"], ct["day"], hauler.closed)
    tables["contacts"] = pa.table({
        "contact_id": identifiers("C", np.arange(len(o)), 9),
        "account_id": account_id.take(pa.array(ct["account"][o])),
        "contact_date": dates(ct["day"][o], end),
        "channel": codes(v.CONTACT_CHANNELS, ct["channel"][o]),
        "contact_type": codes(VOCABULARIES["contact_type"], ct["contact_type"][o]),
        "topic": codes(VOCABULARIES["topic"], ct["topic"][o]),
        "escalated": pa.array(ct["escalated"][o].astype(bool)),
        "resolved_date": dates(ct["resolved"][o], end),
    })  # fmt: skip

    cr = log["cancellation_requests"].take()
    o = _order(cr["account"], cr["day"])
    request_number = cr["request"][o]
    request_id = identifiers("CR", np.arange(len(o)), 8)
    tables["cancellation_requests"] = pa.table({
        "request_id": request_id,
        "account_id": account_id.take(pa.array(cr["account"][o])),
        "request_date": dates(cr["day"][o], end),
        "reason": codes(v.CANCELLATION_REASONS, cr["reason"][o]),
        "channel": codes(v.REQUEST_CHANNELS, cr["channel"][o]),
        "resolution": codes(v.REQUEST_RESOLUTIONS, cr["resolution"][o]),
        "resolved_date": dates(cr["resolved"][o], end),
    })  # fmt: skip
    request_lookup = np.full(hauler.desk.next_request, -1, dtype=np.int64)
    request_lookup[request_number] = np.arange(len(o))

    sa = log["save_attempts"].take()
    specialist = v.REP_CHANNELS.index("outside_specialist")
    o = np.lexsort((sa["rep_channel"] == specialist, sa["day"], sa["account"]))
    tables["save_attempts"] = pa.table({
        "attempt_id": identifiers("SA", np.arange(len(o)), 8),
        "request_id": request_id.take(pa.array(request_lookup[sa["request"][o]])),
        "account_id": account_id.take(pa.array(sa["account"][o])),
        "attempt_date": dates(sa["day"][o], end),
        "rep_id": pa.array(sa["rep"][o].astype(str)),
        "rep_channel": codes(VOCABULARIES["rep_channel"], sa["rep_channel"][o]),
        "offer": codes(v.OFFERS, sa["offer"][o]),
        "rollback_pct": pa.array(sa["rollback_pct"][o].astype(np.float64)),
        "credit_amount": pa.array(sa["credit"][o].astype(np.float64)),
        "new_monthly_rate": pa.array(sa["new_rate"][o].astype(np.float64)),
        "new_term_months": pa.array(sa["term"][o], type=pa.int64(), mask=sa["term"][o] < 0),
        "accepted": pa.array(sa["accepted"][o].astype(bool)),
        # The published offer's propensity where the rep followed it (a closed loop); empty where the rep chose.
        "propensity": pa.array(sa["propensity"][o], type=pa.float64(), mask=~np.isfinite(sa["propensity"][o])),
    })  # fmt: skip
    return tables, Keys(account_id, line_id, line_number, request_id, request_lookup)
