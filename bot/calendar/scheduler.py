"""The reminder worker, started with the app: every `calendar_poll_s` it plans the jobs of plans made or changed
since its last look, then claims the due jobs and sends each through the Twilio client.

Each job is sent once: it is claimed (leased) in one guarded update, its words are written before the Twilio call
and its SID after. A job whose sender died mid-send is looked up at Twilio (free text, as the outbox does) before
it is sent again; a template cannot be matched by its words, so one left mid-send is marked `unknown`, never sent
twice. On WhatsApp, free text may only go within `whatsapp_window_h` of the person's last message: outside it the
job's approved template goes (`whatsapp_templates`), or nothing when there is none for its kind.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta

from bot.calendar.google import GoogleCalendar, GoogleRevoked, GoogleUnavailable
from bot.calendar.reminders import Reminders
from bot.calendar.times import after_quiet_hours, clock, in_quiet_hours, local
from bot.channel.delivery import LOOKUP_SLACK
from bot.channel.messenger import DeliveryFailed, Messenger
from bot.channel.periodic import PeriodicWorker
from bot.photos.meal_analysis import retry_delay
from bot.settings import BotSettings
from bot.storage.protocols import CalendarBotStore, off_loop
from bot.storage.records import JobRecord, utcnow

log = logging.getLogger(__name__)
PLAN_LOOKBACK = timedelta(days=8)  # at start, plans changed this recently get their jobs (idempotent: keyed)
TEXT, TEMPLATE = "text", "template"


class ReminderScheduler(PeriodicWorker):
    name, what = "bot-reminders", "reminder pass"
    left = "claimed jobs are taken again when their lease expires"
    drain = True

    def __init__(
        self,
        settings: BotSettings,
        store: CalendarBotStore,
        messenger: Messenger,
        reminders: Reminders,
        google: GoogleCalendar | None = None,
    ):
        super().__init__(settings.calendar_poll_s)
        self.settings = settings
        self.store = store
        self.messenger = messenger
        self.reminders = reminders
        self.google = google
        self.since = utcnow() - PLAN_LOOKBACK
        self._google_due: set[int] = set()  # connected people whose plan changed: synced this pass or a later one

    def plan_changed(self, now: datetime) -> int:
        """Schedule the jobs of plans made or edited since the last pass (blocking)."""
        changed = self.store.plans_changed_since(self.since)
        for plan in changed:
            try:
                self.reminders.plan_jobs(plan, now)
            except Exception:  # one bad plan must not stop every reminder; it is planned again when next changed
                log.exception("could not plan the reminders of plan %s", plan.id)
            self.since = max(self.since, plan.updated_at)
            self._google_due.add(plan.user_id)
        if self.google is not None:
            self.sync_google(now)
        return len(changed)

    def sync_google(self, now: datetime) -> None:
        """Push changed plans to the Google calendars of the people connected; a failure is tried next pass."""
        connected = set(self.store.google_connected())
        for user_id in sorted(self._google_due & connected):
            try:
                self.google.sync(user_id, now)
            except GoogleUnavailable as exc:
                log.warning("Google sync of user %s failed, tried again next pass: %s", user_id, exc)
                continue
            except GoogleRevoked:
                pass  # disconnected, and told
            self._google_due.discard(user_id)
        self._google_due &= connected

    def send_due(self, now: datetime, limit: int = 16) -> int:
        """Claim and send the jobs that are due (blocking); how many were claimed."""
        lease = timedelta(seconds=self.settings.lease_s)
        due = self.store.claim_due_jobs(now, now + lease, limit)
        for job in due:
            try:
                self.run_job(job, utcnow())
            except Exception:  # one bad job must not hold the others; its lease expires and it is tried again
                log.exception("scheduled job %s failed", job.key)
        return len(due)

    def run_job(self, job: JobRecord, now: datetime) -> str:
        """Send one claimed job; the status it ends in."""
        store, s = self.store, self.settings
        try:
            user = store.get_user(job.user_id)
        except KeyError:
            return self._finish(job, "skipped", now, last_error="the person is gone")
        if user.opted_out:
            return self._finish(job, "skipped", now, last_error="opted out")
        if in_quiet_hours(local(now, user.timezone).time(), clock(s.quiet_hours_start), clock(s.quiet_hours_end)):
            later = after_quiet_hours(now, user.timezone, s.quiet_hours_start, s.quiet_hours_end)
            return self._finish(job, "pending", now, due_at=later, last_error="quiet hours")
        last = store.last_inbound(user.id)
        if last is None:
            return self._finish(job, "skipped", now, last_error="the person never wrote to us")
        to, from_ = last.from_addr, last.to_addr
        if job.unknown_since is not None:
            if job.via == TEMPLATE:
                return self._finish(job, "unknown", now, last_error="template sender died mid-send: not sent again")
            if job.via == TEXT and job.body:
                try:
                    found = self.messenger.find_sent(to, from_, job.body, job.unknown_since - LOOKUP_SLACK)
                except DeliveryFailed as exc:  # still unknown: it stays `sending`, asked again when the lease ends
                    later = now + timedelta(seconds=retry_delay(job.attempts, s.retry_base_s, s.retry_max_s))
                    return self._finish(job, "sending", now, lease_until=later, last_error=f"lookup failed: {exc}")
                if found:
                    return self._sent(job, user, found, TEXT, now, recovered=True)
        message = self.reminders.compose(job, user, now)
        if message is None:
            return self._finish(job, "skipped", now, last_error="nothing to say (the plan changed)")
        whatsapp = to.startswith("whatsapp:")
        if whatsapp and now - last.at >= timedelta(hours=s.whatsapp_window_h):
            content_sid = s.whatsapp_templates.get(job.kind)
            if not content_sid:
                error = f"outside WhatsApp's {s.whatsapp_window_h:g} h window and no template for {job.kind!r}"
                return self._finish(job, "skipped", now, last_error=error)
            store.job_sending(job.id, json.dumps(message.variables), TEMPLATE, now, now + self._lease())
            send = lambda: self.messenger.send_template(to, from_, content_sid, message.variables)  # noqa: E731
            via = TEMPLATE
        else:
            store.job_sending(job.id, message.text, TEXT, now, now + self._lease())
            send = lambda: self.messenger.send(to, from_, message.text)  # noqa: E731
            via = TEXT
        try:
            twilio_sid = send()
        except DeliveryFailed as exc:
            return self._retry(job, now, str(exc))
        return self._sent(job, user, twilio_sid, via, now)

    def _lease(self) -> timedelta:
        return timedelta(seconds=self.settings.lease_s)

    def _sent(self, job: JobRecord, user, twilio_sid: str, via: str, now: datetime, recovered: bool = False) -> str:
        with self.store.unit_of_work():
            self.store.finish_job(job.id, "sent", now, twilio_sid=twilio_sid)
            detail = {"job": job.key, "kind": job.kind, "via": via, "twilio_sid": twilio_sid}
            if recovered:
                detail["found_after_crash"] = True
            self.store.add_event("reminder_sent", now, None, user.id, detail=detail)
            self.reminders.after_sent(job, user, now)
        log.info("job %s sent as %s (%s)", job.key, via, twilio_sid)
        return "sent"

    def _retry(self, job: JobRecord, now: datetime, error: str) -> str:
        s = self.settings
        if job.attempts >= s.retry_max_attempts:
            log.error("job %s given up after %d attempts: %s", job.key, job.attempts, error)
            return self._finish(job, "failed", now, last_error=error)
        delay = retry_delay(job.attempts, s.retry_base_s, s.retry_max_s)
        log.warning("job %s not sent (attempt %d): %s", job.key, job.attempts, error)
        return self._finish(job, "pending", now, due_at=now + timedelta(seconds=delay), last_error=error)

    def _finish(self, job: JobRecord, status: str, now: datetime, **values) -> str:
        self.store.finish_job(job.id, status, now, **values)
        if status != "pending":
            log.info("job %s %s: %s", job.key, status, values.get("last_error", ""))
        return status

    async def run_once(self) -> int:
        now = utcnow()
        planned = await off_loop(self.plan_changed, now)
        return planned + await off_loop(self.send_due, now)
