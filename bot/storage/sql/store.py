"""`SqlStore`: every store protocol of `bot.storage.protocols` on SQLAlchemy, one part per subject."""

from __future__ import annotations

from bot.storage.sql.billing import SqlBilling
from bot.storage.sql.calendar import SqlCalendar
from bot.storage.sql.events import SqlEvents
from bot.storage.sql.gallery import SqlGallery
from bot.storage.sql.meals import SqlMeals
from bot.storage.sql.messages import SqlMessages
from bot.storage.sql.ops import SqlOps
from bot.storage.sql.outbox import SqlOutbox
from bot.storage.sql.people import SqlPendingQuestions, SqlPeople
from bot.storage.sql.personal import SqlPersonal
from bot.storage.sql.plans import SqlPlans
from bot.storage.sql.privacy import SqlPrivacy
from bot.storage.sql.usage import SqlUsage
from bot.storage.sql.work import SqlWork


class SqlStore(
    SqlPeople,
    SqlPendingQuestions,
    SqlGallery,
    SqlMessages,
    SqlMeals,
    SqlUsage,
    SqlOutbox,
    SqlEvents,
    SqlPrivacy,
    SqlPlans,
    SqlPersonal,
    SqlBilling,
    SqlOps,
    SqlCalendar,
    SqlWork,
):
    """The SQLAlchemy implementation of `bot.storage.protocols.BotStore` (`SqlStore(database_url)`)."""
