"""Alembic migrations of the bot database: env.py, the revision template and versions/."""
