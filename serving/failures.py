"""How the desk answers what went wrong on its side, and logs it without what was sent.

A store error (``sqlalchemy.exc.SQLAlchemyError``) answers 503 with
``Retry-After`` when the store is busy or unreachable (a lock held past
``serving.store.STORE_WAIT_SECONDS``, a lost connection, a full pool) and 500
otherwise; in both cases the write's transaction was rolled back, so a retry
records it once. Any other unexpected error answers 500 (``serving.middleware.ErrorShield``).

Either is logged as the error's class, its database code and where in the code
it happened, never its message: a database's message can quote the whole row
(PostgreSQL's "Failing row contains (...)", a trigger's own text), and the row
holds the rep's notes.
"""

from __future__ import annotations

import logging
import traceback
from pathlib import Path

from fastapi import HTTPException
from sqlalchemy import exc

ERROR_LOG = logging.getLogger("savedesk.errors")
RETRY_AFTER_SECONDS = 5
"""What a 503 asks the caller to wait before trying again."""
_BUSY = (exc.OperationalError, exc.TimeoutError, exc.DisconnectionError)
"""Store errors that pass: a lock held too long, a connection lost or refused, no connection free in the pool."""


def store_failure(error: exc.SQLAlchemyError, method: str, route: str) -> HTTPException:
    """The answer to a store error (503 when it is busy or unreachable, else 500), logged without its message."""
    log_failure("The outcomes store failed", error, method, route)
    if isinstance(error, _BUSY) or getattr(error, "connection_invalidated", False):
        return HTTPException(
            503,
            "The outcomes store is busy or unreachable: nothing was recorded. Please try again in a few seconds.",
            {"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
    return HTTPException(
        500,
        "The outcomes store could not do this: nothing was recorded. Please try again; if it fails again, "
        "tell your manager.",  # fmt: skip
    )


def log_failure(what: str, error: BaseException, method: str, route: str) -> None:
    """Log ``error`` as its class, its database codes and its frames (file, line, function): never its message.

    Args:
        what: What failed, in words.
        error: The exception.
        method: The request's method.
        route: The route's template (never the path: it holds account ids).
    """
    cause = getattr(error, "orig", None) or error.__cause__
    kinds = [type(error).__name__]
    if cause is not None:
        kinds.append(f"{type(cause).__module__}.{type(cause).__name__}")
        kinds += [f"{name} {value}" for name in ("sqlstate", "sqlite_errorname")
                  if (value := getattr(cause, name, None))]  # fmt: skip
    ERROR_LOG.error("%s on %s %s (%s) at %s", what, method, route, ", ".join(kinds), _where(error))


def _where(error: BaseException) -> str:
    """The frames of ``error`` in this project's code, outermost first, then the frame that raised it."""
    frames = traceback.extract_tb(error.__traceback__)
    if not frames:
        return "?"
    shown = [f for f in frames if "site-packages" not in f.filename][-8:]
    if frames[-1] not in shown:
        shown.append(frames[-1])
    return " > ".join(f"{Path(f.filename).name}:{f.lineno} {f.name}" for f in shown)
