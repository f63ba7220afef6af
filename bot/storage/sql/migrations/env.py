"""Alembic's entry point: it runs this file for every command (`bot.storage.sql.migrate` and the alembic CLI)."""

from alembic import context

from bot.storage.sql.migrate import run_alembic_env

# Alembic executes this file to migrate: running at import is its contract, nothing imports it otherwise.
run_alembic_env(context)
