"""Scheduled messages on DynamoDB (the jobs of `CalendarStore`): each sent once, whatever restarts or runs twice.

A job is `USER#<id>/JOB#<key>` in its person's partition (their jobs, and the re-plan's cancel by key prefix, are
one consistent Query). `JOBKEY#<key>/JOBKEY` claims the key for the whole table, as SQL's unique column does:
written with the job and `JOB#<id>/JOB` (the pointer the sender finds it by) in one transaction under
`attribute_not_exists`, so a job is scheduled once whoever races. While pending or sending a job is on GSI2
`DUE#JOB`, sorted by a time no earlier than it may be claimed (its due time, or its lease's end); a claim is a
conditional update on the state read (pending and due, or sending, under no live lease), so two schedulers never
both take one, and a lease that ran out lets the next claim take it again.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from datetime import datetime

from bot.storage.dynamo.base import DynamoBase
from bot.storage.dynamo.people import user_pk
from bot.storage.dynamo.table import dumps, encode, parse_when, when
from bot.storage.records import JobRecord

PENDING, SENDING, CANCELLED = "pending", "sending", "cancelled"
JOB_STATUSES = (PENDING, SENDING, "sent", "failed", "skipped", "unknown", CANCELLED)
_FINISH = frozenset({"twilio_sid", "due_at", "last_error", "lease_until"})
_LEASE_FREE = "(attribute_not_exists(#lease_until) OR #lease_until < :now)"


def _job(item: dict, unknown_since: datetime | None = None) -> JobRecord:
    return JobRecord(
        int(item["id"]),
        item["key"],
        int(item["user_id"]),
        item["kind"],
        parse_when(item["due_at"]),
        dict(json.loads(item.get("payload", "{}"))),
        item["status"],
        int(item.get("attempts", 0)),
        item.get("body"),
        item.get("via"),
        item.get("twilio_sid"),
        unknown_since,
    )


def _due_keys(status: str, due_at: str | None, lease_until: str | None, now: str) -> dict:
    """GSI2 keys of a job in `status`: on `DUE#JOB` no earlier than it may be claimed, or off the list (None)."""
    if status == PENDING:
        return {"GSI2PK": "DUE#JOB", "GSI2SK": max([t for t in (due_at, lease_until) if t], default=now)}
    if status == SENDING:
        return {"GSI2PK": "DUE#JOB", "GSI2SK": lease_until or now}
    return {"GSI2PK": None, "GSI2SK": None}


def _changes(changes: dict) -> tuple[str, dict, dict]:
    """`SET`/`REMOVE` of `changes` (None removes), every attribute by a name (some are reserved words)."""
    sets = [f"#{k} = :{k}" for k, v in changes.items() if v is not None]
    removes = [f"#{k}" for k, v in changes.items() if v is None]
    expression = ("SET " + ", ".join(sets) if sets else "") + (" REMOVE " + ", ".join(removes) if removes else "")
    return expression.strip(), {f"#{k}": k for k in changes}, {k: v for k, v in changes.items() if v is not None}


def _names_in(condition: str) -> dict:
    return {f"#{k}": k for k in ("status", "lease_until", "due_at") if f"#{k}" in condition}


class DynamoJobs(DynamoBase):
    def _job_item(self, job_id: int) -> dict | None:
        pointer = self.table.get(f"JOB#{job_id}", "JOB")
        if pointer is None:
            return None
        return self.table.get(user_pk(int(pointer["user_id"])), f"JOB#{pointer['key']}")

    def _update_job(self, item: dict, changes: dict, condition: str, **seen) -> dict | None:
        expression, names, named = _changes(changes)
        return self.table.update(
            item["PK"], item["SK"], expression, condition, {**names, **_names_in(condition)}, **named, **seen
        )

    def schedule_job(self, key: str, user_id: int, kind: str, due_at: datetime, payload: dict, now: datetime) -> bool:
        for _ in range(8):
            claim = self.table.get(f"JOBKEY#{key}", "JOBKEY")
            if claim is None:
                if self._add_job(key, user_id, kind, due_at, payload, now):
                    return True
                continue  # another scheduler added it first: look at theirs
            item = self.table.get(user_pk(int(claim["user_id"])), f"JOB#{key}")
            if item is None:  # the claim of a job whose delete died midway: free the key, then add it afresh
                self.table.delete(f"JOBKEY#{key}", "JOBKEY", "job_id = :j", j=int(claim["job_id"]))
                continue
            moved = item["due_at"] != when(due_at) or json.loads(item.get("payload", "{}")) != payload
            if item["status"] not in (PENDING, CANCELLED) or not moved:
                return False  # one already sent (or being sent) stays as it is
            # a re-planned week: the same job, at its new time or with its new dish
            changes = {
                "due_at": when(due_at),
                "payload": dumps(dict(payload)),
                "status": PENDING,
                "updated_at": when(now),
                **_due_keys(PENDING, when(due_at), item.get("lease_until"), when(now)),
            }
            condition = "#status = :seen AND #due_at = :seen_due"
            if self._update_job(item, changes, condition, seen=item["status"], seen_due=item["due_at"]) is not None:
                return False
        raise RuntimeError(f"could not schedule job {key!r}: it kept changing")

    def _add_job(self, key, user_id, kind, due_at, payload, now) -> bool:
        job_id = self.table.next_id("scheduled_job")
        item = {
            "PK": user_pk(user_id),
            "SK": f"JOB#{key}",
            "type": "scheduled_job",
            "id": job_id,
            "key": key,
            "user_id": user_id,
            "kind": kind,
            "due_at": when(due_at),
            "payload": dumps(dict(payload)),
            "status": PENDING,
            "attempts": 0,
            "created_at": when(now),
            "updated_at": when(now),
            **_due_keys(PENDING, when(due_at), None, when(now)),
        }
        claim = {"PK": f"JOBKEY#{key}", "SK": "JOBKEY", "type": "job_key", "user_id": user_id, "job_id": job_id}
        pointer = {"PK": f"JOB#{job_id}", "SK": "JOB", "type": "job_pointer", "user_id": user_id, "key": key}
        # the job's own put is unconditional: the key's claim decides, and a job left without one (a delete that
        # died midway) is replaced
        return self.table.transact(
            [
                {"Put": {"Item": encode(claim), "ConditionExpression": "attribute_not_exists(PK)"}},
                {"Put": {"Item": encode(item)}},
                {"Put": {"Item": encode(pointer)}},
            ]
        )

    def cancel_jobs(self, user_id: int, prefix: str, keep: Collection[str], now: datetime) -> int:
        cancelled = 0
        for item in self.table.query(user_pk(user_id), sk_prefix=f"JOB#{prefix}"):
            if item["status"] != PENDING or item["key"] in keep:
                continue
            changes = {"status": CANCELLED, "updated_at": when(now), "GSI2PK": None, "GSI2SK": None}
            if self._update_job(item, changes, "#status = :pending", pending=PENDING) is not None:
                cancelled += 1
        return cancelled

    def claim_due_jobs(self, now: datetime, lease_until: datetime, limit: int) -> list[JobRecord]:
        at, lease = when(now), when(lease_until)
        claimed = []
        for seen in self.table.query("DUE#JOB", index="GSI2", until=at):  # an index copy: checked again below
            if seen.get("lease_until") is not None and seen["lease_until"] >= at:
                continue
            if seen["status"] == PENDING and seen["due_at"] <= at:
                # the claim, exactly SQL's: pending, due and under no live lease (the index may be behind the item)
                condition = f"#status = :pending AND #due_at <= :now AND {_LEASE_FREE}"
                changes, named = {"attempt_started_at": None}, {"pending": PENDING}
            elif seen["status"] == SENDING:
                # `sending` under an expired lease: its sender died between writing the body and hearing back
                condition, changes, named = f"#status = :sending AND {_LEASE_FREE}", {}, {"sending": SENDING}
            else:
                continue
            changes.update(status=SENDING, lease_until=lease, updated_at=at, GSI2SK=lease)
            expression, names, values = _changes(changes)
            updated = self.table.update(
                seen["PK"],
                seen["SK"],
                f"{expression} ADD attempts :one",
                condition,
                {**names, **_names_in(condition)},
                **values,
                **named,
                now=at,
                one=1,
            )
            if updated is not None:
                unknown = parse_when(updated.get("attempt_started_at")) if seen["status"] == SENDING else None
                claimed.append(_job(updated, unknown))
                if len(claimed) >= limit:
                    break
        return claimed

    def job_sending(self, job_id: int, body: str, via: str, now: datetime, lease_until: datetime) -> None:
        item = self._job_item(job_id)
        if item is None:
            return  # as SQL's update of no row: the person (and their jobs) went meanwhile
        changes = {
            "body": body,
            "via": via,
            "attempt_started_at": when(now),
            "lease_until": when(lease_until),
            "updated_at": when(now),
        }
        if item["status"] in (PENDING, SENDING):
            changes["GSI2SK"] = _due_keys(item["status"], item["due_at"], when(lease_until), when(now))["GSI2SK"]
        self._update_job(item, changes, "attribute_exists(PK)")

    def finish_job(self, job_id: int, status: str, now: datetime, **values) -> None:
        unknown = set(values) - _FINISH
        if unknown or status not in JOB_STATUSES:
            raise ValueError(f"finish_job({status!r}, {sorted(values)}): expected a status of {JOB_STATUSES}")
        item = self._job_item(job_id)
        if item is None:
            raise KeyError(f"no scheduled job with id {job_id}")
        changes = {"status": status, "updated_at": when(now), "lease_until": when(values.pop("lease_until", None))}
        for name, value in values.items():
            changes[name] = when(value) if isinstance(value, datetime) else value
        due_at = changes.get("due_at", item["due_at"])
        changes.update(_due_keys(status, due_at, changes["lease_until"], when(now)))
        if self._update_job(item, changes, "attribute_exists(PK)") is None:
            raise KeyError(f"no scheduled job with id {job_id}")

    def jobs(self, user_id: int) -> list[JobRecord]:
        items = self.table.query(user_pk(user_id), sk_prefix="JOB#")
        return [_job(item) for item in sorted(items, key=lambda i: (i["due_at"], int(i["id"])))]
