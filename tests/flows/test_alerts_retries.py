"""Transient faults retry with backoff, data faults do not (``pipelines.faults``, the storage tasks' retry rule), and
an alert tells a failure without quoting a message that could hold a row."""

from __future__ import annotations

import errno
import sqlite3

import pytest
import sqlalchemy.exc
from prefect import flow

from pipelines.alerts import described
from pipelines.faults import transient
from pipelines.freshness import StaleExtract
from pipelines.tasks import io_task
from pipelines.workspace import WorkspaceError


def locked() -> sqlite3.OperationalError:
    return sqlite3.OperationalError("database is locked")


def wrapped(orig: BaseException) -> sqlalchemy.exc.OperationalError:
    return sqlalchemy.exc.OperationalError("INSERT INTO outcomes ...", {}, orig)


def raised_from(error: Exception, cause: BaseException) -> Exception:
    try:
        raise error from cause
    except Exception as caught:  # noqa: BLE001 - the chained exception itself is the value
        return caught


@pytest.mark.parametrize(
    "error",
    [
        locked(),
        sqlite3.OperationalError("database is busy"),
        wrapped(locked()),
        ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused"),
        TimeoutError("timed out"),
        BlockingIOError(errno.EWOULDBLOCK, "Resource temporarily unavailable"),
        OSError(errno.ECONNRESET, "Connection reset by peer"),
        raised_from(WorkspaceError("The outcomes store cannot be read"), wrapped(locked())),
    ],
    ids=lambda e: type(e).__name__ + ":" + str(e)[:30],
)
def test_transient_faults_are_retried(error: BaseException) -> None:
    assert transient(error)


@pytest.mark.parametrize(
    "error",
    [
        WorkspaceError("data/x/raw fails validation"),
        StaleExtract("The extract is stale"),
        FileNotFoundError(errno.ENOENT, "No such file", "clean/accounts.parquet"),
        PermissionError(errno.EACCES, "Permission denied"),
        OSError(errno.ENOSPC, "No space left on device"),
        sqlite3.OperationalError("no such table: outcomes"),
        wrapped(sqlite3.OperationalError("no such column: notes")),
        KeyError("account_id"),
        ValueError("could not convert"),
    ],
    ids=lambda e: type(e).__name__ + ":" + str(e)[:30],
)
def test_data_faults_and_bugs_are_not_retried(error: BaseException) -> None:
    assert not transient(error)


def attempts_until(failures: list[BaseException]) -> tuple[int, BaseException | None]:
    """How many times a storage task ran, failing with each of ``failures`` in turn, and the error it ended with."""
    calls: list[int] = []

    def step() -> str:
        calls.append(1)
        if len(calls) <= len(failures):
            raise failures[len(calls) - 1]
        return "written"

    quick = io_task(step).with_options(retry_delay_seconds=0, retry_jitter_factor=None)

    @flow
    def run() -> str:
        return quick()

    try:
        run()
    except BaseException as error:  # noqa: BLE001 - the flow's final error is the result
        return len(calls), error
    return len(calls), None


def test_a_storage_task_retries_a_locked_database_and_then_succeeds() -> None:
    calls, error = attempts_until([locked(), wrapped(locked())])
    assert (calls, error) == (3, None)


def test_a_storage_task_fails_at_once_on_a_data_fault() -> None:
    calls, error = attempts_until([WorkspaceError("accounts fails validation")])
    assert calls == 1 and isinstance(error, WorkspaceError)


def test_a_storage_task_gives_up_after_its_retries() -> None:
    calls, error = attempts_until([locked()] * 10)
    assert calls == 4 and isinstance(error, sqlite3.OperationalError)


def test_an_alert_quotes_savedesk_sentences_but_only_names_other_errors() -> None:
    assert "fails validation" in described(WorkspaceError("data/x/raw fails validation"))
    row = "duplicate key (account_id)=(A-00042, Jane Roe)"
    told = described(sqlalchemy.exc.IntegrityError("INSERT", {}, sqlite3.IntegrityError(row)))
    assert "IntegrityError" in told and "Jane" not in told and "A-00042" not in told
