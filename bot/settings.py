"""Runtime settings of the bot, read from the environment (prefix `BOT_`), with the tier limits."""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

WEBHOOK_PATH = "/twilio/webhook"
TWILIO_GIVES_UP_S = 15.0  # Twilio drops a webhook that has not answered by then


class TierLimits(BaseModel):
    """What one subscription tier allows; `pitch` is what we tell people the tier gives."""

    photos_per_day: int = Field(ge=0)
    photos_per_month: int = Field(ge=0)
    messages_per_day: int = Field(ge=0)
    messages_per_hour: int = Field(ge=0, description="the rate limit")
    ai_tokens_per_month: int = Field(ge=0, description="for the coach (counted, not yet spent by the bot)")
    meal_plans_per_month: int = Field(1, ge=0)
    calendar_syncs_per_month: int = Field(0, ge=0)
    daily_cost_cap_usd: float = Field(
        0.50, ge=0, description="what one person may cost us a day (AI, vision, messaging); past it, no AI or photos"
    )
    pitch: str


DEFAULT_TIERS: dict[str, TierLimits] = {
    "free": TierLimits(
        photos_per_day=3,
        photos_per_month=30,
        messages_per_day=40,
        messages_per_hour=20,
        ai_tokens_per_month=20_000,
        meal_plans_per_month=1,
        calendar_syncs_per_month=0,
        daily_cost_cap_usd=0.50,
        pitch="3 meal photos a day",
    ),
    "standard": TierLimits(
        photos_per_day=15,
        photos_per_month=300,
        messages_per_day=200,
        messages_per_hour=60,
        ai_tokens_per_month=300_000,
        meal_plans_per_month=4,
        calendar_syncs_per_month=4,
        daily_cost_cap_usd=2.00,
        pitch="15 meal photos a day and a weekly meal plan",
    ),
    "premium": TierLimits(
        photos_per_day=60,
        photos_per_month=1500,
        messages_per_day=1000,
        messages_per_hour=120,
        ai_tokens_per_month=2_000_000,
        meal_plans_per_month=31,
        calendar_syncs_per_month=31,
        daily_cost_cap_usd=10.00,
        pitch="60 meal photos a day, daily coaching and meal plans with shopping lists",
    ),
}

DEFAULT_MEDIA_TYPES = ("image/jpeg", "image/png", "image/webp", "image/heic", "image/heif", "image/avif")
# Voice notes (bot/voice): WhatsApp sends OGG/Opus; other apps and SMS/MMS send AMR, MP3, M4A, WAV...
DEFAULT_VOICE_TYPES = (
    "audio/ogg",
    "audio/opus",
    "audio/amr",
    "audio/mpeg",
    "audio/mp3",
    "audio/mp4",
    "audio/m4a",
    "audio/x-m4a",
    "audio/aac",
    "audio/wav",
    "audio/x-wav",
    "audio/webm",
    "audio/flac",
)


class BotSettings(BaseSettings):
    """Every knob of the bot. Nested values come as JSON, e.g. `BOT_TIERS='{"free": {...}, ...}'`."""

    model_config = SettingsConfigDict(env_prefix="BOT_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = 8000
    public_url: str = Field(
        "http://localhost:8000",
        description="scheme://host[:port][/prefix] that Twilio calls; signatures are checked against it, "
        "never against the Host header a proxy may have rewritten",
    )
    database_url: str = "sqlite:///bot.sqlite3"

    twilio_account_sid: str = ""
    twilio_auth_token: SecretStr = SecretStr("")
    twilio_webhook_shared_key: SecretStr = Field(
        SecretStr(""), description="secret for webhooks signed with a SharedKey (X-Twilio-Webhooks-Signature-Settings)"
    )
    twilio_api_base_url: str | None = Field(
        None, description="replaces https://api.twilio.com for REST messages (a local stand-in in tests)"
    )
    twilio_from: str | None = Field(
        None, description="sender of REST messages; default: the number the person wrote to"
    )
    twilio_timeout_s: float = 10.0

    serving_url: str = "http://127.0.0.1:3000"
    serving_token: SecretStr = Field(
        SecretStr(""), description="the model server's PLATE_SERVING_TOKEN, sent as `Authorization: Bearer`"
    )
    analyze_timeout_s: float = Field(20.0, gt=0)
    reply_budget_s: float = Field(10.0, gt=0, description="answer the webhook with an acknowledgement after this")
    plan_budget_s: float = Field(
        6.0,
        gt=0,
        description="the most a meal plan (or an edit of one) may take to solve: the message's transaction holds "
        "the database meanwhile, so every other message waits",
    )
    webhook_max_bytes: int = Field(
        64 * 1024, gt=0, description="a larger webhook body is refused (413) before it is read whole or checked"
    )
    api_docs: bool = Field(False, description="serve /docs, /redoc and /openapi.json (development only)")
    media_timeout_s: float = Field(
        10.0, gt=0, description="deadline of a whole media download (DNS, redirects and the body included)"
    )
    media_max_bytes: int = Field(10 * 1024 * 1024, gt=0)
    media_types: tuple[str, ...] = DEFAULT_MEDIA_TYPES
    # Twilio's media hosts: MediaUrl is on api.twilio.com, which redirects to mms.twiliocdn.com (media behind HTTP
    # auth) or s3-external-1.amazonaws.com (older media), per help.twilio.com article 223183748.
    media_hosts: tuple[str, ...] = Field(
        ("api.twilio.com", "*.twiliocdn.com", "s3-external-1.amazonaws.com"),
        description="the only hosts media is downloaded from, MediaUrl and every redirect: exact host names or "
        "'*.suffix', as JSON in the environment, e.g. BOT_MEDIA_HOSTS='[\"api.twilio.com\", \"*.twiliocdn.com\"]'",
    )
    media_credential_hosts: tuple[str, ...] = Field(
        ("api.twilio.com",),
        description="the media hosts (also in media_hosts) sent the Twilio account credentials; no other host, "
        "redirect targets included, ever gets them",
    )
    media_allow_private: bool = Field(
        False,
        description="download media from private, loopback and link-local addresses too (tests, the local demo); "
        "plain http is only ever allowed to loopback",
    )
    media_max_redirects: int = Field(5, ge=0, le=20)
    max_photos_per_message: int = Field(5, ge=1)

    retry_base_s: float = Field(30.0, gt=0)
    retry_max_s: float = Field(30 * 60.0, gt=0)
    retry_max_attempts: int = Field(8, ge=1)
    retry_poll_s: float = Field(5.0, gt=0)
    lease_s: float = Field(90.0, gt=0, description="a message being worked on is retried after this if its worker died")
    # a reply answered by TwiML is unconfirmed (Twilio may have stopped waiting for the response): after this it is
    # looked up at Twilio and sent by REST if Twilio has no such message (bot.channel.delivery); keep it above
    # Twilio's 15 s webhook timeout
    twiml_confirm_s: float = Field(60.0, gt=0, description="check that a TwiML reply reached Twilio after this")

    timezone: str = "UTC"
    default_tier: str = "free"
    tiers: dict[str, TierLimits] = Field(default_factory=lambda: dict(DEFAULT_TIERS))
    upgrade_url: str | None = None

    nutrition_dir: Path = Field(
        Path("data/nutrition"),
        description="the USDA tables built by `dvc repro nutrition_table` (text meals, meal ideas)",
    )
    coach: Literal["auto", "local", "bedrock"] = Field(
        "auto", description="auto: Bedrock when AWS credentials and a region are configured, else the local coach"
    )
    bedrock_model_id: str = "amazon.nova-micro-v1:0"
    aws_region: str | None = Field(None, description="Bedrock's region; default: the AWS configuration's")
    bedrock_max_tokens: int = Field(160, ge=16)
    bedrock_temperature: float = Field(0.3, ge=0, le=1)
    bedrock_timeout_s: float = Field(4.0, gt=0)
    bedrock_usd_per_1k_input_tokens: float = Field(0.000035, ge=0)
    bedrock_usd_per_1k_output_tokens: float = Field(0.00014, ge=0)
    coach_cache_ttl_s: float = Field(3600.0, ge=0, description="identical prompts are answered from memory this long")
    coach_cache_size: int = Field(1024, ge=0)

    photo_store: str = Field(
        "bot-photos",
        description="where the bot keeps the photos people send (Twilio's media URLs expire), by sha256: a local "
        "directory, or s3://bucket/prefix for S3 or an S3-compatible server",
    )
    photo_store_endpoint_url: str | None = Field(
        None, description="an S3-compatible server's URL (MinIO, Ceph...); default: AWS S3 in aws_region"
    )
    analyze_embeddings: bool = Field(
        True, description="ask the model server for each item's crop embedding (POST /analyze?embed=true)"
    )
    question_ttl_s: float = Field(
        3 * 3600.0, gt=0, description="a question about an unknown food expires this long after it was asked"
    )
    gallery_min_cosine: float = Field(
        0.85, gt=0, le=1, description="a labelled crop this similar (cosine) to an unknown food names it"
    )
    gallery_confirmations: int = Field(
        3, ge=1, description="other people's labels name a food only once this many people agree on it"
    )

    # Meal plans and grocery links (bot/plans). Short links are `{public_url}/r/{id}`.
    recipes_dir: Path = Field(
        Path("data/recipes"), description="the recipe catalogue (*.yaml) and its prices.csv, for meal plans"
    )
    instacart_api_key: SecretStr = Field(
        SecretStr(""), description="Instacart Developer Platform API key; empty: no Instacart links"
    )
    instacart_base_url: str = Field(
        "https://connect.instacart.com", description="https://connect.dev.instacart.tools for a development key"
    )
    instacart_timeout_s: float = Field(5.0, gt=0, description="a slower products_link call: the list goes without it")
    amazon_fresh_tag: str = Field("", description="Amazon Associates tag for Amazon Fresh links; empty: no link")

    # --- billing (Stripe): bot/billing. An empty secret key turns billing off ("upgrade" says so). ---
    stripe_secret_key: SecretStr = Field(SecretStr(""), description="sk_live_... / sk_test_...; empty: billing off")
    stripe_webhook_secret: SecretStr = Field(
        SecretStr(""), description="the webhook endpoint's signing secret (whsec_...) for POST /stripe/webhook"
    )
    stripe_webhook_tolerance_s: int = Field(300, gt=0, description="a signature older than this is refused")
    stripe_api_base: str | None = Field(None, description="replaces https://api.stripe.com (a local stand-in)")
    stripe_timeout_s: float = Field(10.0, gt=0)
    stripe_price_ids: dict[str, str] = Field(
        default_factory=dict,
        description='the Stripe price of each paid tier, as JSON: BOT_STRIPE_PRICE_IDS=\'{"standard": "price_..."}\'',
    )
    billing_reference_key: SecretStr = Field(
        SecretStr(""),
        description="HMAC key of the opaque person id sent to Stripe (client_reference_id); default: the secret key",
    )
    checkout_success_url: str | None = Field(None, description="after paying; default: {public_url}/billing/return")
    checkout_cancel_url: str | None = Field(None, description="after giving up; default: {public_url}/billing/return")
    billing_link_ttl_s: float = Field(24 * 3600.0, gt=0, description="our Checkout / Portal links expire after this")
    past_due_grace_days: float = Field(3.0, ge=0, description="a failed payment keeps the paid tier this long")
    billing_check_s: float = Field(60.0, gt=0, description="how often expired periods and graces are downgraded")
    vision_cost_usd_per_photo: float = Field(0.0005, ge=0, description="our own compute for one photo analysed")
    twilio_cost_usd_per_message: float = Field(0.005, ge=0, description="what Twilio charges per reply sent")
    # --- end of billing ---

    # --- operations (bot/ops): /metrics, CloudWatch EMF lines, cost alerts, the analytics export ---
    metrics_token: SecretStr = Field(
        SecretStr(""), description="when set, GET /metrics needs `Authorization: Bearer <token>`; empty: open"
    )
    metrics_store_cache_s: float = Field(
        30.0,
        ge=0,
        description="gauges read from the store (queue depth, cost, revenue) are recomputed at most this often",
    )
    metrics_label_ttl_s: float = Field(
        600.0,
        ge=0,
        description="a person's tier and personalization stage, for engagement labels, are cached this long",
    )
    cloudwatch_emf: bool = Field(
        False, description="also write the metrics as CloudWatch Embedded Metric Format log lines"
    )
    cloudwatch_namespace: str = "AINutritionist"
    cloudwatch_emf_interval_s: float = Field(60.0, gt=0, description="how often the EMF lines are written")
    tier_prices_usd_per_month: dict[str, float] = Field(
        default_factory=lambda: {"free": 0.0},
        description="what an active subscription of each tier brings in a month (your Stripe prices), as JSON: "
        'BOT_TIER_PRICES_USD_PER_MONTH=\'{"free": 0, "standard": 9.99}\'; a tier left out has no revenue series',
    )
    cost_check_s: float = Field(300.0, ge=0, description="how often today's costs are checked for alerts; 0: never")
    cost_alert_person_usd: float = Field(
        1.0, ge=0, description="alert once a day when one person's cost today passes this; 0: no person alert"
    )
    cost_alert_day_usd: float = Field(
        50.0, ge=0, description="alert once a day when everyone's cost today passes this; 0: no daily alert"
    )
    cost_alert_whatsapp_to: str = Field(
        "", description="an admin's address (whatsapp:+1555... or +1555...) sent each cost alert; empty: none"
    )
    cost_alert_from: str = Field("", description="our number the admin alert is sent from; default: twilio_from")
    cost_alert_sns_topic_arn: str = Field("", description="an SNS topic each cost alert is published to; empty: none")
    analytics_hash_key: SecretStr = Field(
        SecretStr(""),
        description="HMAC-SHA256 key of the person ids in the analytics export; the export refuses without",
    )
    # --- end of operations ---
    # --- calendar and reminders: bot/calendar. Times are the person's local wall clock, "HH:MM". ---
    calendar_poll_s: float = Field(30.0, gt=0, description="how often the scheduler looks for due reminders")
    quiet_hours_start: str = Field("21:30", description="no reminder from then...")
    quiet_hours_end: str = Field("08:00", description="...until then: a job due meanwhile moves to the end")
    checkin_weekday: int = Field(6, ge=0, le=6, description="the weekly check-in's day: 0 Monday ... 6 Sunday")
    checkin_time: str = "18:00"
    plan_ready_time: str = Field("09:00", description="the plan-ready notice, on the morning a plan starts")
    meal_times: dict[str, str] = Field(
        default_factory=lambda: {"breakfast": "08:00", "lunch": "12:30", "dinner": "19:00"},
        description="when people eat, until the personal wing has learned a person's own times",
    )
    meal_time_min_confidence: float = Field(0.5, ge=0, le=1, description="a learned meal time counts from this")
    cooking_reminder_slots: tuple[str, ...] = Field(("dinner",), description="the planned meals that get a reminder")
    cooking_lead_min: int = Field(10, ge=0, description="a reminder comes this long before cooking must start")
    shopping_time: str = Field("10:00", description="the grocery shopping event, on the day before the plan starts")
    prep_time: str = Field("16:00", description="the meal-prep session, on the day before the plan starts")
    whatsapp_window_h: float = Field(24.0, gt=0, description="WhatsApp allows free text this long after their message")
    whatsapp_templates: dict[str, str] = Field(
        default_factory=dict,
        description="approved template (ContentSid HX...) per job kind, for outside the window, as JSON: "
        'BOT_WHATSAPP_TEMPLATES=\'{"checkin": "HX...", "cooking": "HX...", "plan_ready": "HX..."}\'',
    )
    calendar_link_key: SecretStr = Field(
        SecretStr(""), description="HMAC key of the ICS feed tokens; default: the Twilio auth token"
    )
    # Google Calendar (off by default; the ICS feed works with Google Calendar without it)
    google_calendar: bool = Field(False, description='"connect google calendar": OAuth, events in a dedicated calendar')
    google_client_id: str = ""
    google_client_secret: SecretStr = SecretStr("")
    google_auth_uri: str = "https://accounts.google.com/o/oauth2/auth"
    google_token_uri: str = Field("https://oauth2.googleapis.com/token", description="a local stand-in in tests")
    google_api_base: str | None = Field(None, description="replaces https://www.googleapis.com (a local stand-in)")
    google_token_key: SecretStr = Field(
        SecretStr(""), description="Fernet key (cryptography) the refresh tokens are encrypted with at rest"
    )
    google_state_ttl_s: float = Field(900.0, gt=0, description="a consent link expires after this")
    google_timeout_s: float = Field(10.0, gt=0)
    # --- end of calendar ---
    # --- work queue: bot/workqueue. "inprocess": each process polls the database; "sqs": replicas share SQS. ---
    work_queue: Literal["inprocess", "sqs"] = Field(
        "inprocess",
        description="where pending-photo retries and outbox sends are handed out: each process polling the "
        "database (one bot), or an SQS queue that several stateless replicas share (the database still decides)",
    )
    sqs_queue_url: str | None = Field(None, description="the SQS queue's URL (required with work_queue=sqs)")
    sqs_endpoint_url: str | None = Field(
        None, description="an SQS-compatible server's URL (a local stand-in); default: AWS SQS in aws_region"
    )
    sqs_visibility_s: int = Field(
        60, ge=1, le=43200, description="a received item is hidden this long; not deleted by then, it comes back"
    )
    sqs_wait_s: int = Field(5, ge=0, le=20, description="long poll of one receive (a stop waits at most this)")
    work_sweep_s: float = Field(
        30.0, gt=0, description="how often the database is asked what is overdue, and that re-enqueued"
    )
    work_grace_s: float = Field(
        10.0, ge=0, description="the sweep re-enqueues only what has been due this long (the queue had its chance)"
    )
    # --- end of work queue ---
    # --- voice notes (bot/voice): transcribed, then read like a typed message ---
    voice_engine: Literal["off", "pocketsphinx", "whisper", "transcribe"] = Field(
        "pocketsphinx",
        description="pocketsphinx: offline, the default; whisper: faster-whisper on voice_whisper_model; "
        "transcribe: Amazon Transcribe (needs an s3:// photo_store, where the notes are kept); off: not listened to",
    )
    voice_types: tuple[str, ...] = DEFAULT_VOICE_TYPES
    voice_max_seconds: float = Field(60.0, gt=0, description="longer notes are refused with a reply saying so")
    voice_max_bytes: int = Field(5 * 1024 * 1024, gt=0)
    voice_silence_db: float = Field(-45.0, lt=0, description="a note whose speech level is below this is silence")
    voice_sphinx_search: Literal["grammar", "ngram"] = Field(
        "grammar", description="pocketsphinx's language: our JSGF grammar, or a trigram model of the same sentences"
    )
    voice_sphinx_warps: tuple[float, ...] = Field(
        (0.9, 1.0, 1.1), description="vocal-tract warps each short note is decoded at (one pass each); [1.0]: one pass"
    )
    voice_whisper_model: Path | None = Field(
        None, description="a faster-whisper (CTranslate2) model folder on disk; never downloaded"
    )
    voice_language: str = Field("en-US", description="Amazon Transcribe's LanguageCode")
    voice_transcribe_vocabulary: str | None = Field(None, description="a Transcribe custom vocabulary name")
    voice_transcribe_timeout_s: float = Field(60.0, gt=0, description="a slower job is retried later")
    voice_transcribe_usd_per_minute: float = Field(0.024, ge=0, description="Amazon Transcribe's price (per second)")
    # --- end of voice notes ---

    @field_validator("public_url", "serving_url")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @field_validator(
        "quiet_hours_start", "quiet_hours_end", "checkin_time", "plan_ready_time", "shopping_time", "prep_time"
    )
    @classmethod
    def _clock(cls, value: str) -> str:
        hours, _, minutes = value.partition(":")
        if not (hours.isdigit() and minutes.isdigit() and int(hours) < 24 and int(minutes) < 60 and len(minutes) == 2):
            raise ValueError(f"{value!r} is not a time of day HH:MM")
        return f"{int(hours):02d}:{minutes}"

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown timezone {value!r}") from exc
        return value

    @model_validator(mode="after")
    def _consistent(self) -> BotSettings:
        if self.default_tier not in self.tiers:
            raise ValueError(f"default_tier {self.default_tier!r} is not one of the tiers {sorted(self.tiers)}")
        unknown = set(self.stripe_price_ids) - set(self.tiers)
        if unknown:
            raise ValueError(f"stripe_price_ids names tiers {sorted(unknown)} that are not among {sorted(self.tiers)}")
        if self.work_queue == "sqs" and not self.sqs_queue_url:
            raise ValueError("work_queue=sqs needs sqs_queue_url (BOT_SQS_QUEUE_URL)")
        if self.reply_budget_s >= TWILIO_GIVES_UP_S - 1:
            raise ValueError(
                f"reply_budget_s={self.reply_budget_s} leaves no margin before Twilio gives up at {TWILIO_GIVES_UP_S:.0f} s"
            )
        return self

    @property
    def webhook_url(self) -> str:
        """The URL Twilio signs for our webhook."""
        return self.public_url + WEBHOOK_PATH
