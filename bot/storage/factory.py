"""`make_store(url)`: the store a database URL names: SQL (SQLite, PostgreSQL) or DynamoDB (`dynamodb://…`)."""

from __future__ import annotations

from bot.storage.protocols import BillingBotStore


def make_store(url: str) -> BillingBotStore:
    if url.startswith("dynamodb://"):
        from bot.storage.dynamo.store import DynamoStore  # boto3 only where it is used

        return DynamoStore(url)
    from bot.storage.sql.store import SqlStore

    return SqlStore(url)


def shown_url(url: str) -> str:
    """The URL as a log may show it: a SQL password hidden (a DynamoDB URL holds no secret)."""
    if url.startswith("dynamodb://"):
        return url
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
