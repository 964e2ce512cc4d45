"""Fixtures of the serving tests: an outcomes store on SQLite and on a real PostgreSQL server.

``store_url`` runs each test that asks for it twice: on a SQLite file in the
test's tmp folder, and on PostgreSQL, in a fresh schema of a database created
for the session (``savedesk_<uuid>``, dropped ``WITH (FORCE)`` afterwards), so
parallel xdist workers never share a database and tests never share tables. A
schema per test rather than a database per test: dropping a database forces a
checkpoint, a second or more on a busy machine. The server is the one at
``SAVEDESK_TEST_POSTGRES_URL`` (default: trust auth on 127.0.0.1:5432, database
``test``, user ``postgres`` or ``root``). The production path is tested, not
assumed: when no server answers the PostgreSQL cases fail, saying why, unless
``SAVEDESK_SKIP_POSTGRES=1`` says this machine has none (then they are skipped).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest
import sqlalchemy as sa

from serving.store import OutcomesStore
from tests.postgres import postgres_admin_url


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[Callable[[], str]]:
    """A factory of empty PostgreSQL stores: each call makes a new schema of this session's own database.

    The URL it returns sets ``search_path`` to the new schema, so the store's
    tables and Alembic's version table land there.
    """
    # CREATE DATABASE cannot run in a transaction, hence AUTOCOMMIT.
    admin = sa.create_engine(postgres_admin_url(), isolation_level="AUTOCOMMIT", poolclass=sa.NullPool)
    database = f"savedesk_{uuid.uuid4().hex}"
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{database}"')
    session_url = admin.url.set(database=database)
    owner = sa.create_engine(session_url, isolation_level="AUTOCOMMIT", poolclass=sa.NullPool)

    def create() -> str:
        schema = f"store_{uuid.uuid4().hex}"
        with owner.connect() as connection:
            connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
        url = session_url.update_query_dict({"options": f"-csearch_path={schema}"})
        return url.render_as_string(hide_password=False)

    yield create
    owner.dispose()
    with admin.connect() as connection:
        connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The URL of an empty outcomes store: a SQLite file, or a new PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path_factory.mktemp('store') / 'outcomes.db'}"
    factory: Callable[[], str] = request.getfixturevalue("postgres_database")
    return factory()


@pytest.fixture
def store(store_url: str) -> Iterator[OutcomesStore]:
    """An open, migrated outcomes store."""
    opened = OutcomesStore.open(store_url)
    yield opened
    opened.dispose()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def module_store_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """``store_url`` for a whole module: each test module asking for it runs once per engine."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path_factory.mktemp('store') / 'outcomes.db'}"
    factory: Callable[[], str] = request.getfixturevalue("postgres_database")
    return factory()
