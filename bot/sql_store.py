"""`BotStore` on SQLAlchemy: a SQLite file by default (`BOT_DATABASE_URL` switches to any SQL database).

SQLite serialises writers: every transaction starts with BEGIN IMMEDIATE (WAL journal, busy timeout),
so read-check-write sequences such as "insert unless the MessageSid exists" are atomic across threads
and processes. On PostgreSQL the guarded UPDATEs and unique constraints give the same guarantees.
"""

from __future__ import annotations

from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, func, or_, select, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from bot import models as m
from bot.sql_coach_store import CoachStoreMixin
from bot.store import (
    PENDING, Bucket, DayTotals, EventRecord, ItemRecord, MealRecord, MediaRef, MessageRecord, OutboundRecord,
    UserRecord, utcnow,
)  # fmt: skip

_NUMERIC_TOTALS = ("kcal", "protein_g", "fat_g", "carbs_g")


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


def _ensure_row(session: Session, model: type, **key) -> None:
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


def _user(row: m.User) -> UserRecord:
    return UserRecord(row.id, row.phone, row.tier, row.timezone, row.opted_out)


def _message(row: m.Message) -> MessageRecord:
    media = tuple(MediaRef(x["url"], x["content_type"]) for x in row.media or [])
    return MessageRecord(
        row.id, row.message_sid, row.user_id, row.from_addr, row.to_addr, row.body, media,
        row.photos_reserved, row.status, row.attempts, row.twiml_reply, row.created_at,
    )  # fmt: skip


def _meal(row: m.Meal) -> MealRecord:
    items = tuple(
        ItemRecord(i.photo_index, i.name, i.display_name, i.grams, i.grams_low, i.grams_high, i.kcal,
                   i.protein_g, i.fat_g, i.carbs_g, i.confidence)
        for i in row.items
    )  # fmt: skip
    return MealRecord(row.id, row.user_id, row.day, items, row.kcal, row.protein_g, row.fat_g, row.carbs_g, row.grams)


def _outbound(row: m.Outbound) -> OutboundRecord:
    return OutboundRecord(row.id, row.message_sid, row.kind, row.to_addr, row.from_addr, row.body, row.attempts)


class SqlStore(CoachStoreMixin):
    """The SQLAlchemy implementation of `bot.store.BotStore` (the coach's part in `CoachStoreMixin`)."""

    _meal_of = staticmethod(_meal)

    def __init__(self, url: str):
        self.engine = make_engine(url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def _tx(self):
        with self._sessions.begin() as session:
            yield session

    def create_schema(self) -> None:
        m.Base.metadata.create_all(self.engine)

    def ping(self) -> None:
        with self.engine.connect() as connection:
            connection.execute(text("SELECT 1"))

    def dispose(self) -> None:
        self.engine.dispose()

    # users
    def get_or_create_user(self, phone: str, tier: str, timezone: str) -> UserRecord:
        try:
            with self._tx() as s:
                row = s.scalar(select(m.User).where(m.User.phone == phone))
                if row is None:
                    row = m.User(phone=phone, tier=tier, timezone=timezone, opted_out=False, created_at=utcnow())
                    s.add(row)
                    s.flush()
                return _user(row)
        except IntegrityError:  # created concurrently (databases without SQLite's write lock)
            return self.get_or_create_user(phone, tier, timezone)

    def get_user(self, user_id: int) -> UserRecord:
        with self._tx() as s:
            row = s.get(m.User, user_id)
            if row is None:
                raise KeyError(f"no user with id {user_id}")
            return _user(row)

    def set_opted_out(self, user_id: int, opted_out: bool) -> None:
        with self._tx() as s:
            s.execute(update(m.User).where(m.User.id == user_id).values(opted_out=opted_out))

    def set_tier(self, user_id: int, tier: str) -> None:
        with self._tx() as s:
            s.execute(update(m.User).where(m.User.id == user_id).values(tier=tier))

    # inbound messages
    def record_inbound(self, sid, user_id, from_addr, to_addr, body, media, status, now, lease_until):
        try:
            with self._tx() as s:
                row = s.scalar(select(m.Message).where(m.Message.message_sid == sid))
                if row is not None:
                    return _message(row), False
                row = m.Message(
                    message_sid=sid, user_id=user_id, from_addr=from_addr, to_addr=to_addr, body=body,
                    media=[{"url": x.url, "content_type": x.content_type} for x in media], photos_reserved=0,
                    status=status, attempts=1 if lease_until else 0, next_attempt_at=now,
                    lease_until=lease_until, created_at=now, updated_at=now,
                )  # fmt: skip
                s.add(row)
                s.flush()
                return _message(row), True
        except IntegrityError:
            existing = self.get_message(sid)
            if existing is None:
                raise
            return existing, False

    def get_message(self, sid: str) -> MessageRecord | None:
        with self._tx() as s:
            row = s.scalar(select(m.Message).where(m.Message.message_sid == sid))
            return _message(row) if row else None

    def _update_message(self, sid: str, **values) -> None:
        with self._tx() as s:
            s.execute(update(m.Message).where(m.Message.message_sid == sid).values(**values))

    def set_photos_reserved(self, sid: str, photos: int) -> None:
        self._update_message(sid, photos_reserved=photos)

    def set_twiml_reply(self, sid: str, twiml_reply: str) -> None:
        self._update_message(sid, twiml_reply=twiml_reply)

    def finish_message(self, sid: str, status: str, twiml_reply: str | None, now: datetime) -> None:
        values = {"status": status, "lease_until": None, "updated_at": now}
        if twiml_reply is not None:
            values["twiml_reply"] = twiml_reply
        self._update_message(sid, **values)

    def schedule_retry(self, sid: str, error: str, next_attempt_at: datetime, now: datetime) -> None:
        self._update_message(
            sid, status=PENDING, last_error=error, next_attempt_at=next_attempt_at, lease_until=None, updated_at=now
        )

    def claim_due_messages(self, now: datetime, lease_until: datetime, limit: int) -> list[MessageRecord]:
        with self._tx() as s:
            query = (
                select(m.Message)
                .where(m.Message.status == PENDING, m.Message.next_attempt_at <= now)
                .where(or_(m.Message.lease_until.is_(None), m.Message.lease_until < now))
                .order_by(m.Message.next_attempt_at)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
            rows = s.scalars(query).all()
            for row in rows:
                row.lease_until, row.attempts, row.updated_at = lease_until, row.attempts + 1, now
            s.flush()
            return [_message(row) for row in rows]

    def count_messages(self, status: str) -> int:
        with self._tx() as s:
            return s.scalar(select(func.count()).select_from(m.Message).where(m.Message.status == status))

    # meals and totals
    def save_meal(self, message_id, user_id, day, eaten_at, items, models, photos, source="photo"):
        try:
            with self._tx() as s:
                existing = s.scalar(select(m.Meal).where(m.Meal.message_id == message_id))
                if existing is not None:
                    return _meal(existing), self._totals(s, user_id, existing.day)
                sums = {k: sum(getattr(i, k) for i in items) for k in (*_NUMERIC_TOTALS, "grams")}
                meal = m.Meal(
                    user_id=user_id, message_id=message_id, day=day, eaten_at=eaten_at, source=source,
                    models=models, photos=photos, items=[m.MealItem(**vars(i)) for i in items], **sums,
                )  # fmt: skip
                s.add(meal)
                s.flush()
                self._add_to_day(s, user_id, day, meal, sign=1)
                return _meal(meal), self._totals(s, user_id, day)
        except IntegrityError:
            with self._tx() as s:
                existing = s.scalar(select(m.Meal).where(m.Meal.message_id == message_id))
                if existing is None:
                    raise
                return _meal(existing), self._totals(s, user_id, existing.day)

    @staticmethod
    def _add_to_day(s: Session, user_id: int, day: str, meal: m.Meal, sign: int) -> None:
        _ensure_row(s, m.DailyTotal, user_id=user_id, day=day)
        t = m.DailyTotal
        values = {k: getattr(t, k) + sign * getattr(meal, k) for k in _NUMERIC_TOTALS}
        s.execute(update(t).where(t.user_id == user_id, t.day == day).values(meals=t.meals + sign, **values))

    @staticmethod
    def _totals(s: Session, user_id: int, day: str) -> DayTotals:
        row = s.get(m.DailyTotal, (user_id, day), populate_existing=True)
        if row is None:
            return DayTotals(day)
        # float sums drift (1e-13) after undo; nobody eats a negative calorie
        return DayTotals(day, row.meals, *(max(0.0, getattr(row, k)) for k in _NUMERIC_TOTALS))

    def undo_last_meal(self, user_id: int, now: datetime) -> MealRecord | None:
        with self._tx() as s:
            query = select(m.Meal).where(m.Meal.user_id == user_id, m.Meal.deleted_at.is_(None))
            meal = s.scalar(query.order_by(m.Meal.eaten_at.desc(), m.Meal.id.desc()).limit(1))
            if meal is None:
                return None
            meal.deleted_at = now
            self._add_to_day(s, user_id, meal.day, meal, sign=-1)
            return _meal(meal)

    def day_totals(self, user_id: int, day: str) -> DayTotals:
        with self._tx() as s:
            return self._totals(s, user_id, day)

    def meals(self, user_id: int, include_deleted: bool = False) -> list[MealRecord]:
        with self._tx() as s:
            query = select(m.Meal).where(m.Meal.user_id == user_id).order_by(m.Meal.id)
            if not include_deleted:
                query = query.where(m.Meal.deleted_at.is_(None))
            return [_meal(row) for row in s.scalars(query)]

    # usage ledger
    def consume(self, user_id: int, buckets: list[Bucket], counter: str, amount: int) -> Bucket | None:
        column = getattr(m.Usage, counter)
        try:
            with self._tx() as s:
                for bucket in buckets:
                    _ensure_row(s, m.Usage, user_id=user_id, period=bucket.period, period_key=bucket.key)
                    stmt = update(m.Usage).where(*_usage_key(user_id, bucket)).values({counter: column + amount})
                    if bucket.limit is not None:
                        stmt = stmt.where(column + amount <= bucket.limit)
                    if s.execute(stmt).rowcount != 1:
                        raise _LimitReached(bucket)  # rolls back what the earlier buckets added
        except _LimitReached as reached:
            return reached.bucket
        return None

    def add_usage(self, user_id: int, buckets: list[Bucket], amounts: dict[str, int]) -> None:
        with self._tx() as s:
            for bucket in buckets:
                _ensure_row(s, m.Usage, user_id=user_id, period=bucket.period, period_key=bucket.key)
                values = {k: getattr(m.Usage, k) + v for k, v in amounts.items()}
                s.execute(update(m.Usage).where(*_usage_key(user_id, bucket)).values(values))

    def usage(self, user_id: int, period: str, key: str) -> dict[str, int]:
        counters = ("messages", "photos", "ai_input_tokens", "ai_output_tokens", "ai_cost_micro_usd", "limit_notices")
        with self._tx() as s:
            row = s.get(m.Usage, (user_id, period, key))
            return {k: getattr(row, k) if row else 0 for k in counters}

    # REST replies
    def enqueue_outbound(self, sid, kind, to_addr, from_addr, body, now, lease_until):
        try:
            with self._tx() as s:
                exists = select(m.Outbound.id).where(m.Outbound.message_sid == sid, m.Outbound.kind == kind)
                if s.scalar(exists) is not None:
                    return None
                row = m.Outbound(
                    message_sid=sid, kind=kind, to_addr=to_addr, from_addr=from_addr, body=body, status="queued",
                    attempts=1, next_attempt_at=now, lease_until=lease_until, created_at=now,
                )  # fmt: skip
                s.add(row)
                s.flush()
                return _outbound(row)
        except IntegrityError:
            return None

    def claim_due_outbound(self, now: datetime, lease_until: datetime, limit: int) -> list[OutboundRecord]:
        with self._tx() as s:
            o = m.Outbound
            query = (
                select(o)
                .where(o.status == "queued", o.next_attempt_at <= now)
                .where(or_(o.lease_until.is_(None), o.lease_until < now))
                .order_by(o.next_attempt_at)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
            rows = s.scalars(query).all()
            for row in rows:
                row.lease_until, row.attempts = lease_until, row.attempts + 1
            s.flush()
            return [_outbound(row) for row in rows]

    def mark_outbound(self, outbound_id, status, now, twilio_sid=None, error=None, next_attempt_at=None):
        with self._tx() as s:
            values = {"status": status, "lease_until": None, "twilio_sid": twilio_sid, "last_error": error}
            if next_attempt_at is not None:
                values["next_attempt_at"] = next_attempt_at
            s.execute(update(m.Outbound).where(m.Outbound.id == outbound_id).values(**values))

    def outbound(self, sid: str | None = None) -> list[dict]:
        with self._tx() as s:
            query = select(m.Outbound).order_by(m.Outbound.id)
            if sid is not None:
                query = query.where(m.Outbound.message_sid == sid)
            columns = ("message_sid", "kind", "to_addr", "from_addr", "body", "status", "attempts", "twilio_sid")
            return [{c: getattr(row, c) for c in columns} for row in s.scalars(query)]

    # events
    def add_event(self, kind, now, message_sid=None, user_id=None, meal_id=None, detail=None) -> None:
        with self._tx() as s:
            s.add(m.Event(at=now, kind=kind, message_sid=message_sid, user_id=user_id, meal_id=meal_id,
                          detail=detail or {}))  # fmt: skip

    def events(self, message_sid: str | None = None) -> list[EventRecord]:
        with self._tx() as s:
            query = select(m.Event).order_by(m.Event.id)
            if message_sid is not None:
                query = query.where(m.Event.message_sid == message_sid)
            return [EventRecord(e.at, e.kind, e.message_sid, e.user_id, e.meal_id, e.detail) for e in s.scalars(query)]


class _LimitReached(Exception):
    def __init__(self, bucket: Bucket):
        super().__init__(bucket)
        self.bucket = bucket


def _usage_key(user_id: int, bucket: Bucket):
    return m.Usage.user_id == user_id, m.Usage.period == bucket.period, m.Usage.period_key == bucket.key
