"""Which failures are worth a retry: the one place savedesk classifies exceptions.

A **transient** fault passes by itself: a database busy or locked, a file lock held, a server that does not answer
(refused, reset, timed out). A task that touches storage retries those with backoff (``retry_transient``, the
``retry_condition_fn`` of ``pipelines.tasks.io_task``). Anything else is a **data fault** or a bug (a validation
error, a missing table or file, a stale extract, a wrong value) and fails at once: retrying cannot change it.
An error raised while handling a transient one (``raise ... from``) is judged by its cause.
"""

from __future__ import annotations

import errno
import sqlite3
from typing import Any

from prefect.client.schemas.objects import TaskRun
from prefect.states import State

TRANSIENT_ERRNOS = frozenset(
    {errno.EAGAIN, errno.EBUSY, errno.ETIMEDOUT, errno.ECONNREFUSED, errno.ECONNRESET, errno.ECONNABORTED,
     errno.EHOSTUNREACH, errno.ENETUNREACH, errno.ENETDOWN, errno.EPIPE, errno.ESTALE}
)  # fmt: skip
"""Operating-system errors that pass by themselves (a full disk or a missing file does not)."""
BUSY_WORDS = ("database is locked", "database is busy", "database table is locked")
"""SQLite's words for a lock another writer holds."""


def _transient_one(error: BaseException) -> bool:
    """Whether ``error`` itself (not its causes) is a fault that passes by itself."""
    if isinstance(error, sqlite3.OperationalError):
        return any(words in str(error).lower() for words in BUSY_WORDS)
    if isinstance(error, ConnectionError | TimeoutError | BlockingIOError | InterruptedError):
        return True
    if isinstance(error, OSError):
        return error.errno in TRANSIENT_ERRNOS
    kind = type(error)
    module, name = kind.__module__.split(".")[0], kind.__name__
    # Named rather than imported: the drivers and clients load only when a run uses them.
    if module == "psycopg" and name in ("OperationalError", "ConnectionTimeout", "PoolTimeout"):
        return True  # the server went away or refused the connection
    if module == "httpx" and name in ("ConnectError", "ConnectTimeout", "ReadTimeout", "RemoteProtocolError",
                                      "PoolTimeout", "ReadError", "WriteError"):  # fmt: skip
        return True
    if module == "sqlalchemy" and name == "OperationalError":
        orig = getattr(error, "orig", None)
        return orig is not None and _transient_one(orig)
    return False


def transient(error: BaseException) -> bool:
    """Whether ``error``, or an error it was raised from, is a transient fault (worth a retry with backoff)."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if _transient_one(current):
            return True
        seen.add(id(current))
        current = current.__cause__ or (None if current.__suppress_context__ else current.__context__)
    return False


def retry_transient(task_: Any, task_run: TaskRun, state: State) -> bool:
    """Prefect's ``retry_condition_fn``: retry a failed task only on a transient fault, never on data or a bug."""
    try:
        state.result()
    except Exception as error:  # noqa: BLE001 - classified, not handled
        return transient(error)
    return False
