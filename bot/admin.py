"""Operator commands of the bot, one function on `app` each: `python -m bot.admin --help` lists them."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy.engine import make_url

from bot.settings import BotSettings
from bot.storage.sql import migrate as migrations

app = typer.Typer(add_completion=False, help=__doc__, no_args_is_help=True, pretty_exceptions_show_locals=False)

DatabaseUrl = Annotated[
    str | None, typer.Option(help="SQLAlchemy URL of the database; default: the bot's (BOT_DATABASE_URL)")
]


def database(url: str | None) -> str:
    """`url`, or the database the bot itself would use."""
    return url or BotSettings().database_url


def shown(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def fail(message: str) -> typer.Exit:
    typer.echo(message, err=True)
    return typer.Exit(1)


@app.command()
def migrate(
    database_url: DatabaseUrl = None,
    revision: Annotated[str, typer.Option(help="the revision to upgrade to")] = "head",
) -> None:
    """Upgrade the database to the newest schema (an empty one too); the bot also does this when it starts."""
    url = database(database_url)
    try:
        done = migrations.upgrade(url, revision)
    except migrations.MigrationError as error:
        raise fail(f"not migrated: {error}") from error
    if done.stamped:
        before = f"none (tables made before migrations, stamped {migrations.BASELINE})"
    else:
        before = done.before or "none (empty)"
    typer.echo(f"{shown(url)}: {before} → {done.after}")


@app.command()
def db_revision(database_url: DatabaseUrl = None) -> None:
    """Print the schema revision the database is at, and the newest one (head)."""
    url = database(database_url)
    parsed = make_url(url)
    on_file = parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:")
    if on_file and not Path(parsed.database).is_file():  # connecting would create an empty one
        raise fail(f"no database at {parsed.database}")
    state = migrations.revisions(url)
    if state.legacy:
        current = f"none (tables made before migrations: `migrate` stamps them {migrations.BASELINE})"
    else:
        current = state.current or "none (empty)"
    behind = "" if state.current == state.head else "  (run `python -m bot.admin migrate`)"
    typer.echo(f"database: {shown(url)}\ncurrent:  {current}\nhead:     {state.head}{behind}")


@app.command()
def dead_letters(
    database_url: DatabaseUrl = None,
    limit: Annotated[int, typer.Option(min=1, help="show at most this many of each")] = 50,
) -> None:
    """What the bot gave up on, newest first: replies the Messages API never took (after the last retry), and
    messages whose analysis failed every time (the person was told); and deleted people's media Twilio still
    keeps because deleting it failed (retried until it works). Each with its last error."""
    from bot.storage.sql.store import SqlStore

    store = SqlStore(database(database_url))
    try:
        replies, messages = store.dead_letters(limit), store.failed_messages(limit)
        media = [row for row in store.media_deletions() if row["attempts"] > 1]
    finally:
        store.dispose()
    typer.echo(f"replies never sent: {len(replies)}")
    for row in replies:
        typer.echo(
            f"  outbox {row['id']}  {row['created_at']:%Y-%m-%d %H:%M}  message {row['message_sid']}  user {row['user_id']}"
            f"  {row['kind']}  attempts {row['attempts']}  {row['last_error']}"
        )
    typer.echo(f"messages given up on: {len(messages)}")
    for row in messages:
        typer.echo(
            f"  {row['created_at']:%Y-%m-%d %H:%M}  message {row['message_sid']}  user {row['user_id']}"
            f"  attempts {row['attempts']}  {row['last_error']}"
        )

    typer.echo(f"Twilio media deletions retried: {len(media)}")
    for row in media:
        typer.echo(f"  message {row['message_sid']}  since {row['created_at']:%Y-%m-%d %H:%M}  {row['last_error']}")


if __name__ == "__main__":
    app()
