"""`make_store(url)`: the store a database URL names: SQL (SQLite, PostgreSQL) or DynamoDB (`dynamodb://…`)."""

from __future__ import annotations

from bot.storage.protocols import BillingBotStore


def make_store(url: str) -> BillingBotStore:
    if url.startswith("dynamodb://"):
        from bot.storage.dynamo.store import DynamoStore  # boto3 only where it is used

        return DynamoStore(url)
    from bot.storage.sql.store import SqlStore

    return SqlStore(url)
