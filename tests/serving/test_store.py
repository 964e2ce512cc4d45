"""The outcomes store on SQLite and PostgreSQL: migrations, users and tokens, idempotent recording."""

from __future__ import annotations

import contextlib
import datetime
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from pydantic import ValidationError
from store_locks import sqlite_write_lock

from serving.auth import Role, User, hash_token
from serving.migrations import MIGRATION_LOCK
from serving.outcomes import OutcomeIn, desk_today
from serving.store import IdempotencyConflict, OutcomesStore
from serving.store_schema import metadata
from sources.vocabulary import OFFERS

REP = User(name="ann", role=Role.REP, territories=frozenset({"T01"}), rep_id="R011")


def outcome(**changes: object) -> OutcomeIn:
    """A rollback of 10 % the customer accepted, with ``changes``."""
    fields: dict[str, object] = {
        "account_id": "A000123",
        "request_id": "Q000045",
        "offer": "rollback",
        "rollback_pct": 10,
        "accepted": True,
        "new_monthly_rate": 182.5,
        "notes": "Customer asked to call back on Friday.",
        "call_date": datetime.date(2026, 11, 27),
    }
    return OutcomeIn.model_validate(fields | changes)


def schema_differences(url: str) -> list[object]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            return list(compare_metadata(MigrationContext.configure(connection), metadata))
    finally:
        engine.dispose()


def test_migrating_twice_is_a_no_op_and_matches_the_declared_tables(store_url: str) -> None:
    first = OutcomesStore.open(store_url)
    token = first.add_user("ann", Role.REP, ["T01"], "R011")
    first.record_outcome(outcome(), REP, "T01", "key-1")
    first.dispose()

    again = OutcomesStore.open(store_url)
    try:
        assert again.authenticate(token) == REP
        assert again.outcomes()["idempotency_key"].tolist() == ["key-1"]
    finally:
        again.dispose()
    engine = sa.create_engine(store_url)
    with engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT version_num FROM alembic_version").scalars().all() == ["0002"]
    engine.dispose()
    assert schema_differences(store_url) == []


OPEN_ON_SIGNAL = """
import sys
from serving.store import OutcomesStore
print("ready", flush=True)
sys.stdin.readline()
OutcomesStore.open(sys.argv[1]).dispose()
"""


@contextlib.contextmanager
def migration_in_progress(url: str) -> Iterator[None]:
    """Hold what a migrating process holds: PostgreSQL's advisory lock, or SQLite's write lock."""
    if url.startswith("sqlite"):
        with sqlite_write_lock(url):
            yield
        return
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT", poolclass=sa.NullPool)
    with engine.connect() as holder:
        holder.execute(sa.text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK})
        try:
            yield
        finally:
            holder.execute(sa.text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK})
    engine.dispose()


@pytest.mark.slow
def test_a_process_opening_the_store_waits_for_a_migration_in_progress(store_url: str) -> None:
    OutcomesStore.open(store_url).dispose()  # the database exists (SQLite: its file) and is at head
    opener = subprocess.Popen([sys.executable, "-c", OPEN_ON_SIGNAL, store_url], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    assert opener.stdout is not None and opener.stdin is not None
    assert opener.stdout.readline().strip() == "ready"
    with migration_in_progress(store_url):
        opener.stdin.write("go\n")
        opener.stdin.flush()
        with pytest.raises(subprocess.TimeoutExpired):
            opener.wait(timeout=3)  # still waiting for the lock
    _, errors = opener.communicate(timeout=120)
    assert opener.returncode == 0, errors
    assert schema_differences(store_url) == []


def test_a_retry_with_the_same_key_and_payload_returns_the_first_outcome(store: OutcomesStore) -> None:
    first = store.record_outcome(outcome(), REP, "T01", "key-1")
    retry = store.record_outcome(outcome(), REP, "T01", "key-1")
    other = store.record_outcome(outcome(account_id="A000999"), REP, "T01", "key-2")

    assert first.created and not retry.created and other.created
    assert retry.outcome_id == first.outcome_id != other.outcome_id
    recorded = store.outcomes()
    assert recorded["outcome_id"].tolist() == [first.outcome_id, other.outcome_id]
    row = recorded.iloc[0]
    assert (row["account_id"], row["offer"], row["rollback_pct"], bool(row["accepted"])) == (
        "A000123",
        "rollback",
        10.0,
        True,
    )
    assert (row["user_name"], row["rep_id"], row["territory"]) == ("ann", "R011", "T01")
    assert row["call_date"] == datetime.datetime(2026, 11, 27)
    assert row["recorded_at"].tzinfo is not None
    assert store.outcomes(account_id="A000999")["outcome_id"].tolist() == [other.outcome_id]


def test_the_same_key_with_another_payload_or_user_is_a_conflict(store: OutcomesStore) -> None:
    store.record_outcome(outcome(), REP, "T01", "key-1")
    with pytest.raises(IdempotencyConflict):
        store.record_outcome(outcome(accepted=False), REP, "T01", "key-1")
    with pytest.raises(IdempotencyConflict):
        store.record_outcome(outcome(), User("bob", Role.MANAGER, frozenset(), None), "T01", "key-1")
    assert len(store.outcomes()) == 1


def test_concurrent_retries_of_one_key_write_one_row(store: OutcomesStore) -> None:
    start = threading.Barrier(8)
    results: list[object] = []

    def record() -> None:
        start.wait()
        try:
            results.append(store.record_outcome(outcome(), REP, "T01", "raced"))
        except Exception as error:  # the assertion below shows it
            results.append(error)

    threads = [threading.Thread(target=record) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert all(not isinstance(r, Exception) for r in results), results
    assert len({r.outcome_id for r in results}) == 1  # type: ignore[attr-defined]
    assert sum(r.created for r in results) == 1  # type: ignore[attr-defined]
    assert len(store.outcomes()) == 1


def test_a_bad_key_writes_nothing(store: OutcomesStore) -> None:
    for key in ("", "k" * 129):
        with pytest.raises(ValueError, match="idempotency key"):
            store.record_outcome(outcome(), REP, "T01", key)
    assert store.outcomes().empty


def test_an_undated_outcome_is_dated_today_at_the_desk_and_its_retry_still_matches(store: OutcomesStore) -> None:
    undated = outcome(call_date=None)
    first = store.record_outcome(undated, REP, "T01", "key-1")
    assert store.record_outcome(undated, REP, "T01", "key-1") == type(first)(first.outcome_id, created=False)
    day = store.outcomes()["call_date"].iloc[0].date()
    assert day in {desk_today("America/Chicago"), desk_today("UTC")}  # midnight may pass between the two


def test_revoked_and_unknown_tokens_authenticate_no_one(store: OutcomesStore) -> None:
    token = store.add_user("ann", Role.REP, ["T01", "T02"], "R011")
    manager = store.add_user("mia", Role.MANAGER)
    assert store.authenticate(token) == User("ann", Role.REP, frozenset({"T01", "T02"}), "R011")
    assert store.authenticate("not-a-token") is None
    assert store.authenticate("") is None

    assert store.revoke_user("ann")
    assert not store.revoke_user("ann")
    assert store.authenticate(token) is None
    assert [u.name for u in store.users()] == ["mia"]
    assert store.authenticate(manager) is not None

    renewed = store.add_user("ann", Role.REP, ["T03"])  # a revoked user's name may be given again
    assert renewed != token
    assert store.authenticate(renewed) == User("ann", Role.REP, frozenset({"T03"}), None)


def test_names_are_unique_among_active_users_and_reps_need_a_territory(store: OutcomesStore) -> None:
    store.add_user("ann", Role.REP, ["T01"])
    with pytest.raises(ValueError, match="already named ann"):
        store.add_user("ann", Role.MANAGER)
    with pytest.raises(ValueError, match="territory"):
        store.add_user("bob", Role.REP)
    assert [u.name for u in store.users()] == ["ann"]


def test_tokens_are_stored_only_as_their_hash(store_url: str) -> None:
    store = OutcomesStore.open(store_url)
    token = store.add_user("ann", Role.REP, ["T01"], "R011")
    store.dispose()
    engine = sa.create_engine(store_url)
    with engine.connect() as connection:
        stored = " ".join(str(row) for row in connection.exec_driver_sql("SELECT * FROM users"))
    engine.dispose()
    assert hash_token(token) in stored and token not in stored
    if store_url.startswith("sqlite"):
        database = Path(sa.make_url(store_url).database or "")
        files = [p for p in database.parent.iterdir() if p.name.startswith(database.name)]
        assert files and all(token.encode() not in p.read_bytes() for p in files)


def test_outcome_payloads_follow_the_contract() -> None:
    assert OutcomeIn.model_fields["offer"].annotation.__args__ == OFFERS  # type: ignore[union-attr]
    with pytest.raises(ValidationError, match="rollback_pct"):
        outcome(rollback_pct=12.5)
    with pytest.raises(ValidationError, match="rollback_pct"):
        outcome(offer="service_recovery", rollback_pct=10)
    with pytest.raises(ValidationError, match="extra"):
        outcome(surprise=1)
    with pytest.raises(ValidationError, match="account_id"):
        outcome(account_id="")
    with pytest.raises(ValidationError, match="notes"):
        outcome(notes="x" * 2001)
    assert outcome(offer="flip", rollback_pct=0, flipped=True, accepted=False).flipped
