"""The engine and transactions every part of `SqlStore` shares.

SQLite serialises writers: every transaction starts with BEGIN IMMEDIATE (WAL journal, busy timeout),
so read-check-write sequences such as "insert unless the MessageSid exists" are atomic across threads
and processes. On PostgreSQL the guarded UPDATEs and unique constraints give the same guarantees.
"""

from __future__ import annotations

import sqlite3
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from tenacity import retry, retry_if_exception, stop_after_delay, wait_fixed

# The session of the unit of work open in this context (thread or task), and the store that opened it.
_UNIT: ContextVar[tuple[object, Session] | None] = ContextVar("bot_sql_unit_of_work", default=None)


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
        for pragma in ("busy_timeout=30000", "foreign_keys=ON", "synchronous=NORMAL"):
            dbapi_connection.execute(f"PRAGMA {pragma}")
        _wal(dbapi_connection)

    @event.listens_for(engine, "begin")
    def _on_begin(connection):
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def _locked(error: BaseException) -> bool:
    return isinstance(error, sqlite3.OperationalError) and "locked" in str(error)


# Changing the journal mode skips the busy handler: while another connection writes (a first start's migration)
# it fails at once, so wait for the writer; WAL then sticks to the file.
@retry(retry=retry_if_exception(_locked), wait=wait_fixed(0.1), stop=stop_after_delay(30), reraise=True)
def _wal(dbapi_connection) -> None:
    dbapi_connection.execute("PRAGMA journal_mode=WAL")


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
        unit = _UNIT.get()
        if unit is not None and unit[0] is self:
            yield unit[1]  # inside `unit_of_work`: it commits, or rolls everything back
            return
        with self._sessions.begin() as session:
            yield session

    @contextmanager
    def unit_of_work(self):
        """One transaction for every call on this store inside the block (same thread): all of them, or none.

        Blocking, like every store call: open it inside the function handed to `off_loop`. Nested blocks join
        the outer one. A store method's own IntegrityError handling can't recover inside a unit (the session is
        spoilt); on SQLite the unit holds the write lock from its first write, so those races cannot happen.
        """
        unit = _UNIT.get()
        if unit is not None and unit[0] is self:
            yield
            return
        with self._sessions.begin() as session:
            token = _UNIT.set((self, session))
            try:
                yield
            finally:
                _UNIT.reset(token)

    def create_schema(self) -> None:
        """Migrate the database to the newest revision: an empty one, one made before migrations, any older one."""
        from bot.storage.sql.migrate import upgrade  # it imports this module

        upgrade(self.engine)

    def ping(self) -> None:
        with self.engine.connect() as connection:
            connection.execute(text("SELECT 1"))

    def dispose(self) -> None:
        self.engine.dispose()
