"""Does the bot lose or duplicate a reply when things break? Crash and load runs, on 127.0.0.1 only.

    python benchmarks/faults.py crash                    # ~3–4 min: 50 people, the bot SIGKILLed ≥ 20 times,
                                                         # the model server killed, the database held locked
    python benchmarks/faults.py crash --people 2 --kills 2 --duration 15     # a smoke run
    python benchmarks/faults.py load --duration 60 --pressure                # 200 people; then REST sends failing
    python benchmarks/faults.py load --serving-url http://127.0.0.1:3000     # against a real model server
    python benchmarks/faults.py crash --replicas 2 --queue sqs              # two bots sharing the store and SQS
    python benchmarks/faults.py crash --replicas 2 --queue sqs --store 'dynamodb://us-east-1?table=faults'
                                            # ... on DynamoDB (a local moto server the run starts; frozen/throttled)

The bot runs as `python -m bot` (a subprocess we SIGKILL and restart) with a SQLite file in a work folder;
the model server is the /analyze stand-in in a subprocess (`bot.devtools.model_standin_server`, random delay
per photo so some take the slow path) unless --serving-url is given; Twilio is a LOCAL STAND-IN in this
process (media host + Messages API, which records every REST message). Simulated people send signed webhooks
one at a time — photos, typed meals, commands — and re-send a webhook that got no answer with the same
MessageSid, as Twilio does. After the traffic the bot drains; then the database is checked against what the
people actually received (TwiML answers and REST messages): `lost` and `duplicated` must be 0.
"""

from __future__ import annotations

import asyncio
import json
import random
import tempfile
import time
from collections import Counter
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer
from fault_check import check, drain, first_analysed_after, latency, recoveries, summary
from fault_rig import Knobs, Run, kill_bot, kill_model, lock_db, spread
from fault_store import reader_for
from fault_traffic import Sent, photo_bytes


def span(text: str) -> tuple[float, float]:
    low, _, high = text.partition(",")
    return float(low), float(high or low)


def write_report(report: dict, sent: dict[str, Sent], out: Path | None, workdir: Path) -> Path:
    """The JSON report, and beside the database every webhook as the client saw it (client.jsonl)."""
    out = out or workdir / "faults.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2, default=str) + "\n")
    (workdir / "client.jsonl").write_text("".join(json.dumps(asdict(s)) + "\n" for s in sent.values()))
    return out


app = typer.Typer(add_completion=False, help=__doc__.split("\n\n")[0])


@app.command()
def crash(
    people: Annotated[int, typer.Option(help="simulated people, each sending one message at a time")] = 50,
    duration: Annotated[float, typer.Option(help="seconds of traffic and faults")] = 120.0,
    think: Annotated[str, typer.Option(help="seconds a person waits after an answer: MIN,MAX")] = "2,6",
    kills: Annotated[int, typer.Option(help="the least SIGKILLs of the bot to make (the run fails below)")] = 20,
    kill_after: Annotated[str, typer.Option(help="seconds the bot serves between start and SIGKILL: MIN,MAX")] = "1,5",
    model_kills: Annotated[int, typer.Option(help="times the model server stand-in is killed")] = 4,
    model_down: Annotated[str, typer.Option(help="seconds it stays down: MIN,MAX")] = "2,5",
    model_delay: Annotated[str, typer.Option(help="seconds each /analyze takes: MIN,MAX")] = "0.2,1.5",
    db_locks: Annotated[
        int,
        typer.Option(help="store faults: SQLite held locked (BEGIN EXCLUSIVE); DynamoDB frozen, throttled in turn"),
    ] = 4,
    db_hold: Annotated[str, typer.Option(help="seconds each store fault lasts: MIN,MAX")] = "1,4",
    retry_budget: Annotated[int, typer.Option(help="attempts per webhook before the client gives up")] = 40,
    drain_s: Annotated[float, typer.Option(help="at most this long for the bot to finish after the traffic")] = 90.0,
    photo: Annotated[Path | None, typer.Option(help="JPEG to send (default: a 1600×1200 photo)")] = None,
    workdir: Annotated[Path | None, typer.Option(help="where the database, logs and report go (default: temp)")] = None,
    out: Annotated[Path | None, typer.Option(help="the JSON report (default: WORKDIR/faults.json)")] = None,
    seed: Annotated[int, typer.Option(help="seed of every random choice")] = 1,
    replicas: Annotated[
        int, typer.Option(min=1, help="bot processes sharing the store (each attempt: a random one)")
    ] = 1,
    queue: Annotated[
        str, typer.Option(help="BOT_WORK_QUEUE of the bots: inprocess, or sqs (on a local moto server)")
    ] = "inprocess",
    store: Annotated[
        str | None,
        typer.Option(
            help="BOT_DATABASE_URL of the bots (default: sqlite:///WORKDIR/bot.db); a dynamodb:// one without "
            "endpoint is served by a local DynamoDB-compatible server the run starts"
        ),
    ] = None,
    lease_s: Annotated[
        float, typer.Option(help="BOT_LEASE_S: a dead worker's message or reply is retried after")
    ] = 4.0,
) -> None:
    """SIGKILL the bot, kill the model server, lock the database under traffic; then check nothing was lost."""
    rng = random.Random(seed)
    workdir = workdir or Path(tempfile.mkdtemp(prefix="bot-faults-"))
    knobs = Knobs(lease_s=lease_s)
    if queue not in ("inprocess", "sqs"):
        raise typer.BadParameter(f"--queue {queue!r}: inprocess or sqs")
    try:
        run = Run(workdir, None, model_delay, knobs, replicas=replicas, queue=queue, store_url=store)
    except ValueError as error:
        raise typer.BadParameter(str(error)) from error
    if run.db is None and run.dynamo is None:  # the checker and the store faults know SQLite and DynamoDB
        raise typer.BadParameter(f"--store {store!r}: a sqlite:/// file or a dynamodb:// table")

    async def go() -> tuple[dict, dict[str, Sent]]:
        async with run:
            traffic = run.traffic(photo_bytes(photo), retry_budget)
            start = time.monotonic()
            until = start + duration
            killed, restarts, released = [], [], []
            people_done = asyncio.gather(
                *(traffic.person(i, until, span(think), (0.4, 0.3, 0.3), seed) for i in range(people))
            )
            await asyncio.gather(
                people_done,
                kill_bot(run, until, span(kill_after), rng, killed),
                kill_model(run, spread(model_kills, start, duration, rng), span(model_down), rng, restarts),
                lock_db(run, spread(db_locks, start, duration, rng), span(db_hold), rng, released),
            )
            reader = reader_for(run.store_url, run.db)
            try:
                drained = await drain(reader, drain_s, settle_s=knobs.settle_s())
                await run.stop_bots()  # nothing changes under the checker; a DynamoDB table lives on in its server
                db = await asyncio.to_thread(reader.read)
            finally:
                reader.close()
        verdict = check(db, traffic.sent, list(run.twilio.messages), photos_have_items=True)
        logs = [str(bot.log) for bot in run.bots]
        return {
            "run": {"people": people, "duration_s": duration, "seed": seed, "workdir": str(workdir)}
            | {"replicas": replicas, "queue": queue, "store": run.store_url, "lease_s": lease_s}
            | {"bot_log": logs[0] if len(logs) == 1 else logs, "database": str(run.db or run.store_url), **drained},
            "sent": len(traffic.sent),
            "client_retries": sum(s.attempts - 1 for s in traffic.sent.values()),
            "client_gave_up": sum(s.client_gave_up for s in traffic.sent.values()),
            "bot_kills": len(killed),
            "bot_failed_starts": run.failed_starts,
            "model_kills": len(restarts),
            "db_locks": len(released),
            "store_faults": run.store_faults or [f"locked {len(released)} times"],
            **verdict,
            "latency": latency(traffic.sent),
            "recovery": {
                "bot_kill": summary(recoveries(killed, traffic.answers, by_start=True)),
                "model_restart": summary(first_analysed_after(db["events"], restarts)),
                "db_lock": summary(recoveries(released, traffic.answers, by_start=False)),
            },
        }, traffic.sent

    report, sent = asyncio.run(go())
    path = write_report(report, sent, out, workdir)
    print_crash(report, path)
    failed = report["lost"] or report["duplicated"] or report["meals_missing"] or report["bot_kills"] < kills
    raise typer.Exit(1 if failed else 0)


def _n(values) -> int:
    return values if isinstance(values, int) else len(values)


def _recovery(r: dict) -> str:
    if r["median_s"] is None:
        return f"none observed (n={r['n']})"
    return f"median {r['median_s']:.2f} s, max {r['max_s']:.2f} s (n={r['n']}, never {r['never']})"


def print_crash(r: dict, path: Path) -> None:
    lat = r["latency"]
    lost_by = Counter(f"{x['kind']}: {x['why']}" for x in r["lost"])
    rows = [
        ("messages sent", r["sent"], ""),
        ("accepted", r["accepted"], f"never accepted {_n(r['never_accepted'])}, client gave up {r['client_gave_up']}"),
        ("client retries", r["client_retries"], "same MessageSid, after no answer / 5xx"),
        ("bot SIGKILLs", r["bot_kills"], f"starts that never got ready: {r['bot_failed_starts']}"),
        ("model-server kills", r["model_kills"], ""),
        ("store faults", r["db_locks"], ", ".join(r.get("store_faults", []))),
        ("lost", _n(r["lost"]), "MUST BE 0  " + ", ".join(f"{k} ×{v}" for k, v in lost_by.most_common())),
        ("duplicated", _n(r["duplicated"]), "MUST BE 0"),
        ("meals missing", _n(r["meals_missing"]), "done, but no meal logged"),
        ("gave up (told)", _n(r["gave_up"]), "status failed"),
        ("stray REST messages", _n(r["stray_rest"]), "match no outbox row"),
        ("webhook latency", f"{lat['p50_s']} / {lat['p95_s']} / {lat['p99_s']} s", "p50 / p95 / p99 of answered"),
        ("recovery: bot kill", _recovery(r["recovery"]["bot_kill"]), "→ first 200 from the new process"),
        ("recovery: model restart", _recovery(r["recovery"]["model_restart"]), "→ first analysed photo"),
        ("recovery: store fault", _recovery(r["recovery"]["db_lock"]), "its end → first 200"),
    ]
    run = r["run"]
    drained = "drained" if run["drained"] else f"NOT drained ({run['unfinished']} unfinished, {run['why']})"
    setup = f"{run.get('replicas', 1)} bot(s), work queue {run.get('queue', 'inprocess')}"
    typer.echo(
        f"faults crash: {run['people']} people, {run['duration_s']:.0f} s, {setup}; {drained} in {run['drain_s']} s"
    )
    for name, value, note in rows:
        typer.echo(f"{name:<24} {value!s:<44} {note}")
    for example in r["lost"][:5]:
        typer.echo(f"  lost {example}")
    for example in r["duplicated"][:5]:
        typer.echo(f"  duplicated {example}")
    typer.echo(f"report: {path}\nbot log: {run['bot_log']}")


@app.command()
def load(
    people: Annotated[int, typer.Option(help="simulated people")] = 200,
    duration: Annotated[float, typer.Option(help="seconds of traffic")] = 60.0,
    every: Annotated[str, typer.Option(help="seconds between one person's messages: MIN,MAX")] = "10,30",
    serving_url: Annotated[str | None, typer.Option(help="a real model server (default: the stand-in)")] = None,
    model_delay: Annotated[str, typer.Option(help="seconds each stand-in /analyze takes: MIN,MAX")] = "0.1,3",
    reply_budget: Annotated[float, typer.Option(help="BOT_REPLY_BUDGET_S: slower photos are answered by REST")] = 2.0,
    pressure: Annotated[bool, typer.Option(help="then again with the Messages API failing --fail-share")] = False,
    fail_share: Annotated[float, typer.Option(help="share of REST sends the stand-in answers with a 500")] = 0.3,
    drain_s: Annotated[float, typer.Option(help="at most this long for the bot to finish after the traffic")] = 60.0,
    photo: Annotated[Path | None, typer.Option(help="JPEG to send (default: a 1600×1200 photo)")] = None,
    workdir: Annotated[
        Path | None, typer.Option(help="where databases, logs and the report go (default: temp)")
    ] = None,
    out: Annotated[Path | None, typer.Option(help="the JSON report (default: WORKDIR/faults.json)")] = None,
    seed: Annotated[int, typer.Option(help="seed of every random choice")] = 1,
) -> None:
    """A realistic mix (40 % photos, 30 % typed meals, 30 % commands) from many people; no faults."""
    workdir = workdir or Path(tempfile.mkdtemp(prefix="bot-load-"))
    knobs = Knobs(reply_budget_s=reply_budget)
    image = photo_bytes(photo)

    async def go(name: str, share: float) -> dict:
        run = Run(workdir / name, serving_url, model_delay, knobs, fail_share=share)
        async with run:
            traffic = run.traffic(image, retry_budget=5)
            until = time.monotonic() + duration
            await asyncio.gather(*(traffic.person(i, until, span(every), (0.4, 0.3, 0.3), seed) for i in range(people)))
            reader = reader_for(run.store_url, run.db)
            drained = await drain(reader, drain_s, settle_s=knobs.settle_s())
        verdict = check(reader.read(), traffic.sent, list(run.twilio.messages), photos_have_items=False)
        return {
            "sent": len(traffic.sent),
            "errors": sum(len(s.failures) for s in traffic.sent.values()),
            "first_error": next((s.failures[0] for s in traffic.sent.values() if s.failures), None),
            "rest_failed_by_standin": run.twilio.failed,
            "latency": latency(traffic.sent),
            **drained,
            **{k: v if isinstance(v, int) else len(v) for k, v in verdict.items()},
            "bot_log": str(run.log("bot")),
        }

    runs = {"normal": asyncio.run(go("normal", 0.0))}
    if pressure:
        runs["pressure"] = asyncio.run(go("pressure", fail_share))
    report = {"people": people, "duration_s": duration, "serving": serving_url or "stand-in", "runs": runs}
    path = out or workdir / "faults.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    print_load(report, path)
    bad = any(r["errors"] or r["lost"] or r["duplicated"] for r in runs.values())
    raise typer.Exit(1 if bad else 0)


def print_load(report: dict, path: Path) -> None:
    runs = report["runs"]
    typer.echo(f"faults load: {report['people']} people, {report['duration_s']:.0f} s, model: {report['serving']}")
    typer.echo(f"{'':<26}" + "".join(f"{name:>14}" for name in runs))
    for label, get in (
        ("messages sent", lambda r: r["sent"]),
        ("errors (must be 0)", lambda r: r["errors"]),
        ("latency p50 s", lambda r: r["latency"]["p50_s"]),
        ("latency p95 s", lambda r: r["latency"]["p95_s"]),
        ("latency p99 s", lambda r: r["latency"]["p99_s"]),
        ("replies delivered", lambda r: f"{r['replied']}/{r['accepted']}"),
        ("REST messages received", lambda r: r["rest_messages"]),
        ("REST sends failed (500)", lambda r: r["rest_failed_by_standin"]),
        ("lost (must be 0)", lambda r: r["lost"]),
        ("duplicated (must be 0)", lambda r: r["duplicated"]),
        ("gave up (told)", lambda r: r["gave_up"]),
        ("drain s", lambda r: r["drain_s"]),
    ):
        typer.echo(f"{label:<26}" + "".join(f"{get(r)!s:>14}" for r in runs.values()))
    for name, r in runs.items():
        if r["first_error"]:
            typer.echo(f"{name}: first error {r['first_error']}")
    typer.echo(f"report: {path}")


if __name__ == "__main__":
    app()
