"""The outcomes store: users with hashed tokens and the call outcomes reps record, in SQLite or PostgreSQL.

``OutcomesStore.open(url)`` migrates the database to the latest schema
(``serving/migrations``) before anything else touches it, so a new release
upgrades the store the first time it opens it. Two processes opening at once
migrate one after the other.

Recording is idempotent: the API's client sends an idempotency key with each
outcome, and a retry with the same key and the same payload returns the
outcome recorded the first time instead of writing a second row. The key is
unique in the database, so two retries racing each other cannot both insert:
the loser's insert fails and it reads the winner's row in a fresh transaction.

SQLite runs in WAL mode (readers never wait for the writer) with a busy
timeout, and every write transaction begins with ``BEGIN IMMEDIATE`` so
concurrent writers queue for the lock instead of failing on an upgrade from a
read to a write lock.
"""

from __future__ import annotations

import datetime
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
import sqlalchemy as sa
from alembic import command
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from serving.auth import Role, User, hash_token, new_token
from serving.migrations import alembic_config
from serving.outcomes import OUTCOME_FIELDS, OutcomeIn
from serving.store_schema import outcomes, users

DEFAULT_TIME_ZONE = "America/Chicago"
"""The desk's time zone when the caller does not say (``settings.nightly.time_zone`` has the same default)."""

SQLITE_BUSY_SECONDS = 30.0
"""How long a SQLite writer waits for the lock before giving up."""

MAX_KEY_LENGTH = 128

OUTCOME_COLUMNS = ("outcome_id", "idempotency_key", *OUTCOME_FIELDS, "user_name", "rep_id", "territory", "recorded_at")
"""The columns of ``OutcomesStore.outcomes``: the recorded fields, who recorded them, where and when."""

_WRITE = "savedesk_write"

_MIGRATING = threading.Lock()
"""Alembic keeps its migration context in module globals: one thread of a process migrates at a time."""


class IdempotencyConflict(Exception):
    """The idempotency key was already used for a different outcome (the API answers 409)."""


@dataclass(frozen=True)
class Recorded:
    """Where an outcome was recorded; ``created`` is False when the key had recorded the same payload before."""

    outcome_id: int
    created: bool


class OutcomesStore:
    """Users and recorded outcomes over one SQLAlchemy engine; safe to share between threads."""

    def __init__(self, engine: Engine, time_zone: str = DEFAULT_TIME_ZONE) -> None:
        """Wrap an engine whose database is already migrated; use ``open`` instead."""
        ZoneInfo(time_zone)  # an unknown zone fails here, not on the first outcome recorded
        self._engine = engine
        self._writer = engine.execution_options(**{_WRITE: True})
        self.time_zone = time_zone

    @classmethod
    def open(cls, url: str, time_zone: str = DEFAULT_TIME_ZONE) -> OutcomesStore:
        """Open the store at ``url`` and migrate it to the latest schema.

        Args:
            url: A SQLAlchemy URL: ``sqlite:///path/outcomes.db`` (the folder is
                created) or ``postgresql+psycopg://user@host/db``.
            time_zone: The desk's time zone: an outcome recorded without a call
                date is dated today there.

        Returns:
            The open store; ``dispose`` it when done.
        """
        ZoneInfo(time_zone)
        engine = _engine(url)
        try:
            with _MIGRATING, engine.execution_options(**{_WRITE: True}).connect() as connection:
                command.upgrade(alembic_config(connection), "head")
        except BaseException:
            engine.dispose()
            raise
        return cls(engine, time_zone)

    def dispose(self) -> None:
        """Close every pooled connection."""
        self._engine.dispose()

    # Users

    def add_user(self, name: str, role: Role, territories: Iterable[str] = (), rep_id: str | None = None) -> str:
        """Add an active user and return their new token, the only time it exists in clear.

        Raises:
            ValueError: The name is empty or taken by an active user, or a rep has no territory.
        """
        name, role = name.strip(), Role(role)
        held = sorted({t.strip() for t in territories if t.strip()})
        if not name or len(name) > 64:
            raise ValueError("A user's name must have 1 to 64 characters.")
        if role is Role.REP and not held:
            raise ValueError(f"Rep {name} needs at least one territory (--territory): a rep sees only their own.")
        token = new_token()
        row = {
            "name": name,
            "role": role.value,
            "territories": held,
            "rep_id": rep_id or None,
            "token_hash": hash_token(token),
            "created_at": _now(),
        }
        try:
            with self._writer.begin() as connection:
                connection.execute(users.insert().values(row))
        except IntegrityError:
            raise ValueError(
                f"An active user is already named {name}: revoke it first or choose another name."
            ) from None
        return token

    def revoke_user(self, name: str) -> bool:
        """Revoke the active user ``name``; their token stops working at once. False when there is none."""
        with self._writer.begin() as connection:
            result = connection.execute(
                users.update().where(users.c.name == name, users.c.revoked_at.is_(None)).values(revoked_at=_now())
            )
        return result.rowcount > 0

    def users(self) -> list[User]:
        """Every active user, by name."""
        with self._engine.connect() as connection:
            rows = connection.execute(users.select().where(users.c.revoked_at.is_(None)).order_by(users.c.name))
            return [_user(row) for row in rows.mappings()]

    def authenticate(self, token: str) -> User | None:
        """The active user holding ``token``; None for an unknown or revoked token."""
        if not token:
            return None
        query = users.select().where(users.c.token_hash == hash_token(token), users.c.revoked_at.is_(None))
        with self._engine.connect() as connection:
            row = connection.execute(query).mappings().first()
        return None if row is None else _user(row)

    # Outcomes

    def record_outcome(self, outcome: OutcomeIn, user: User, territory: str, idempotency_key: str) -> Recorded:
        """Record one call's outcome in one transaction, once per idempotency key.

        Args:
            outcome: What the rep recorded; an empty call date becomes today at the desk.
            user: Who recorded it (the API has checked they may write ``territory``).
            territory: The account's territory.
            idempotency_key: The client's key for this outcome; its retries send the same one.

        Returns:
            The outcome's id and whether this call created it.

        Raises:
            ValueError: The key is empty or longer than 128 characters.
            IdempotencyConflict: The key was used before for a different payload or by another user.
        """
        if not idempotency_key or len(idempotency_key) > MAX_KEY_LENGTH:
            raise ValueError(f"An idempotency key must have 1 to {MAX_KEY_LENGTH} characters.")
        digest = outcome.fingerprint(user.name)
        row = {
            **outcome.dated(self.time_zone).model_dump(),
            "idempotency_key": idempotency_key,
            "user_name": user.name,
            "rep_id": user.rep_id,
            "territory": territory,
            "payload_sha256": digest,
            "recorded_at": _now(),
        }
        try:
            with self._writer.begin() as connection:
                earlier = _by_key(connection, idempotency_key)
                if earlier is None:
                    inserted = connection.execute(outcomes.insert().values(row).returning(outcomes.c.outcome_id))
                    return Recorded(int(inserted.scalar_one()), created=True)
        except IntegrityError:
            # A concurrent request with the same key committed first: read its row in a fresh transaction.
            with self._engine.connect() as connection:
                earlier = _by_key(connection, idempotency_key)
            if earlier is None:
                raise
        outcome_id, earlier_digest = earlier
        if earlier_digest != digest:
            raise IdempotencyConflict(
                f"Idempotency key {idempotency_key!r} was already used for a different outcome:"
                " send a new key for a new outcome."
            )
        return Recorded(outcome_id, created=False)

    def outcomes(self, account_id: str | None = None) -> pd.DataFrame:
        """Every recorded outcome (or one account's), one row each, oldest first.

        Returns:
            ``OUTCOME_COLUMNS``; ``call_date`` as a day (datetime64), ``recorded_at`` in UTC.
        """
        query = sa.select(*(outcomes.c[c] for c in OUTCOME_COLUMNS)).order_by(outcomes.c.outcome_id)
        if account_id is not None:
            query = query.where(outcomes.c.account_id == account_id)
        with self._engine.connect() as connection:
            frame = pd.DataFrame(connection.execute(query).mappings().all(), columns=list(OUTCOME_COLUMNS))
        recorded = [_utc(t) for t in frame["recorded_at"]]
        return frame.assign(
            call_date=pd.to_datetime(frame["call_date"]).astype("datetime64[ns]"),
            recorded_at=pd.to_datetime(pd.Series(recorded, index=frame.index, dtype=object), utc=True),
            accepted=frame["accepted"].astype(bool),
            flipped=frame["flipped"].astype(bool),
            rollback_pct=frame["rollback_pct"].astype(float),
            credit_amount=frame["credit_amount"].astype(float),
            new_monthly_rate=frame["new_monthly_rate"].astype(float),
            new_term_months=frame["new_term_months"].astype("Int64"),
        )


def _by_key(connection: Connection, key: str) -> tuple[int, str] | None:
    row = connection.execute(
        sa.select(outcomes.c.outcome_id, outcomes.c.payload_sha256).where(outcomes.c.idempotency_key == key)
    ).first()
    return None if row is None else (int(row[0]), str(row[1]))


def _user(row: Any) -> User:
    return User(
        name=row["name"], role=Role(row["role"]), territories=frozenset(row["territories"]), rep_id=row["rep_id"]
    )


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _utc(moment: datetime.datetime | None) -> datetime.datetime | None:
    # SQLite keeps no offset: the store writes UTC, so a naive value read back is UTC.
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=datetime.UTC)


def _engine(url: str) -> Engine:
    """An engine for ``url``; SQLite gets WAL mode, a busy timeout and ``BEGIN IMMEDIATE`` for writers."""
    parsed = sa.make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return sa.create_engine(parsed, pool_pre_ping=True)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(parsed, connect_args={"timeout": SQLITE_BUSY_SECONDS})

    @sa.event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control from the sqlite3 module, which would otherwise begin late and commit before DDL.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {int(SQLITE_BUSY_SECONDS * 1000)}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _begin(connection: Connection) -> None:
        immediate = connection.get_execution_options().get(_WRITE, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine
