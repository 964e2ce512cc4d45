"""Labels on hand-built cases: the edges of the window and what counts as a durable save."""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl
import pytest

from features.labels import LabelSpec, LabelWindowError, churn_labels, durable_save_labels
from features.view import from_frames

AS_OF = date(2026, 3, 31)
END = date(2026, 10, 31)


def _tables(accounts: list[dict], requests: list[dict], invoices: list[dict] | None = None):
    frames = {
        "accounts": pl.DataFrame(
            accounts, schema={"account_id": pl.String, "start_date": pl.Date, "close_date": pl.Date}
        ),
        "cancellation_requests": pl.DataFrame(
            requests, schema={"request_id": pl.String, "account_id": pl.String, "request_date": pl.Date}
        ),
    }
    if invoices is not None:
        frames["invoices"] = pl.DataFrame(invoices, schema={"account_id": pl.String, "invoice_date": pl.Date})
    return from_frames(frames)


def _account(account_id: str, close: date | None = None) -> dict:
    return {"account_id": account_id, "start_date": date(2020, 1, 1), "close_date": close}


def test_a_request_on_day_90_counts_and_day_91_does_not() -> None:
    tables = _tables(
        [_account("A"), _account("B"), _account("C")],
        [
            {"request_id": "R1", "account_id": "A", "request_date": AS_OF + timedelta(days=90)},
            {"request_id": "R2", "account_id": "B", "request_date": AS_OF + timedelta(days=91)},
            {"request_id": "R3", "account_id": "C", "request_date": AS_OF},  # on as_of: already known, not ahead
        ],
    )
    labels = dict(churn_labels(tables, AS_OF, END).iter_rows())
    assert labels == {"A": True, "B": False, "C": False}


def test_a_closure_without_a_request_is_churn_and_lead_time_shifts_the_window() -> None:
    tables = _tables([_account("A", close=AS_OF + timedelta(days=20)), _account("B")], [])
    assert dict(churn_labels(tables, AS_OF, END).iter_rows()) == {"A": True, "B": False}
    later = LabelSpec(horizon_days=90, lead_days=30)
    assert dict(churn_labels(tables, AS_OF, END, later).iter_rows()) == {"A": False, "B": False}


def test_accounts_closed_by_as_of_are_not_labelled() -> None:
    tables = _tables([_account("A", close=AS_OF), _account("B")], [])
    assert churn_labels(tables, AS_OF, END)["account_id"].to_list() == ["B"]


def test_no_label_when_the_window_runs_past_the_data() -> None:
    tables = _tables([_account("A")], [])
    with pytest.raises(LabelWindowError, match="latest labelled as-of date is 2026-08-02"):
        churn_labels(tables, date(2026, 8, 3), END)
    assert churn_labels(tables, date(2026, 8, 2), END).height == 1


def _monthly_invoices(account_id: str, until: date) -> list[dict]:
    return [
        {"account_id": account_id, "invoice_date": date(2026, m, 1)} for m in range(1, 11) if date(2026, m, 1) <= until
    ]


def test_durable_save_cases() -> None:
    request_day = date(2026, 4, 10)
    tables = _tables(
        [
            _account("RESIGNED"),  # call ended in a cancel, then re-signed: still active and billed
            _account("LOST", close=request_day + timedelta(days=60)),  # saved on the call, gone in 60 days
            _account("KEPT"),
            _account("UNBILLED"),  # active on paper but no invoice in the last month of the window
            _account("LATE", close=request_day + timedelta(days=91)),  # closed the day after the window
        ],
        [
            {"request_id": f"R-{a}", "account_id": a, "request_date": request_day}
            for a in ("RESIGNED", "LOST", "KEPT", "UNBILLED", "LATE")
        ]
        + [{"request_id": "R-TOO-RECENT", "account_id": "KEPT", "request_date": END - timedelta(days=89)}],
        invoices=[
            *_monthly_invoices("RESIGNED", END),
            *_monthly_invoices("LOST", request_day + timedelta(days=60)),
            *_monthly_invoices("KEPT", END),
            *_monthly_invoices("UNBILLED", request_day + timedelta(days=40)),
            *_monthly_invoices("LATE", request_day + timedelta(days=91)),
        ],
    )
    labels = dict(durable_save_labels(tables, END).select("request_id", "durable_save").iter_rows())
    assert labels == {"R-RESIGNED": True, "R-LOST": False, "R-KEPT": True, "R-UNBILLED": False, "R-LATE": True}
