"""Scheduled jobs and each person's calendar settings: `CalendarStore` on SQL.

A job is claimed with a guarded update inside the transaction (BEGIN IMMEDIATE on SQLite, FOR UPDATE SKIP LOCKED
elsewhere), so two schedulers — two processes, or one restarted while the other still runs — never both take it.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import and_, or_, select, update

from bot.storage.records import CalendarPersonRecord, JobRecord, LastInbound, PlanRecord, UserRecord
from bot.storage.sql import tables as t
from bot.storage.sql.engine import SqlBase
from bot.storage.sql.people import _user
from bot.storage.sql.plans import _plan

PENDING, SENDING, SENT = "pending", "sending", "sent"
JOB_STATUSES = (PENDING, SENDING, SENT, "failed", "skipped", "unknown", "cancelled")
_GOOGLE = frozenset({"google_refresh_token", "google_calendar_id", "google_status", "google_synced_plan"})
_FINISH = frozenset({"twilio_sid", "due_at", "last_error", "lease_until"})


def _job(row: t.ScheduledJob, unknown_since: datetime | None = None) -> JobRecord:
    return JobRecord(
        row.id,
        row.key,
        row.user_id,
        row.kind,
        row.due_at,
        dict(row.payload or {}),
        row.status,
        row.attempts,
        row.body,
        row.via,
        row.twilio_sid,
        unknown_since,
    )


def _person(user_id: int, row: t.CalendarPerson | None) -> CalendarPersonRecord:
    if row is None:
        return CalendarPersonRecord(user_id)
    return CalendarPersonRecord(
        user_id,
        row.zone_source,
        row.feed_token_sha256,
        row.feed_generation or 0,
        row.synced_plan,
        row.google_refresh_token,
        row.google_calendar_id,
        row.google_status,
        row.google_synced_plan,
    )


class SqlCalendar(SqlBase):
    # jobs
    def schedule_job(self, key: str, user_id: int, kind: str, due_at: datetime, payload: dict, now: datetime) -> bool:
        with self._tx() as s:
            row = s.scalar(select(t.ScheduledJob).where(t.ScheduledJob.key == key))
            if row is None:
                s.add(
                    t.ScheduledJob(
                        key=key,
                        user_id=user_id,
                        kind=kind,
                        due_at=due_at,
                        payload=dict(payload),
                        status=PENDING,
                        attempts=0,
                        created_at=now,
                        updated_at=now,
                    )
                )
                return True
            if row.status in (PENDING, "cancelled") and (row.due_at != due_at or row.payload != payload):
                # a re-planned week: same job, new time or dish; one already sent stays sent
                row.due_at, row.payload, row.status, row.updated_at = due_at, dict(payload), PENDING, now
            return False

    def cancel_jobs(self, user_id: int, prefix: str, keep: Collection[str], now: datetime) -> int:
        with self._tx() as s:
            j = t.ScheduledJob
            query = select(j).where(j.user_id == user_id, j.status == PENDING, j.key.startswith(prefix))
            cancelled = 0
            for row in s.scalars(query):
                if row.key not in keep:
                    row.status, row.updated_at = "cancelled", now
                    cancelled += 1
            return cancelled

    def claim_due_jobs(self, now: datetime, lease_until: datetime, limit: int) -> list[JobRecord]:
        with self._tx() as s:
            j = t.ScheduledJob
            expired = or_(j.lease_until.is_(None), j.lease_until < now)
            query = (
                select(j)
                .where(or_(and_(j.status == PENDING, j.due_at <= now), j.status == SENDING), expired)
                .order_by(j.due_at)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
            claimed = []
            for row in s.scalars(query).all():
                # `sending` under an expired lease: its sender died between writing the body and hearing back
                unknown = row.attempt_started_at if row.status == SENDING else None
                row.status, row.lease_until, row.attempts, row.updated_at = SENDING, lease_until, row.attempts + 1, now
                if unknown is None:
                    row.attempt_started_at = None
                claimed.append(_job(row, unknown))
            s.flush()
            return claimed

    def job_sending(self, job_id: int, body: str, via: str, now: datetime, lease_until: datetime) -> None:
        with self._tx() as s:
            s.execute(
                update(t.ScheduledJob)
                .where(t.ScheduledJob.id == job_id)
                .values(body=body, via=via, attempt_started_at=now, lease_until=lease_until, updated_at=now)
            )

    def finish_job(self, job_id: int, status: str, now: datetime, **values) -> None:
        unknown = set(values) - _FINISH
        if unknown or status not in JOB_STATUSES:
            raise ValueError(f"finish_job({status!r}, {sorted(values)}): expected a status of {JOB_STATUSES}")
        with self._tx() as s:
            row = s.get(t.ScheduledJob, job_id)
            if row is None:
                raise KeyError(f"no scheduled job with id {job_id}")
            row.status, row.updated_at, row.lease_until = status, now, values.pop("lease_until", None)
            for key, value in values.items():
                setattr(row, key, value)

    def jobs(self, user_id: int) -> list[JobRecord]:
        with self._tx() as s:
            query = select(t.ScheduledJob).where(t.ScheduledJob.user_id == user_id).order_by(t.ScheduledJob.due_at)
            return [_job(row) for row in s.scalars(query)]

    # the person
    def set_timezone(self, user_id: int, timezone: str, source: str, now: datetime) -> UserRecord:
        with self._tx() as s:
            user = s.get(t.User, user_id)
            if user is None:
                raise KeyError(f"no user with id {user_id}")
            user.timezone = timezone
            self._person_row(s, user_id, now).zone_source = source
            s.flush()
            return _user(user)

    def calendar_person(self, user_id: int) -> CalendarPersonRecord:
        with self._tx() as s:
            return _person(user_id, s.get(t.CalendarPerson, user_id))

    def set_feed(self, user_id: int, token_sha256: str | None, now: datetime, **values) -> CalendarPersonRecord:
        if set(values) - {"synced_plan"}:
            raise ValueError(f"set_feed takes only synced_plan besides the token, not {sorted(values)}")
        with self._tx() as s:
            row = self._person_row(s, user_id, now)
            if token_sha256 is None and row.feed_token_sha256 is not None:
                row.feed_generation = (row.feed_generation or 0) + 1  # the next link is a new one
            row.feed_token_sha256 = token_sha256
            for key, value in values.items():
                setattr(row, key, value)
            s.flush()
            return _person(user_id, row)

    def feed_synced(self, user_id: int, token_sha256: str, synced_plan: str, now: datetime) -> bool:
        with self._tx() as s:
            p = t.CalendarPerson
            done = s.execute(
                update(p)
                .where(p.user_id == user_id, p.feed_token_sha256 == token_sha256)
                .values(synced_plan=synced_plan, updated_at=now)
            )
            return done.rowcount == 1

    def set_google(self, user_id: int, now: datetime, **values) -> CalendarPersonRecord:
        if set(values) - _GOOGLE:
            raise ValueError(f"set_google takes {sorted(_GOOGLE)}, not {sorted(set(values) - _GOOGLE)}")
        with self._tx() as s:
            row = self._person_row(s, user_id, now)
            if values.get("google_calendar_id") and row.google_calendar_id:
                values.pop("google_calendar_id")  # the first calendar made is kept (two processes made one each)
            for key, value in values.items():
                setattr(row, key, value)
            s.flush()
            return _person(user_id, row)

    def google_connected(self) -> list[int]:
        with self._tx() as s:
            query = select(t.CalendarPerson.user_id).where(t.CalendarPerson.google_status == "connected")
            return list(s.scalars(query))

    def feed_owner(self, token_sha256: str) -> int | None:
        with self._tx() as s:
            query = select(t.CalendarPerson.user_id).where(t.CalendarPerson.feed_token_sha256 == token_sha256)
            return s.scalar(query)

    def last_inbound(self, user_id: int) -> LastInbound | None:
        with self._tx() as s:
            m = t.Message
            query = select(m).where(m.user_id == user_id).order_by(m.created_at.desc(), m.id.desc()).limit(1)
            row = s.scalar(query)
            return LastInbound(row.from_addr, row.to_addr, row.created_at) if row else None

    def plans_changed_since(self, since: datetime) -> list[PlanRecord]:
        with self._tx() as s:
            query = select(t.MealPlan).where(t.MealPlan.updated_at > since).order_by(t.MealPlan.updated_at)
            return [_plan(row) for row in s.scalars(query)]

    @staticmethod
    def _person_row(s, user_id: int, now: datetime) -> t.CalendarPerson:
        row = s.get(t.CalendarPerson, user_id)
        if row is None:
            row = t.CalendarPerson(user_id=user_id, feed_generation=0, updated_at=now)
            s.add(row)
        row.updated_at = now
        return row
