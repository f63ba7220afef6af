"""The bot's FastAPI app: `create_app(settings)`; `uvicorn bot.app:app` builds one from the environment."""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI
from fastapi.responses import JSONResponse

from bot.billing import links as billing_links
from bot.billing import webhook as stripe_webhook
from bot.billing.scheduler import BillingScheduler
from bot.billing.service import Billing
from bot.calendar import feed as calendar_feed
from bot.calendar import oauth_callback as google_callback
from bot.calendar.commands import CalendarReplies
from bot.calendar.feed import Feeds
from bot.calendar.google import GoogleCalendar
from bot.calendar.reminders import Reminders
from bot.calendar.scheduler import ReminderScheduler
from bot.calendar.week import RecipeMinutes
from bot.channel.delivery import Delivery
from bot.channel.media_purge import MediaPurge
from bot.channel.messenger import Messenger
from bot.channel.service import BotService
from bot.channel.webhook import router
from bot.coach.advisor import Advisor, TableSource
from bot.coach.conversation import Conversation
from bot.coach.tips import make_coach
from bot.gallery.ask_back import AskBack
from bot.ledger import Ledger
from bot.ops import wiring as ops_wiring
from bot.personal.service import Learning
from bot.photos.analysis_client import AnalysisClient
from bot.photos.meal_analysis import MealAnalyser
from bot.photos.media import MediaFetcher
from bot.plans.catalogue import RecipeCatalogue
from bot.plans.grocery import GroceryLinks
from bot.plans.redirect import router as short_links
from bot.plans.service import PlanService
from bot.settings import BotSettings
from bot.storage.factory import make_store, shown_url
from bot.storage.photo_store import make_photo_store
from bot.storage.protocols import BillingBotStore, off_loop
from bot.storage.records import PENDING
from bot.voice.engines import make_voice_notes
from bot.workqueue.setup import with_work_queue, work_workers

log = logging.getLogger(__name__)


def create_app(settings: BotSettings | None = None) -> FastAPI:
    """Build the app. Nothing is opened here: the database, HTTP clients and worker start with the app."""
    settings = settings or BotSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if not settings.twilio_auth_token.get_secret_value():
            log.error("BOT_TWILIO_AUTH_TOKEN is not set: every webhook will be refused with 403")
        store = make_store(settings.database_url)  # SQL, or DynamoDB for a dynamodb:// URL
        await off_loop(store.create_schema)
        ops = app.state.ops = ops_wiring.Operations(settings, store)  # counts the store's events: before any use
        store = with_work_queue(settings, store)  # with BOT_WORK_QUEUE=sqs it enqueues the work it schedules
        # Our own hops (loopback model server, Twilio) must not go through a proxy from the environment.
        http = httpx.AsyncClient(trust_env=False, limits=httpx.Limits(max_connections=64))
        token = settings.twilio_auth_token.get_secret_value()
        auth = (settings.twilio_account_sid, token) if settings.twilio_account_sid and token else None
        media = MediaFetcher(
            http,
            auth,
            settings.media_max_bytes,
            settings.media_types,
            settings.media_timeout_s,
            hosts=settings.media_hosts,
            credential_hosts=settings.media_credential_hosts,
            allow_private=settings.media_allow_private,
            max_redirects=settings.media_max_redirects,
        )
        analysis = AnalysisClient(
            settings.serving_url,
            settings.analyze_timeout_s,
            http,
            settings.analyze_embeddings,
            token=settings.serving_token.get_secret_value(),
        )
        analysis = ops.metered(analysis)
        photos = make_photo_store(settings.photo_store, settings.photo_store_endpoint_url, settings.aws_region)
        messenger = Messenger(
            settings.twilio_account_sid,
            token,
            settings.twilio_api_base_url,
            settings.twilio_from,
            settings.twilio_timeout_s,
        )
        ledger = Ledger(store, settings)
        delivery = Delivery(settings, store, messenger)
        tables = TableSource(settings.nutrition_dir)
        coach = await off_loop(make_coach, settings, ledger)
        ask_back = AskBack(store, tables, settings)
        catalogue = RecipeCatalogue(settings.recipes_dir, tables)
        plans = PlanService(store, ledger, settings, catalogue, GroceryLinks(store, settings))
        billing = Billing.create(settings, store, delivery)
        if billing.gateway is None:
            log.warning("BOT_STRIPE_SECRET_KEY is not set: billing is off (upgrade says payments are not set up)")
        minutes = RecipeMinutes(settings.recipes_dir)
        reminders, feeds = Reminders(store, settings, minutes), Feeds(store, settings, ledger, minutes)
        google = GoogleCalendar(settings, store, ledger, minutes) if settings.google_calendar else None
        calendar = CalendarReplies(store, ledger, feeds, reminders, google)
        conversation = Conversation(
            store, Advisor(coach, tables, Learning(store)), tables, ask_back, photos, plans, billing.commands, calendar
        )
        analyser = MealAnalyser(settings, store, ledger, media, analysis, ask_back, photos)
        voice = await off_loop(make_voice_notes, settings, store, ledger, http, auth, photos)
        service = BotService(settings, store, ledger, analyser, delivery, conversation, voice)
        # retries and REST sends: the in-process worker, or with BOT_WORK_QUEUE=sqs a consumer and a sweep
        worker = work_workers(settings, store, service, delivery, MediaPurge(settings, store, messenger))
        app.state.settings, app.state.store, app.state.service, app.state.worker = settings, store, service, worker
        billing_check = BillingScheduler(billing, settings.billing_check_s)
        app.state.billing = billing
        app.state.feeds, app.state.google = feeds, google  # GET /calendar/{token}.ics, /calendar/google/callback
        reminder_worker = ReminderScheduler(settings, store, messenger, reminders, google)
        worker.start()
        billing_check.start()
        ops.start(delivery)
        reminder_worker.start()
        log.info(
            "bot ready: public %s, serving %s, database %s",
            settings.webhook_url,
            settings.serving_url,
            shown_url(settings.database_url),
        )
        try:
            yield
        finally:
            await ops.stop()
            await reminder_worker.stop()
            await billing_check.stop()
            await worker.stop()
            await service.drain(timeout_s=settings.reply_budget_s)
            await http.aclose()
            store.dispose()

    # No API map on the public app unless asked for (development): without openapi_url there is no /docs or /redoc.
    app = FastAPI(
        title="plate-coach bot", lifespan=lifespan, openapi_url="/openapi.json" if settings.api_docs else None
    )
    app.include_router(router)
    app.include_router(short_links)  # /r/{id}: grocery links, each click recorded
    app.include_router(stripe_webhook.router)  # POST /stripe/webhook, GET /billing/return
    app.include_router(billing_links.router)  # /billing/checkout, /billing/portal: our signed links to Stripe
    app.include_router(ops_wiring.router)  # GET /metrics (Prometheus)
    app.include_router(calendar_feed.router)  # GET /calendar/{token}.ics: the person's planned week
    app.include_router(google_callback.router)  # GET /calendar/google/callback: OAuth consent's return

    @app.get("/healthz")
    async def healthz() -> JSONResponse:
        store: BillingBotStore = app.state.store
        try:
            pending = await off_loop(store.count_messages, PENDING)
        except Exception:  # report, don't crash: this is what monitoring reads
            # the detail goes to the log only: the error text of a database can name hosts, users and paths
            log.exception("health check: database unreachable")
            return JSONResponse({"status": "error"}, status_code=503)
        return JSONResponse({"status": "ok", "pending_messages": pending})

    return app


def __getattr__(name: str):
    # `uvicorn bot.app:app` reads this attribute; building it lazily keeps `import bot.app` free of effects.
    if name == "app":
        return create_app()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
