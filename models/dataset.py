"""Splitting monthly snapshots by time: train, then validation, calibration and test months.

Every step sees only earlier as-of dates than the next, and the test month
lies at least a label window after the calibration month, so no label the
earlier steps saw overlaps the test month's window.

Consecutive monthly snapshots share most of their label windows: an account
that asks to cancel in April is a positive in the February and the March
snapshot alike. Early stopping and calibration therefore use *held-out
accounts* (a stable fifth of the book that training never sees) at their later
months; otherwise the validation month rewards memorising accounts and early
stopping never stops.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd

from sources.keys import stable_bucket

HOLDOUT_BUCKETS = 5


class SplitError(ValueError):
    """The history cannot hold the split the settings ask for; the message names the setting to change."""


def month_end_before(day: date, months: int = 1) -> date:
    """The month end ``months`` whole months before ``day``'s month."""
    index = day.year * 12 + day.month - 1 - months
    year, month = divmod(index + 1, 12)
    return date(year, month + 1, 1) - timedelta(days=1)


def same_day_before(day: date, months: int) -> date:
    """The date ``months`` whole months before ``day`` on its day of the month (the month's last day when shorter).

    A month end gives month ends: 31 March, one month before, is 28 or 29 February, two months before 31 January.
    """
    index = day.year * 12 + day.month - 1 - months
    year, month = divmod(index, 12)
    last = month_end_before(date(year, month + 1, 1), 0)
    at_end = day == month_end_before(day, 0)
    return last if at_end else last.replace(day=min(day.day, last.day))


@dataclass(frozen=True)
class TimeSplit:
    """The as-of dates of each step of training."""

    train: tuple[date, ...]
    valid: date
    calibrate: date
    test: date
    dropped_train_months: int = 0
    """Training months the settings asked for that the history did not hold (``fitting``)."""

    @classmethod
    def ending(cls, test: date, train_months: int, label_days: int) -> TimeSplit:
        """The split whose test month is ``test``.

        Args:
            test: As-of date of the test month.
            train_months: Monthly snapshots used for training.
            label_days: Lead plus horizon of the label; the calibration month's
                window ends on or before the test as-of date.

        Every as-of date falls on the test's day of the month (``same_day_before``; a test on a month end
        gives month ends): each snapshot sees the book at the test's point of the monthly billing cycle, so an
        account whose bill is already overdue on the test day has its like in training (under
        ``churn.definition = no_billing``, month-end snapshots never hold one: it is already gone by then).
        """
        back = 1  # months from the calibration month back to the test month
        while same_day_before(test, back) + timedelta(days=label_days) > test:
            back += 1
        calibrate, valid = same_day_before(test, back), same_day_before(test, back + 1)
        train = tuple(same_day_before(test, back + 1 + k) for k in range(train_months, 0, -1))
        return cls(train=train, valid=valid, calibrate=calibrate, test=test)

    @classmethod
    def fitting(cls, test: date, train_months: int, label_days: int, first: date) -> TimeSplit:
        """The split ending at ``test`` with as many of ``train_months`` as the history from ``first`` holds.

        A short history trains on the months it has (``dropped_train_months`` says how many were left out);
        one too short for a single training month is refused with what it would take.

        Raises:
            SplitError: Not even one training month lies on or after ``first``.
        """
        split = cls.ending(test, train_months, label_days)
        kept = tuple(day for day in split.train if day >= first)
        if not kept:
            needed = split.test.year * 12 + split.test.month - (split.valid.year * 12 + split.valid.month) + 1
            raise SplitError(
                f"The history from {first} to the test month {test} is too short to train: the churn label's"
                f" {label_days}-day window (churn.horizon_days plus churn.lead_days) leaves no month-end for training"
                f" before the validation month {split.valid}; it takes at least {needed + 1} months of history"
                " before the last label window. Give a longer extract, or set a shorter churn.horizon_days."
            )
        return cls(train=kept, valid=split.valid, calibrate=split.calibrate, test=split.test,
                   dropped_train_months=len(split.train) - len(kept))  # fmt: skip

    @property
    def all_dates(self) -> tuple[date, ...]:
        """Every as-of date, oldest first."""
        return (*self.train, self.valid, self.calibrate, self.test)

    def describe(self) -> dict[str, str]:
        """The split as text, for parameters and logs."""
        return {
            "train_as_of": ",".join(d.isoformat() for d in self.train),
            "valid_as_of": self.valid.isoformat(),
            "calibrate_as_of": self.calibrate.isoformat(),
            "test_as_of": self.test.isoformat(),
        }


def held_out(account_ids: pd.Series) -> np.ndarray:
    """Whether each account belongs to the held-out fifth of the book (stable CRC-32 of its id)."""
    return stable_bucket(account_ids, HOLDOUT_BUCKETS) == 0
