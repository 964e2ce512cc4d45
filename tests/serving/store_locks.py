"""Holding the outcomes store's locks as another process would, for the tests of waiting, busy and migrating stores."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator

import sqlalchemy as sa


@contextlib.contextmanager
def sqlite_write_lock(url: str) -> Iterator[None]:
    """Hold a SQLite store's write lock (``BEGIN IMMEDIATE``), as a long writer or a migration would."""
    holder = sqlite3.connect(sa.make_url(url).database or "", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        holder.execute("ROLLBACK")
        holder.close()
