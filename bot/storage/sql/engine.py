"""The engine and transactions every part of `SqlStore` shares.

SQLite serialises writers: every transaction starts with BEGIN IMMEDIATE (WAL journal, busy timeout),
so read-check-write sequences such as "insert unless the MessageSid exists" are atomic across threads
and processes. On PostgreSQL the guarded UPDATEs and unique constraints give the same guarantees.
"""

from __future__ import annotations

from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from bot.storage.sql import tables as t


def make_engine(url: str) -> Engine:
    """An engine for `url`; for a SQLite file, create its folder and set up locking."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False}, pool_size=8)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None  # the driver must not open transactions; _on_begin does
        for pragma in ("journal_mode=WAL", "busy_timeout=30000", "foreign_keys=ON", "synchronous=NORMAL"):
            dbapi_connection.execute(f"PRAGMA {pragma}")

    @event.listens_for(engine, "begin")
    def _on_begin(connection):
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def ensure_row(session: Session, model: type, **key) -> None:
    """Insert the row with primary key `key` (defaults elsewhere) unless it exists."""
    dialect = session.get_bind().dialect.name
    if dialect in ("sqlite", "postgresql"):
        insert = __import__(f"sqlalchemy.dialects.{dialect}", fromlist=["insert"]).insert
        session.execute(insert(model).values(**key).on_conflict_do_nothing())
        return
    try:
        with session.begin_nested():
            session.add(model(**key))
    except IntegrityError:
        pass


def iso(value):
    """A stored value as JSON-ready data (times as ISO strings)."""
    return value.isoformat() if isinstance(value, datetime) else value


class SqlBase:
    """The engine, one transaction per store call (`_tx`), the schema."""

    def __init__(self, url: str):
        self.engine = make_engine(url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def _tx(self):
        with self._sessions.begin() as session:
            yield session

    def create_schema(self) -> None:
        t.Base.metadata.create_all(self.engine)

    def ping(self) -> None:
        with self.engine.connect() as connection:
            connection.execute(text("SELECT 1"))

    def dispose(self) -> None:
        self.engine.dispose()
