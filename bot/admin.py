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
    str | None,
    typer.Option(help="SQLAlchemy or dynamodb:// URL of the database; default: the bot's (BOT_DATABASE_URL)"),
]


def database(url: str | None) -> str:
    """`url`, or the database the bot itself would use."""
    return url or BotSettings().database_url


def shown(url: str) -> str:
    from bot.storage.factory import shown_url

    return shown_url(url)


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
def create_tables(database_url: DatabaseUrl = None) -> None:
    """Create the DynamoDB table of a `dynamodb://` URL with its indexes and TTL, unless it exists (then only TTL
    is checked): run once before the bot starts on DynamoDB. A SQL database is made by `migrate`."""
    url = database(database_url)
    if not url.startswith("dynamodb://"):
        raise fail(f"{shown(url)} is not a dynamodb:// URL: a SQL database is made by `python -m bot.admin migrate`")
    from bot.storage.dynamo.store import DynamoStore
    from bot.storage.dynamo.table import INDEXES, TTL_ATTRIBUTE

    store = DynamoStore(url)
    try:
        created = store.create_tables()
        store.create_schema()  # what the bot checks when it starts
    finally:
        store.dispose()
    what = "created" if created else "exists already:"
    typer.echo(f"table {store.table.name} {what} indexes {', '.join(INDEXES)}, TTL on {TTL_ATTRIBUTE}")


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
    from bot.storage.factory import make_store

    store = make_store(database(database_url))
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


def _person(store, who: str):
    """The user `who` names: a database id, or a phone number (E.164, 'whatsapp:' prefix allowed)."""
    if who.isdigit():
        try:
            return store.get_user(int(who))
        except KeyError:
            raise fail(f"no user with id {who}") from None
    phone = who.removeprefix("whatsapp:")
    # people are kept under the address they write from: "+1555..." over SMS, "whatsapp:+1555..." on WhatsApp
    user = store.user_by_phone(phone) or store.user_by_phone(f"whatsapp:{phone}")
    if user is None:
        raise fail(f"no user with phone {phone} (expected a database id or an E.164 number such as +15550001)")
    return user


def _usd(value: float) -> str:
    return f"${value:,.4f}"


@app.command()
def user(
    who: Annotated[str, typer.Argument(help="the person's database id or phone number")],
    database_url: DatabaseUrl = None,
) -> None:
    """A person's tier, subscription, and usage and cost today and this month (their local day and month)."""
    from bot.billing.changes import Changes
    from bot.ledger import Ledger, period_keys
    from bot.storage.factory import make_store
    from bot.storage.records import utcnow

    settings = BotSettings()
    store = make_store(database(database_url))
    try:
        person, now = _person(store, who), utcnow()
        sub = store.subscription(person.id)
        entitled = Changes(settings, store).entitled(sub, now)
        ledger = Ledger(store, settings)
        keys = period_keys(now, person.timezone)
        lines = [f"user {person.id}  tier {person.tier}  timezone {person.timezone}  opted out {person.opted_out}"]
        if sub is None:
            lines.append("subscription: none")
        else:
            lines.append(
                f"subscription: {sub.tier} {sub.status}  period ends {sub.current_period_end}  cancel at {sub.cancel_at}"
                f"  past due since {sub.past_due_since}  customer {sub.stripe_customer_id}"
                f"  subscription {sub.stripe_subscription_id}"
                + (f"  comped {sub.comp_tier} ({sub.comp_reason})" if sub.comp_tier else "")
            )
        lines.append(
            f"entitled now: {entitled.tier} ({entitled.why}{f', until {entitled.until}' if entitled.until else ''})"
        )
        for period in ("day", "month"):
            used, cost = store.usage(person.id, period, keys[period]), ledger.costs(person, period, keys[period])
            counts = "  ".join(f"{name} {used[name]}" for name in USAGE_SHOWN)
            lines.append(
                f"{period} {keys[period]}: {counts}  cost {_usd(cost.total_usd)} (AI {_usd(cost.ai_usd)}, vision "
                f"{_usd(cost.vision_usd)}, messaging {_usd(cost.messaging_usd)})"
            )
        lines.append(f"daily cost cap: {_usd(ledger.limits(person).daily_cost_cap_usd)}")
    finally:
        store.dispose()
    typer.echo("\n".join(lines))


USAGE_SHOWN = ("messages", "photos", "ai_conversations", "ai_input_tokens", "ai_output_tokens", "meal_plans_generated")


@app.command()
def set_tier(
    who: Annotated[str, typer.Argument(help="the person's database id or phone number")],
    tier: Annotated[str, typer.Argument(help="a tier to grant whatever Stripe says (comped), or 'stripe' to end that")],
    reason: Annotated[str, typer.Option(help="why (kept in the event log)")],
    database_url: DatabaseUrl = None,
) -> None:
    """Comp a person: grant a tier by hand. Stripe's events keep updating their subscription but never this tier,
    until `set-tier WHO stripe` hands it back to Stripe. Logged as a `billing` event; the person is told."""
    from dataclasses import replace

    from bot.billing.changes import Changes
    from bot.storage.factory import make_store
    from bot.storage.protocols import SubscriptionRecord
    from bot.storage.records import utcnow

    settings = BotSettings()
    if tier != "stripe" and tier not in settings.tiers:
        raise fail(f"unknown tier {tier!r}: expected one of {sorted(settings.tiers)} or 'stripe'")
    store = make_store(database(database_url))
    try:
        person, now = _person(store, who), utcnow()
        with store.unit_of_work():
            sub = store.subscription(person.id) or SubscriptionRecord(person.id, settings.default_tier, "none")
            comp = (None, None) if tier == "stripe" else (tier, reason)
            after = replace(sub, comp_tier=comp[0], comp_reason=comp[1])
            source = {"by": "admin", "reason": reason}
            key = f"admin-{person.id}-{now:%Y%m%dT%H%M%S}"
            applied = Changes(settings, store).apply(person, after, now, key, source, send=False)
    finally:
        store.dispose()
    told = "; the person is told" if applied.notices else ""
    typer.echo(
        f"user {person.id}: {applied.tier_before} → {applied.tier} ({'by Stripe' if tier == 'stripe' else 'comped'}){told}"
    )


@app.command()
def over_cap(database_url: DatabaseUrl = None) -> None:
    """People whose cost today (their local day) has reached their tier's daily cost cap."""
    from datetime import timedelta

    from bot.ledger import Ledger, period_keys
    from bot.storage.factory import make_store
    from bot.storage.records import utcnow

    settings = BotSettings()
    store = make_store(database(database_url))
    now = utcnow()
    try:
        ledger, found = Ledger(store, settings), []
        since = (now - timedelta(days=1)).strftime("%Y-%m-%d")  # every timezone's today is on or after it
        for user_id, day in store.day_usage_keys(since):
            person = store.get_user(user_id)
            if day != period_keys(now, person.timezone)["day"]:
                continue
            cost, cap = ledger.costs(person, "day", day).total_usd, ledger.limits(person).daily_cost_cap_usd
            if cost >= cap:
                found.append(f"  user {person.id}  {person.tier}  {day}  cost {_usd(cost)}  cap {_usd(cap)}")
    finally:
        store.dispose()
    typer.echo(f"over their daily cost cap: {len(found)}")
    for line in found:
        typer.echo(line)


@app.command()
def link_clicks(
    since: Annotated[str | None, typer.Option(help="from this UTC date on (YYYY-MM-DD); default: every click")] = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Grocery-link clicks through our /r/{id} redirect, per provider and per person (chat-app previews apart)."""
    from collections import Counter
    from datetime import datetime

    from bot.storage.factory import make_store

    try:
        start = datetime.strptime(since, "%Y-%m-%d") if since else None
    except ValueError:
        raise fail(f"--since {since!r} is not a date like 2026-12-01") from None
    store = make_store(database(database_url))
    try:
        events = store.events_of_kind(("link_click", "link_preview"), start)
    finally:
        store.dispose()
    clicks = [e for e in events if e.kind == "link_click"]
    providers = Counter(e.detail.get("provider", "?") for e in clicks)
    previews = Counter(e.detail.get("provider", "?") for e in events if e.kind == "link_preview")
    people = Counter((e.user_id, e.detail.get("provider", "?")) for e in clicks)
    typer.echo(
        f"link clicks{f' since {since}' if since else ''}: {len(clicks)} (and {sum(previews.values())} previews)"
    )
    for provider in sorted(providers.keys() | previews.keys()):
        plans = len({e.detail.get("plan_id") for e in clicks if e.detail.get("provider") == provider})
        typer.echo(f"  {provider}: {providers[provider]} clicks on {plans} plans, {previews[provider]} previews")
    for (user_id, provider), count in sorted(people.items(), key=lambda kv: (-kv[1], kv[0][0] or 0, kv[0][1])):
        typer.echo(f"  user {user_id}  {provider}  {count}")


# --- operations (bot/ops): the cost report and the anonymized analytics export ---
@app.command()
def costs(
    day: Annotated[
        str | None, typer.Option(help="the day (YYYY-MM-DD, people's local day); default: today (UTC)")
    ] = None,
    database_url: DatabaseUrl = None,
) -> None:
    """What each person cost us on a day, per service (AI, vision, messaging), with totals per service and tier,
    and who passed the alert thresholds (BOT_COST_ALERT_PERSON_USD, BOT_COST_ALERT_DAY_USD). People by id only."""
    from datetime import date

    from bot.ledger import Ledger
    from bot.ops.costs import day_costs, report
    from bot.storage.factory import make_store
    from bot.storage.records import utcnow

    try:
        key = date.fromisoformat(day).isoformat() if day else utcnow().strftime("%Y-%m-%d")
    except ValueError:
        raise fail(f"--day {day!r} is not a date like 2026-12-01") from None
    settings = BotSettings()
    store = make_store(database(database_url))
    try:
        lines = report(day_costs(store, Ledger(store, settings), key), settings, key)
    finally:
        store.dispose()
    typer.echo("\n".join(lines))


@app.command()
def analytics_export(
    out: Annotated[Path, typer.Option(help="the JSON-lines file to write (replaced whole at the end)")],
    database_url: DatabaseUrl = None,
) -> None:
    """Anonymized analytics: one line per person (age band, sex as given, goal, tier, stage...) and per person-week
    of meals (counts, kcal bands, macro shares, meal hours, food groups). Person ids are HMAC-SHA256 under
    BOT_ANALYTICS_HASH_KEY (refused without one); no phone number, name, exact date or free text."""
    from bot.ops.analytics import AnalyticsKeyMissing, export
    from bot.personal.questions import Questions
    from bot.storage.factory import make_store
    from bot.storage.records import utcnow

    settings = BotSettings()
    store = make_store(database(database_url))
    try:
        questions, now = Questions(store), utcnow()
        done = export(store, settings, out, lambda user_id: questions.stage(store.get_user(user_id), now))
    except AnalyticsKeyMissing as error:
        raise fail(f"not exported: {error}") from error
    finally:
        store.dispose()
    typer.echo(f"{out}: {done.people} people, {done.weeks} person-weeks")


# --- end of operations ---

if __name__ == "__main__":
    app()
