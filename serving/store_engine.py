"""The SQLAlchemy engine of the outcomes store, on SQLite or PostgreSQL, made safe to fail.

Every engine is created with ``hide_parameters=True``: a database error never
carries the statement's values (a rep's notes, which may name a contact) into
its message, a traceback or a log. A writer waits at most ``wait_seconds`` for
a lock (SQLite's busy timeout, PostgreSQL's ``lock_timeout``); past it the
database raises an ``OperationalError``, which the API answers with 503 and
``Retry-After`` instead of leaving the caller hanging.

SQLite runs in WAL mode (readers never wait for the writer), and every write
transaction begins with ``BEGIN IMMEDIATE``, so concurrent writers queue for
the lock instead of failing on an upgrade from a read to a write lock.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

WRITE = "savedesk_write"
"""Execution option of the connections that write (SQLite: they begin with ``BEGIN IMMEDIATE``)."""


def engine_for(url: str, wait_seconds: float) -> Engine:
    """An engine for ``url`` that hides statement parameters and waits at most ``wait_seconds`` for a lock."""
    parsed = sa.make_url(url)
    if parsed.get_backend_name() != "sqlite":
        engine = sa.create_engine(parsed, pool_pre_ping=True, hide_parameters=True)
        if parsed.get_backend_name() == "postgresql":
            _postgres_lock_timeout(engine, wait_seconds)
        return engine
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(parsed, connect_args={"timeout": wait_seconds}, hide_parameters=True)

    @sa.event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control from the sqlite3 module, which would otherwise begin late and commit before DDL.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {int(wait_seconds * 1000)}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _begin(connection: Connection) -> None:
        immediate = connection.get_execution_options().get(WRITE, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def _postgres_lock_timeout(engine: Engine, wait_seconds: float) -> None:
    @sa.event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute(f"SET lock_timeout = {int(wait_seconds * 1000)}")
        cursor.close()
        dbapi_connection.commit()  # a session setting, kept past the pool's rollback on return
