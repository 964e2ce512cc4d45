"""Collecting simulated rows month by month, as compact column arrays, into whole tables.

Text that is the same for a whole batch (an event type, a channel) is stored as
a small code, not repeated strings, and integers as 32 bits: a 1M-account
hauler logs about 50M rows, and this is what keeps it inside memory.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from sources import vocabulary as v

VOCABULARIES: dict[str, tuple[str, ...]] = {
    "change_type": v.RATE_CHANGE_TYPES,
    "event_type": v.SERVICE_EVENT_TYPES,
    "contact_type": v.CONTACT_TYPES,
    "topic": v.CONTACT_TOPICS,
    "rep_channel": v.REP_CHANNELS,
}
"""The contract vocabulary behind each coded text column of the log."""


class TableLog:
    """Rows of one table, appended as batches of equal-length column arrays."""

    def __init__(self) -> None:
        """Start empty."""
        self._batches: dict[str, list[np.ndarray]] = defaultdict(list)

    def add(self, **columns: np.ndarray | float | int | str) -> None:
        """Append a batch; scalars are broadcast to the batch's length, text scalars coded."""
        length = max((len(c) for c in columns.values() if isinstance(c, np.ndarray)), default=0)
        if length == 0:
            return
        for name, column in columns.items():
            if isinstance(column, str):
                column = np.full(length, VOCABULARIES[name].index(column), dtype=np.int8)
            elif not isinstance(column, np.ndarray):
                column = np.full(length, column)
            elif column.dtype == np.int64 and (len(column) == 0 or np.abs(column).max() < 2**31):
                column = column.astype(np.int32)
            self._batches[name].append(column)

    def take(self) -> dict[str, np.ndarray]:
        """The table as one array per column; the log is emptied to free its memory."""
        columns = {name: np.concatenate(parts) for name, parts in self._batches.items()}
        self._batches.clear()
        return columns


class Logbook:
    """One ``TableLog`` per table, created on first use."""

    def __init__(self) -> None:
        """Start empty."""
        self.tables: dict[str, TableLog] = defaultdict(TableLog)

    def __getitem__(self, table: str) -> TableLog:
        """The log of one table."""
        return self.tables[table]
