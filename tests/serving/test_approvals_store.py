"""Approvals in the outcomes store, on SQLite and PostgreSQL: the 0002 migration, holding, deciding once, the audit."""

from __future__ import annotations

import datetime
import threading

import pytest
import sqlalchemy as sa
from alembic import command

from serving.auth import Role, User
from serving.migrations import alembic_config
from serving.outcomes import OutcomeIn
from serving.store import OutcomesStore
from serving.store_decisions import NotPending

REP = User("ann", Role.REP, frozenset({"T01"}), "R011")
MANAGERS = [User(f"boss{n}", Role.MANAGER, frozenset(), None) for n in range(6)]


def rollback(pct: int = 20, **changes: object) -> OutcomeIn:
    fields: dict[str, object] = {"account_id": "A000123", "offer": "rollback", "rollback_pct": pct, "accepted": True,
                                 "call_date": datetime.date(2026, 11, 27)}  # fmt: skip
    return OutcomeIn.model_validate(fields | changes)


def test_outcomes_recorded_before_approvals_existed_need_none(store_url: str) -> None:
    engine = sa.create_engine(store_url, poolclass=sa.NullPool)
    with engine.begin() as connection:
        command.upgrade(alembic_config(connection), "0001")
        connection.execute(sa.text(
            "INSERT INTO outcomes (idempotency_key, account_id, offer, rollback_pct, credit_amount, accepted, flipped,"
            " notes, call_date, user_name, territory, payload_sha256, recorded_at) VALUES ('old', 'A1', 'rollback',"
            " 20, 0, :yes, :no, '', '2026-11-01', 'ann', 'T01', 'x', '2026-11-01 10:00:00')"
        ), {"yes": True, "no": False})  # fmt: skip
    engine.dispose()
    store = OutcomesStore.open(store_url)
    try:
        old = store.outcomes()
        assert old[["idempotency_key", "approval", "held_for"]].values.tolist() == [["old", "not_needed", ""]]
        assert store.decisions().empty
    finally:
        store.dispose()


def test_a_held_outcome_is_decided_once_even_by_managers_racing(store: OutcomesStore) -> None:
    held = store.record_outcome(rollback(), REP, "T01", "k-held", held_for=("rep_authority",))
    assert (held.approval, held.held_for) == ("pending", ("rep_authority",))
    start = threading.Barrier(len(MANAGERS))
    results: list[object] = []

    def decide(manager: User, approve: bool) -> None:
        start.wait()
        try:
            results.append(store.decide(held.outcome_id, manager, approve, f"by {manager.name}"))
        except Exception as error:  # counted below
            results.append(error)

    threads = [threading.Thread(target=decide, args=(m, n % 2 == 0)) for n, m in enumerate(MANAGERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    won = [r for r in results if not isinstance(r, Exception)]
    assert len(won) == 1 and all(isinstance(r, NotPending) for r in results if r not in won), results
    final = store.outcome(held.outcome_id)
    assert final is not None and final["approval"] == won[0].approval  # type: ignore[attr-defined]
    audit = store.decisions(held.outcome_id)
    assert audit["action"].tolist() == ["held", won[0].approval]  # type: ignore[attr-defined]
    assert audit["decided_by"].iloc[-1] == won[0].decided_by  # type: ignore[attr-defined]


def test_only_a_pending_outcome_can_be_decided(store: OutcomesStore) -> None:
    within = store.record_outcome(rollback(10), REP, "T01", "k-within")
    assert within.approval == "not_needed"
    with pytest.raises(NotPending, match="not needed"):
        store.decide(within.outcome_id, MANAGERS[0], True)
    with pytest.raises(LookupError):
        store.decide(within.outcome_id + 1000, MANAGERS[0], True)
    assert store.decisions().empty  # a refused decision leaves no audit row
    assert store.pending().empty


def test_pending_outcomes_are_listed_by_territory(store: OutcomesStore) -> None:
    store.record_outcome(rollback(), REP, "T01", "k-1", held_for=("rep_authority",))
    store.record_outcome(rollback(account_id="A9"), REP, "T02", "k-2", held_for=("price_floor",))
    store.record_outcome(rollback(account_id="A8"), MANAGERS[0], "T02", "k-3", held_for=("rep_authority",))
    assert store.pending()["idempotency_key"].tolist() == ["k-1", "k-2"]  # the manager's own stands on record
    assert store.pending(["T02"])["held_for"].tolist() == ["price_floor"]
