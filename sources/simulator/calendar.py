"""Days and months of a simulated extract, as integer day numbers (days since 1970-01-01)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np

EPOCH = date(1970, 1, 1)


def day_number(day: date) -> int:
    """Days since 1970-01-01."""
    return (day - EPOCH).days


@dataclass(frozen=True)
class Calendar:
    """The months of an extract that ends on ``end``, ``months`` long.

    Attributes:
        month_starts: First day of each month (day numbers), one more than
            ``months`` so that ``month_starts[m + 1]`` closes month ``m``.
        end: Last day of the extract (day number).
    """

    month_starts: np.ndarray
    end: int

    @classmethod
    def ending(cls, end: date, months: int) -> Calendar:
        """The calendar of ``months`` whole months, the last one holding ``end``."""
        last = np.datetime64(end, "M")
        firsts = np.arange(last - (months - 1), last + 2, dtype="datetime64[M]")
        return cls(firsts.astype("datetime64[D]").astype(np.int64), day_number(end))

    @property
    def months(self) -> int:
        """Number of months."""
        return len(self.month_starts) - 1

    @property
    def start(self) -> int:
        """First day of the extract."""
        return int(self.month_starts[0])

    def month_of(self, days: np.ndarray) -> np.ndarray:
        """Month index of each day (-1 before the extract)."""
        return np.searchsorted(self.month_starts, days, side="right") - 1

    def last_day(self, month: int) -> int:
        """Last day of a month, never after the extract's end."""
        return min(int(self.month_starts[month + 1]) - 1, self.end)

    def random_days(self, rng: np.random.Generator, month: int, n: int) -> np.ndarray:
        """``n`` days drawn uniformly inside a month."""
        first = int(self.month_starts[month])
        return rng.integers(first, self.last_day(month) + 1, size=n)
