"""Alembic's entry point: migrate over the connection the store hands in, in one transaction.

On PostgreSQL the transaction first takes an advisory lock, so two processes
opening the store at once migrate one after the other (the second finds the
schema at head and does nothing). On SQLite the store begins every write
transaction with ``BEGIN IMMEDIATE``, which serialises them the same way.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import text

from serving.migrations import MIGRATION_LOCK

connection = context.config.attributes["connection"]
context.configure(connection=connection, transactional_ddl=True, render_as_batch=connection.dialect.name == "sqlite")
with context.begin_transaction():
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
    context.run_migrations()
