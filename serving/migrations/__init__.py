"""Alembic migrations of the outcomes store, applied by ``serving.store.OutcomesStore.open``.

No ``alembic.ini`` is needed: ``alembic_config`` points Alembic at this folder.
To write a new migration: ``alembic -c <an ini naming script_location = serving/migrations> revision -m "..."``,
then edit the script; the store applies it on its next open.
"""

from __future__ import annotations

from pathlib import Path

from alembic.config import Config
from sqlalchemy.engine import Connection

SCRIPT_LOCATION = Path(__file__).parent

MIGRATION_LOCK = 7_000_726_001
"""Key of the PostgreSQL advisory lock held while migrating (any constant no other code uses)."""


def alembic_config(connection: Connection) -> Config:
    """An Alembic configuration that migrates over ``connection`` (see ``env.py``)."""
    config = Config()
    config.set_main_option("script_location", str(SCRIPT_LOCATION))
    config.attributes["connection"] = connection
    return config
