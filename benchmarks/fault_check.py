"""The checker of a faults run: drain the bot, then compare its database with what the people received."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import statistics
import time
from collections import Counter, defaultdict
from datetime import datetime
from pathlib import Path

from fault_traffic import ACKS, PLACEHOLDERS, Sent

from bot.devtools.simulate import reply_texts

UNFINISHED = ("pending", "received")
OUTBOX_UNFINISHED = ("queued", "sending", "answered")  # answered: by TwiML, to be confirmed at Twilio


def percentile(values: list[float], share: float) -> float | None:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))] if ordered else None


def read_db(path: Path) -> dict[str, list]:
    """The rows the checker needs; works on the current schema and with outbound statuses sending/twiml."""
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)) as db:
        q = db.execute
        return {
            "messages": q(
                "SELECT id, message_sid, status, twiml_reply, media != '[]', attempts FROM messages"
            ).fetchall(),
            "outbound": q("SELECT id, message_sid, kind, to_addr, body, status, twilio_sid FROM outbound").fetchall(),
            "meals": q(
                "SELECT message_id, count(*) FROM meals WHERE deleted_at IS NULL GROUP BY message_id"
            ).fetchall(),
            "events": q("SELECT at, kind, message_sid, detail FROM events ORDER BY id").fetchall(),
        }


def unfinished(path: Path) -> tuple[int, int, int]:
    """(unfinished messages, unfinished outbox rows, last event id): what the drain waits on."""
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)) as db:
        marks = ",".join("?" * len(UNFINISHED)), ",".join("?" * len(OUTBOX_UNFINISHED))
        messages = db.execute(f"SELECT count(*) FROM messages WHERE status IN ({marks[0]})", UNFINISHED).fetchone()[0]
        outbox = db.execute(f"SELECT count(*) FROM outbound WHERE status IN ({marks[1]})", OUTBOX_UNFINISHED)
        return messages, outbox.fetchone()[0], db.execute("SELECT max(id) FROM events").fetchone()[0] or 0


async def drain(reader, bound_s: float, settle_s: float) -> dict:
    """Wait until nothing is unfinished, or nothing has happened for `settle_s` (stuck: the checker says so).
    `reader`: the store's (`fault_store.reader_for`), with `unfinished()` as this module's function answers."""
    started = last_change = time.monotonic()
    seen, why = None, "bound reached, still progressing"
    while time.monotonic() - started < bound_s:
        now = await asyncio.to_thread(reader.unfinished)
        if now[:2] == (0, 0):
            return {"drained": True, "drain_s": round(time.monotonic() - started, 1), "unfinished": 0, "why": None}
        if now != seen:
            seen, last_change = now, time.monotonic()
        elif time.monotonic() - last_change > settle_s:
            why = f"no progress for {settle_s:.0f} s"
            break
        await asyncio.sleep(0.5)
    elapsed = round(time.monotonic() - started, 1)
    return {"drained": False, "drain_s": elapsed, "unfinished": seen[0] + seen[1], "why": why}


def check(db: dict[str, list], sent: dict[str, Sent], rest: list[dict], photos_have_items: bool) -> dict:
    """Lost, duplicated, gave up… from the database and what the people received (see the module docstring)."""
    messages = {row[1]: row for row in db["messages"]}
    rows = {row[0]: row for row in db["outbound"]}
    delivered: dict[str, Counter] = defaultdict(Counter)  # sid → reply body → times the person got it
    for sid, s in sent.items():
        for text in s.texts or ():
            if text not in ACKS:
                delivered[sid][text] += 1
    # A REST message is its outbox row's by twilio_sid; one a killed bot never marked, by (to, body).
    by_twilio_sid = {row[6]: row for row in rows.values() if row[6]}
    by_text = defaultdict(list)
    for row in rows.values():
        by_text[(row[3], row[4])].append(row)
    sends, stray = Counter(), []
    for message in rest:
        row = by_twilio_sid.get(message["sid"])
        if row is None and (candidates := by_text.get((message["to"], message["body"]))):
            row = min(candidates, key=lambda r: (delivered[r[1]][r[4]], sends[r[0]], r[6] is not None))
        if row is None:
            stray.append(message)
            continue
        sends[row[0]] += 1
        delivered[row[1]][row[4]] += 1
    meals = dict(db["meals"])
    analysed = {e[2] for e in db["events"] if e[1] == "analysed"}
    lost, duplicated, meals_missing, gave_up = [], [], [], []
    for sid, (message_id, _, status, twiml, has_media, attempts) in messages.items():
        kind = sent[sid].kind if sid in sent else ("photo" if has_media else "text")
        replies = {text for text in delivered[sid] if text not in PLACEHOLDERS}
        why = None
        if status in UNFINISHED:
            why = f"still {status}"
        elif status in ("done", "rejected", "failed") and not replies:
            why = f"{status}, no reply delivered"
        if why:  # what it takes to see why, from the database and the client
            lost.append(
                {
                    "sid": sid,
                    "kind": kind,
                    "why": why,
                    "attempts": attempts,
                    "events": [e[1] for e in db["events"] if e[2] == sid],
                    "stored_twiml": reply_texts(twiml) if twiml else [],
                    "outbox": [(r[2], r[5]) for r in rows.values() if r[1] == sid],
                    "client_got": sent[sid].texts if sid in sent else None,
                    "client_attempts": sent[sid].attempts if sid in sent else None,
                }
            )
        extra = sum(n - 1 for n in delivered[sid].values() if n > 1) + (meals.get(message_id, 0) > 1)
        if extra:
            duplicated.append({"sid": sid, "kind": kind, "extra": extra, "delivered": dict(delivered[sid])})
        if status == "done" and not meals.get(message_id) and (kind == "meal" or (has_media and photos_have_items)):
            meals_missing.append({"sid": sid, "kind": kind, "analysed": sid in analysed})
        if status == "failed":
            gave_up.append(sid)
    never = [sid for sid in sent if sid not in messages]
    return {
        "accepted": len(messages),
        "lost": lost,
        "duplicated": duplicated,
        "meals_missing": meals_missing,
        "gave_up": gave_up,
        "never_accepted": never,
        "stray_rest": stray,
        "rest_messages": len(rest),
        "replied": sum(1 for sid in messages if {t for t in delivered[sid] if t not in PLACEHOLDERS}),
    }


def recoveries(faults: list[float], answers: list[tuple[float, float]], by_start: bool) -> list[float | None]:
    """Seconds from each fault to the first 200 after it: one whose attempt began after it (a bot kill: the
    new process answered), or that was answered after it (a lock released)."""
    out = []
    for at in faults:
        later = [done for started, done in answers if (started if by_start else done) > at]
        out.append(round(min(later) - at, 3) if later else None)
    return out


def first_analysed_after(events: list, restarts: list[datetime]) -> list[float | None]:
    analysed = sorted(datetime.fromisoformat(e[0]) for e in events if e[1] == "analysed")
    out = []
    for at in restarts:
        later = [a for a in analysed if a > at]
        out.append(round((later[0] - at).total_seconds(), 3) if later else None)
    return out


def summary(values: list[float | None]) -> dict:
    seen = [v for v in values if v is not None]
    median = round(statistics.median(seen), 3) if seen else None
    return {
        "n": len(values),
        "median_s": median,
        "max_s": max(seen) if seen else None,
        "never": len(values) - len(seen),
    }


def latency(sent: dict[str, Sent]) -> dict:
    values = [s.latency_s for s in sent.values() if s.latency_s is not None]
    return {f"p{p}_s": round(percentile(values, p / 100), 3) if values else None for p in (50, 95, 99)}
