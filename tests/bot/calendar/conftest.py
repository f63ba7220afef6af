"""Fixtures of the calendar tests: a real store (SQLite; DynamoDB on moto's local server where a test asks), a week's plan as the plan wing stores it, the reminder
scheduler wired to the LOCAL STAND-IN of Twilio (tests/bot/conftest.py's `twilio_api`) through the real client."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

import pytest

from bot.calendar.feed import Feeds
from bot.calendar.reminders import Reminders
from bot.calendar.scheduler import ReminderScheduler
from bot.calendar.week import RecipeMinutes
from bot.channel.messenger import Messenger
from bot.ledger import Ledger
from bot.settings import BotSettings
from bot.storage.factory import make_store
from bot.storage.protocols import CalendarBotStore

ACCOUNT_SID = "AC" + "1" * 32
AUTH_TOKEN = "test-auth-token-0123456789abcdef"
BOT_NUMBER = "+14155238886"
DINNERS = ("spaghetti-bolognese", "Spaghetti bolognese"), ("turkey-bean-chili", "Turkey bean chili")  # 45 min each


def week_plan(days: int = 7, dinners=DINNERS) -> dict:
    """A plan as `nutrition.planning.planner.Plan.to_dict()` writes it: a breakfast and a dinner a day."""
    nutrients = {"kcal": 600.0, "protein_g": 30.0, "fat_g": 20.0, "carbs_g": 70.0}
    meal = lambda slot, rid, name: {  # noqa: E731
        "slot": slot,
        "recipe_id": rid,
        "name": name,
        "servings": 1.0,
        "cost_usd": 2.5,
        "nutrients": nutrients,
    }
    out = []
    for i in range(days):
        rid, name = dinners[i % len(dinners)]
        meals = [meal("breakfast", "oatmeal-banana-peanut-butter", "Oatmeal with banana"), meal("dinner", rid, name)]
        out.append({"index": i, "meals": meals, "totals": nutrients, "cost_usd": 5.0})
    return {"days": out, "cost_usd": 35.0, "summary": {}}


def monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


@dataclass
class World:
    settings: BotSettings
    store: CalendarBotStore
    reminders: Reminders
    scheduler: ReminderScheduler
    feeds: Feeds

    def person(self, phone: str, zone: str, tier: str = "standard", wrote_at: datetime | None = None, sms=False):
        user = self.store.get_or_create_user(phone, tier, zone)
        if wrote_at is not None:
            self.wrote(user.id, phone, wrote_at, sms)
        return user

    def wrote(self, user_id: int, phone: str, at: datetime, sms: bool = False) -> None:
        prefix = "" if sms else "whatsapp:"
        sid = f"SM{user_id:04d}{at:%Y%m%d%H%M%S%f}"
        self.store.record_inbound(sid, user_id, prefix + phone, prefix + BOT_NUMBER, "hi", [], "done", at, None)

    def plan(self, user_id: int, start: date, made_at: datetime, days: int = 7, dinners=DINNERS):
        week = monday(start).isoformat()
        return self.store.save_plan(user_id, week, start.isoformat(), week_plan(days, dinners), {"days": days}, made_at)


@pytest.fixture
def make_world(tmp_path, repo_root, twilio_api):
    """`make_world(**settings)`: store, reminders, scheduler and feeds on one SQLite file (or the database_url
    given: a `dynamodb://` table is made on first use), Twilio = the stand-in."""
    made: list[CalendarBotStore] = []

    def make(**overrides) -> World:
        values = dict(
            database_url=f"sqlite:///{tmp_path / 'bot.db'}",
            public_url="https://bot.example.test",
            twilio_account_sid=ACCOUNT_SID,
            twilio_auth_token=AUTH_TOKEN,
            twilio_api_base_url=twilio_api.url,
            recipes_dir=repo_root / "data" / "recipes",
            retry_base_s=0.01,
            retry_max_s=0.05,
            lease_s=30.0,
        )
        settings = BotSettings(**(values | overrides))
        store = make_store(settings.database_url)
        if settings.database_url.startswith("dynamodb://"):
            store.create_tables()  # idempotent: a restarted world finds the table of the first
        store.create_schema()
        made.append(store)
        minutes = RecipeMinutes(settings.recipes_dir)
        reminders = Reminders(store, settings, minutes)
        messenger = Messenger(ACCOUNT_SID, AUTH_TOKEN, twilio_api.url, None, 5.0)
        scheduler = ReminderScheduler(settings, store, messenger, reminders)
        return World(settings, store, reminders, scheduler, Feeds(store, settings, Ledger(store, settings), minutes))

    yield make
    for store in made:
        store.dispose()
