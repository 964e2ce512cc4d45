"""The machine's PostgreSQL server for the tests of the production path (outcomes store, Prefect server).

The server is the one at ``SAVEDESK_TEST_POSTGRES_URL`` (default: trust auth on
127.0.0.1:5432, database ``test``, user ``postgres`` or ``root``). The production
path is tested, not assumed: when no server answers, the test asking for one
fails saying why, unless ``SAVEDESK_SKIP_POSTGRES=1`` says this machine has none
(then it is skipped).
"""

from __future__ import annotations

import os

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import URL, make_url

POSTGRES_CANDIDATES = (
    "postgresql+psycopg://postgres@127.0.0.1:5432/test",
    "postgresql+psycopg://root@127.0.0.1:5432/test",
)


def postgres_admin_url() -> URL:
    """The URL (psycopg driver) of the first candidate server that answers; skips or fails the test when none does."""
    explicit = os.environ.get("SAVEDESK_TEST_POSTGRES_URL")
    for candidate in (explicit,) if explicit else POSTGRES_CANDIDATES:
        url = make_url(candidate).set(drivername="postgresql+psycopg")
        engine = sa.create_engine(url, poolclass=sa.NullPool, connect_args={"connect_timeout": 5})
        try:
            with engine.connect() as connection:
                connection.exec_driver_sql("SELECT 1")
        except sa.exc.OperationalError:
            continue
        finally:
            engine.dispose()
        return url
    why = "no PostgreSQL server answers (set SAVEDESK_TEST_POSTGRES_URL to one with trust auth)"
    if os.environ.get("SAVEDESK_SKIP_POSTGRES") == "1":
        pytest.skip(why)
    pytest.fail(why + "; SAVEDESK_SKIP_POSTGRES=1 skips these tests on a machine without one")
