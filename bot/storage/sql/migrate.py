"""Alembic migrations of the bot database: `upgrade` on every start (empty, pre-migration or migrated), `revisions`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, inspect, text
from sqlalchemy.engine import make_url

from bot.storage.sql import tables as t
from bot.storage.sql.engine import make_engine

MIGRATIONS = Path(__file__).with_name("migrations")
BASELINE = "0001"  # the schema `create_all` made before migrations existed
VERSION_TABLE = "alembic_version"
LEGACY_MARKER = "users"  # with this table and no VERSION_TABLE, `create_all` made the database
PG_LOCK_KEY = 0x706C617465  # pg_advisory_xact_lock key: one upgrader at a time on PostgreSQL


class MigrationError(RuntimeError):
    """The database cannot be migrated as it is (it says what is wrong); nothing was changed."""


@dataclass(frozen=True)
class Revisions:
    current: str | None  # None: an empty database, or one made before migrations (`legacy`)
    head: str
    legacy: bool = False


@dataclass(frozen=True)
class Migration:
    before: str | None  # the revision found; None for an empty or a pre-migration (`stamped`) database
    after: str | None
    stamped: bool = False  # made before migrations: stamped BASELINE, then upgraded


def upgrade(database: Engine | str, revision: str = "head") -> Migration:
    """Migrate `database` (an engine, or a URL) to `revision`, in one transaction that holds the write lock, so a
    second process upgrading at the same time waits and then finds the work done."""
    with _engine(database) as engine, migration_connection(engine) as connection:
        before = _current(connection)
        stamped = before is None and _is_legacy(connection)
        if stamped:
            _check_baseline(connection)
            _run(connection, command.stamp, BASELINE)
        _run(connection, command.upgrade, revision)
        return Migration(before, _current(connection), stamped)


def downgrade(database: Engine | str, revision: str) -> Migration:
    """Migrate back to `revision` ("base": no tables), for developers and tests: the bot only upgrades."""
    with _engine(database) as engine, migration_connection(engine) as connection:
        before = _current(connection)
        _run(connection, command.downgrade, revision)
        return Migration(before, _current(connection))


def revisions(database: Engine | str) -> Revisions:
    """The revision `database` is at, and the newest one there is."""
    with _engine(database) as engine, engine.connect() as connection:
        return Revisions(_current(connection), head(), _is_legacy(connection))


def current(database: Engine | str) -> str | None:
    return revisions(database).current


def head() -> str:
    return _script().get_current_head()


def run_alembic_env(context) -> None:
    """The body of env.py: migrate the connection `upgrade` hands over (inside its transaction), or, for the alembic
    CLI, the database of `alembic -x database_url=...` or else of alembic.ini's `sqlalchemy.url`."""
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _configure(context, connection=connection, sqlite=connection.dialect.name == "sqlite")
        context.run_migrations()
        return
    url = context.get_x_argument(as_dictionary=True).get("database_url")
    url = url or context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise MigrationError("no database: run `alembic -x database_url=URL ...`, or set sqlalchemy.url in alembic.ini")
    sqlite = make_url(url).get_backend_name() == "sqlite"
    if context.is_offline_mode():
        _configure(context, url=url, sqlite=sqlite, literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    with _engine(url) as engine, migration_connection(engine) as connection:
        _configure(context, connection=connection, sqlite=sqlite)
        context.run_migrations()


def _configure(context, sqlite: bool, **options) -> None:
    # SQLite alters little in place: batch mode rebuilds a table (copy, drop, rename) for the rest.
    context.configure(target_metadata=t.Base.metadata, render_as_batch=sqlite, **options)


@contextmanager
def _engine(database: Engine | str) -> Iterator[Engine]:
    if isinstance(database, Engine):
        yield database
        return
    engine = make_engine(database)
    try:
        yield engine
    finally:
        engine.dispose()


@contextmanager
def migration_connection(engine: Engine) -> Iterator[Connection]:
    """A connection in a transaction that holds the migration lock: BEGIN IMMEDIATE on SQLite (`make_engine`), an
    advisory lock on PostgreSQL. DDL is transactional on both, so a failed migration leaves nothing behind."""
    with engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:
            # A batch migration drops the old copy of a table, which with foreign keys on fails or deletes the rows
            # that reference it. SQLite ignores this pragma inside a transaction: it goes to the driver before BEGIN.
            _pragma(connection, "foreign_keys=OFF")
        try:
            with connection.begin():
                if connection.dialect.name == "postgresql":
                    connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": PG_LOCK_KEY})
                yield connection
                if sqlite and (broken := connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()):
                    raise MigrationError(f"the migration left rows whose foreign key points nowhere: {broken[:5]}")
        finally:
            if sqlite:
                _pragma(connection, "foreign_keys=ON")  # the pooled connection goes back as `make_engine` set it up


def _pragma(connection: Connection, pragma: str) -> None:
    connection.connection.dbapi_connection.execute(f"PRAGMA {pragma}")


def _current(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def _is_legacy(connection: Connection) -> bool:
    names = set(inspect(connection).get_table_names())
    return LEGACY_MARKER in names and VERSION_TABLE not in names


def _check_baseline(connection: Connection) -> None:
    """Refuse to stamp a pre-migration database that lacks a table or column of BASELINE (made by older code)."""
    found = inspect(connection)
    names = set(found.get_table_names())
    missing = []
    for table, columns in _baseline_columns().items():
        have = {column["name"] for column in found.get_columns(table)} if table in names else set()
        missing += [table] if not have else [f"{table}.{column}" for column in columns if column not in have]
    if missing:
        url = connection.engine.url.render_as_string(hide_password=True)
        raise MigrationError(f"{url} was made before migrations and lacks {missing} of revision {BASELINE}")


@cache
def _baseline_columns() -> dict[str, tuple[str, ...]]:
    """Each table of BASELINE with its columns, read from a throwaway in-memory database migrated to it."""
    engine = create_engine("sqlite://")
    try:
        with engine.begin() as connection:
            _run(connection, command.upgrade, BASELINE)
            found = inspect(connection)
            return {
                name: tuple(column["name"] for column in found.get_columns(name))
                for name in found.get_table_names()
                if name != VERSION_TABLE
            }
    finally:
        engine.dispose()


def _run(connection: Connection, fn, revision: str) -> None:
    """An alembic command (upgrade, stamp) on `connection`, inside its transaction (env.py picks it up)."""
    config = _config()
    config.attributes["connection"] = connection
    fn(config, revision)


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("path_separator", "os")
    return config


@cache
def _script() -> ScriptDirectory:
    return ScriptDirectory.from_config(_config())
