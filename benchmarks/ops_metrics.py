"""What a `/metrics` scrape costs the store: the gauges (`bot.ops.gauges.StoreGauges`) read each active person's
ledger, so the time grows with the people active today and this month.

    python -m benchmarks.ops_metrics                       # 100, 1,000 and 5,000 people active today, SQLite
    python -m benchmarks.ops_metrics --people 20000 --scrapes 3

Each person gets a day of usage (messages, photos, AI cost) and two delivered replies; then the registry is
collected `--scrapes` times with the cache off and the median is reported, with the day's cost total as a check.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(add_completion=False, help=__doc__, rich_markup_mode=None)


def _fill(store, settings, people: int) -> None:
    from bot.ledger import Ledger
    from bot.storage.records import utcnow

    ledger, now = Ledger(store, settings), utcnow()
    for i in range(people):
        with store.unit_of_work():
            user = store.get_or_create_user(f"+1555{i:07d}", "free", "UTC")
            ledger.admit_message(user, now)
            ledger.reserve_photos(user, 1, now)
            ledger.record_ai_usage(user, 200, 80, 0.0002, now)
            for kind in ("result", "reply"):
                lease = now + timedelta(seconds=30)
                row = store.enqueue_outbound(
                    f"SMbench{i}", kind, f"whatsapp:+1555{i:07d}", "whatsapp:+1", "hi", now, lease, user.id
                )
                store.mark_twiml([row.id])


@app.command()
def main(
    people: Annotated[list[int], typer.Option(help="people active today (repeatable)")] = [100, 1000, 5000],  # noqa: B006
    scrapes: Annotated[int, typer.Option(min=1, help="scrapes timed per size")] = 5,
) -> None:
    from prometheus_client import generate_latest

    from bot.ops.gauges import StoreGauges
    from bot.ops.metrics import BotMetrics
    from bot.settings import BotSettings
    from bot.storage.sql.store import SqlStore

    typer.echo("| people active today | scrape (median) | exposition | cost today (check) |")
    typer.echo("|---|---|---|---|")
    for count in people:
        with tempfile.TemporaryDirectory() as tmp:
            settings = BotSettings(metrics_store_cache_s=0, database_url=f"sqlite:///{Path(tmp) / 'bench.db'}")
            store = SqlStore(settings.database_url)
            store.create_schema()
            _fill(store, settings, count)
            metrics = BotMetrics()
            metrics.registry.register(StoreGauges(store, settings))
            times, text = [], b""
            for _ in range(scrapes):
                started = time.perf_counter()
                text = generate_latest(metrics.registry)
                times.append(time.perf_counter() - started)
            cost = sum(
                s.value
                for family in metrics.registry.collect()
                if family.name == "bot_cost_usd"
                for s in family.samples
                if s.labels["period"] == "day"
            )
            store.dispose()
        typer.echo(f"| {count:,} | {statistics.median(times) * 1000:,.0f} ms | {len(text):,} bytes | ${cost:,.4f} |")


if __name__ == "__main__":
    app()
