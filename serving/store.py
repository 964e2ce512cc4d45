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

The engine (``serving.store_engine``) hides statement parameters from every
error and waits at most ``STORE_WAIT_SECONDS`` for a lock. Reading outcomes
back never fails on a stored value pandas cannot hold (a call date in year 1,
written before the API checked dates): it reads as missing, for the reader to
skip (``serving.outcomes_feed``) or show as unreadable (the account page).
"""

from __future__ import annotations

import datetime
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
import sqlalchemy as sa
from alembic import command
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from serving.auth import Role, User, hash_token, new_token
from serving.migrations import alembic_config
from serving.outcomes import OUTCOME_FIELDS, Approval, OutcomeIn, printable_key
from serving.store_decisions import Decided, audit, decide, held_on_record
from serving.store_engine import WRITE, engine_for
from serving.store_schema import outcome_decisions, outcomes, users

DEFAULT_TIME_ZONE = "America/Chicago"
"""The desk's time zone when the caller does not say (``settings.nightly.time_zone`` has the same default)."""

STORE_WAIT_SECONDS = 30.0
"""How long a writer waits for a lock (SQLite's busy timeout, PostgreSQL's lock_timeout) before giving up."""

MAX_KEY_LENGTH = 128

OUTCOME_COLUMNS = ("outcome_id", "idempotency_key", *OUTCOME_FIELDS, "user_name", "rep_id", "territory", "recorded_at",
                   "approval", "held_for")  # fmt: skip
"""The columns of ``OutcomesStore.outcomes``: the recorded fields, who recorded them, where, when, and whether they
stand (``serving.outcomes.Approval``; ``held_for``: the rules that held it for a manager, comma-separated)."""

DECISION_COLUMNS = tuple(c.name for c in outcome_decisions.columns)
"""The columns of ``OutcomesStore.decisions``: the audit of every approval decision."""

_MIGRATING = threading.Lock()
"""Alembic keeps its migration context in module globals: one thread of a process migrates at a time."""


class IdempotencyConflict(Exception):
    """The idempotency key was already used for a different outcome (the API answers 409)."""


@dataclass(frozen=True)
class Recorded:
    """Where an outcome was recorded; ``created`` is False when the key had recorded the same payload before."""

    outcome_id: int
    created: bool
    approval: str = Approval.NOT_NEEDED.value
    """Where it stands now (``serving.outcomes.Approval``)."""
    held_for: tuple[str, ...] = ()
    """The rules that held it for a manager's approval."""


class OutcomesStore:
    """Users and recorded outcomes over one SQLAlchemy engine; safe to share between threads."""

    def __init__(self, engine: Engine, time_zone: str = DEFAULT_TIME_ZONE) -> None:
        """Wrap an engine whose database is already migrated; use ``open`` instead."""
        ZoneInfo(time_zone)  # an unknown zone fails here, not on the first outcome recorded
        self._engine = engine
        self._writer = engine.execution_options(**{WRITE: True})
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
        engine = engine_for(url, STORE_WAIT_SECONDS)
        try:
            with _MIGRATING, engine.execution_options(**{WRITE: True}).connect() as connection:
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

    def record_outcome(
        self,
        outcome: OutcomeIn,
        user: User,
        territory: str,
        idempotency_key: str,
        *,
        held_for: tuple[str, ...] = (),
        agreement: dict[str, Any] | None = None,
    ) -> Recorded:
        """Record one call's outcome in one transaction, once per idempotency key.

        An outcome ``held_for`` rules is pending a manager's approval, unless a
        manager or admin recorded it (approved on record); either is audited
        in the same transaction.

        Args:
            outcome: What the rep recorded; an empty call date becomes today at the desk.
            user: Who recorded it (the API has checked they may write ``territory``).
            territory: The account's territory.
            idempotency_key: The client's key for this outcome; its retries send the same one.
            held_for: The guardrails the outcome is beyond (``serving.outcome_checks.held_for``); empty: none.
            agreement: The updated service agreement of an accepted offer, kept with the outcome.

        Returns:
            The outcome's id and whether this call created it.

        Raises:
            ValueError: The key is empty, longer than 128 characters or holds a control character.
            OutcomeRefused: The call date is later than today at the desk.
            IdempotencyConflict: The key was used before for a different payload or by another user.
        """
        if not idempotency_key or len(idempotency_key) > MAX_KEY_LENGTH or not printable_key(idempotency_key):
            raise ValueError(f"An idempotency key must have 1 to {MAX_KEY_LENGTH} printable characters.")
        digest = outcome.fingerprint(user.name)
        approval = held_on_record(held_for, user)
        row = {
            **outcome.dated(self.time_zone).model_dump(),
            "idempotency_key": idempotency_key,
            "user_name": user.name,
            "rep_id": user.rep_id,
            "territory": territory,
            "payload_sha256": digest,
            "recorded_at": _now(),
            "approval": approval,
            "held_for": ",".join(held_for),
            "agreement": agreement,
        }
        try:
            with self._writer.begin() as connection:
                earlier = _by_key(connection, idempotency_key)
                if earlier is None:
                    inserted = connection.execute(outcomes.insert().values(row).returning(outcomes.c.outcome_id))
                    outcome_id = int(inserted.scalar_one())
                    if held_for:
                        action = "held" if approval == Approval.PENDING else "approved on record"
                        audit(connection, outcome_id, user, action, (None, approval), row["held_for"], "",
                              row["recorded_at"])  # fmt: skip
                    return Recorded(outcome_id, True, approval, held_for)
        except IntegrityError:
            # A concurrent request with the same key committed first: read its row in a fresh transaction.
            with self._engine.connect() as connection:
                earlier = _by_key(connection, idempotency_key)
            if earlier is None:
                raise
        outcome_id, earlier_digest, standing, rules = earlier
        if earlier_digest != digest:
            raise IdempotencyConflict(
                f"Idempotency key {idempotency_key!r} was already used for a different outcome:"
                " send a new key for a new outcome."
            )
        return Recorded(outcome_id, False, standing, tuple(r for r in rules.split(",") if r))

    # Approvals

    def decide(self, outcome_id: int, user: User, approve: bool, note: str = "") -> Decided:
        """Approve or reject a pending outcome, audited in the same transaction.

        The caller has checked ``user`` may decide (a manager or admin of the outcome's territory).

        Raises:
            LookupError: No outcome ``outcome_id``.
            serving.store_decisions.NotPending: It is not awaiting approval (already decided, or never held).
        """
        with self._writer.begin() as connection:
            return decide(connection, outcome_id, user, approve, note, _now())

    def outcome(self, outcome_id: int) -> dict[str, Any] | None:
        """One outcome's row, its ``agreement`` included; None when there is none."""
        with self._engine.connect() as connection:
            row = connection.execute(outcomes.select().where(outcomes.c.outcome_id == outcome_id)).mappings().first()
        return None if row is None else {**row, "recorded_at": _utc(row["recorded_at"])}

    def decisions(self, outcome_id: int | None = None) -> pd.DataFrame:
        """The audit of approval decisions (or one outcome's), oldest first: ``DECISION_COLUMNS``."""
        query = outcome_decisions.select().order_by(outcome_decisions.c.decision_id)
        if outcome_id is not None:
            query = query.where(outcome_decisions.c.outcome_id == outcome_id)
        with self._engine.connect() as connection:
            frame = pd.DataFrame(connection.execute(query).mappings().all(), columns=list(DECISION_COLUMNS))
        moments = pd.Series([_utc(t) for t in frame["decided_at"]], index=frame.index, dtype=object)
        return frame.assign(decided_at=pd.to_datetime(moments, utc=True))

    def pending(self, territories: Iterable[str] | None = None) -> pd.DataFrame:
        """The outcomes awaiting a manager's approval (of ``territories``; None: every one), oldest first."""
        found = self.outcomes(approval=Approval.PENDING.value)
        return found if territories is None else found[found["territory"].isin(list(territories))]

    def outcomes(self, account_id: str | None = None, approval: str | None = None) -> pd.DataFrame:
        """Every recorded outcome (or one account's, or those of one ``approval``), one row each, oldest first.

        Returns:
            ``OUTCOME_COLUMNS``; ``call_date`` as a day (datetime64; missing where the stored day is outside what
            pandas can hold), ``recorded_at`` in UTC, numbers as floats (missing where not a number).
        """
        query = sa.select(*(outcomes.c[c] for c in OUTCOME_COLUMNS)).order_by(outcomes.c.outcome_id)
        if account_id is not None:
            query = query.where(outcomes.c.account_id == account_id)
        if approval is not None:
            query = query.where(outcomes.c.approval == approval)
        with self._engine.connect() as connection:
            frame = pd.DataFrame(connection.execute(query).mappings().all(), columns=list(OUTCOME_COLUMNS))
        recorded = [_utc(t) for t in frame["recorded_at"]]
        number = {c: pd.to_numeric(frame[c], errors="coerce").astype(float)
                  for c in ("rollback_pct", "credit_amount", "new_monthly_rate")}  # fmt: skip
        return frame.assign(
            call_date=_days(frame["call_date"]),
            recorded_at=pd.to_datetime(pd.Series(recorded, index=frame.index, dtype=object), utc=True),
            accepted=frame["accepted"].astype(bool),
            flipped=frame["flipped"].astype(bool),
            new_term_months=pd.to_numeric(frame["new_term_months"], errors="coerce").astype("Int64"),
            **number,
        )


def _days(values: pd.Series) -> pd.Series:
    """Stored days as datetime64[ns]; a day pandas cannot hold (before 1677, after 2262) or no day at all is NaT."""
    fits = [isinstance(v, datetime.date) and pd.Timestamp.min.date() < v < pd.Timestamp.max.date() for v in values]
    kept = values.where(pd.Series(fits, index=values.index, dtype=bool))
    return pd.to_datetime(kept, errors="coerce").astype("datetime64[ns]")


def _by_key(connection: Connection, key: str) -> tuple[int, str, str, str] | None:
    row = connection.execute(
        sa.select(outcomes.c.outcome_id, outcomes.c.payload_sha256, outcomes.c.approval, outcomes.c.held_for).where(
            outcomes.c.idempotency_key == key
        )
    ).first()
    return None if row is None else (int(row[0]), str(row[1]), str(row[2]), str(row[3]))


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
