"""The outbox: a reply is written in the transaction that decides it, delivered once (TwiML or REST), and a
crash at any step leaves either everything or nothing — and never a second send of one row."""

import asyncio
import time
from datetime import UTC, datetime, timedelta

import pytest
from waiting import wait_for

from bot.channel.delivery import Delivery
from bot.channel.messenger import Messenger
from bot.coach.conversation import Conversation
from bot.devtools.simulate import reply_texts
from bot.settings import BotSettings
from bot.storage.records import DONE, PENDING, ItemRecord, MediaRef, utcnow
from bot.storage.sql.store import SqlStore


@pytest.fixture
def store(tmp_path):
    store = SqlStore(f"sqlite:///{tmp_path / 'bot.db'}")
    store.create_schema()
    yield store
    store.dispose()


def apple() -> ItemRecord:
    return ItemRecord(0, "apple", "Apple", 180, 150, 210, 94.0, 0.5, 0.3, 25.0, 0.9)


def inbound(store, sid="SM1"):
    user = store.get_or_create_user("+15550001", "free", "UTC")
    now = utcnow()
    media = [MediaRef("u", "image/jpeg")]
    record, _ = store.record_inbound(sid, user.id, "whatsapp:+15550001", "whatsapp:+1415", "", media, PENDING, now, now)
    return user, record


class Crash(Exception):
    pass


def test_a_crash_inside_the_unit_of_work_leaves_neither_meal_nor_reply(store):
    user, message = inbound(store)
    now = utcnow()
    with pytest.raises(Crash), store.unit_of_work():
        store.save_meal(message.id, user.id, "2026-12-02", now, [apple()], {}, [])
        store.finish_message(message.sid, DONE, None, now)
        raise Crash("the process dies before the reply is queued")
    assert store.meals(user.id) == [] and store.get_message(message.sid).status == PENDING

    with store.unit_of_work():
        store.save_meal(message.id, user.id, "2026-12-02", now, [apple()], {}, [])
        store.finish_message(message.sid, DONE, None, now)
        store.enqueue_outbound(message.sid, "result", "to", "from", "Apple", now, now, user.id)
    assert len(store.meals(user.id)) == 1 and store.get_message(message.sid).status == DONE
    assert [o["status"] for o in store.outbound(message.sid)] == ["queued"]


def test_a_crash_between_meal_and_outbox_in_the_app_is_redone_once(make_bot, monkeypatch):
    bot = make_bot(lease_s=0.5, retry_base_s=0.1)
    real = SqlStore.enqueue_outbound
    crashes = []

    def crash_once(self, *args, **kwargs):
        if not crashes:
            crashes.append(args[0])
            raise Crash("killed between the meal and its reply")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(SqlStore, "enqueue_outbound", crash_once)
    form = bot.form(photos=[bot.media_url(bot.jpeg())])
    response = bot.post(form)
    assert response.status_code == 200 and reply_texts(response.text) == []
    sid = form["MessageSid"]
    assert bot.store.get_message(sid).status == PENDING and bot.store.meals(bot.user_id()) == []

    (sent,) = bot.twilio.standin.wait_for_messages(1)  # the retry worker, once the lease expired
    assert sent["body"].startswith("Apple ~180 g")
    assert len(bot.store.meals(bot.user_id())) == 1 and bot.store.get_message(sid).status == DONE
    time.sleep(0.5)
    assert len(bot.twilio.standin.messages) == 1
    wait_for(lambda: [(o["kind"], o["status"]) for o in bot.store.outbound(sid)] == [("result", "sent")], "sent")


def test_a_text_whose_handling_died_is_taken_over_by_twilios_retry(make_bot, monkeypatch):
    bot = make_bot(lease_s=0.3, retry_poll_s=60.0)  # the worker stays asleep: the retry does the work
    real = Conversation.handle
    crashes = []

    def crash_once(self, user, message, now):
        turn = real(self, user, message, now)  # its effects are written... then the process "dies"
        if not crashes:
            crashes.append(message.sid)
            raise Crash("killed mid-way")
        return turn

    monkeypatch.setattr(Conversation, "handle", crash_once)
    form = bot.form("goal: lose weight")
    assert reply_texts(bot.post(form).text) == []
    assert bot.store.get_message(form["MessageSid"]).status == PENDING
    assert bot.store.get_profile(bot.user_id()).goal is None  # rolled back with the rest

    monkeypatch.setattr(Conversation, "handle", real)
    time.sleep(0.4)
    replies = reply_texts(bot.post(form).text)  # Twilio's retry of the same MessageSid
    assert replies and bot.store.get_profile(bot.user_id()).goal is not None
    kinds = bot.event_kinds(form["MessageSid"])
    assert "taken_over" in kinds and kinds.count("command") == 1
    assert reply_texts(bot.post(form).text) == replies  # asked again: the same answer, done once
    assert bot.event_kinds(form["MessageSid"]).count("command") == 1 and bot.twilio.standin.messages == []


def test_an_answered_text_is_marked_delivered_and_replayed_not_resent(bot):
    form = bot.form("help")
    first = reply_texts(bot.post(form).text)
    sid = form["MessageSid"]
    wait_for(lambda: {o["status"] for o in bot.store.outbound(sid)} == {"answered"})  # unconfirmed for 60 s
    assert reply_texts(bot.post(form).text) == first
    time.sleep(0.3)
    assert bot.twilio.standin.messages == []


def test_an_answer_that_went_out_too_late_for_twilio_is_sent_by_rest(make_bot, monkeypatch):
    """Twilio stops waiting after 15 s and drops TwiML answered later: replies in a late answer are not marked
    delivered, and a late replay claims none; the REST sender delivers them once their lease has run out."""
    import bot.channel.service as service

    bot = make_bot(lease_s=0.5, retry_poll_s=0.1)
    monkeypatch.setattr(service, "TWIML_DEADLINE_S", 0.0)  # every answer is late
    form = bot.form("help")
    late = reply_texts(bot.post(form).text)  # what Twilio never saw
    sid = form["MessageSid"]
    assert late and bot.store.outbound(sid)[0]["status"] == "queued"
    assert reply_texts(bot.post(form).text) == []  # a late retry: no replay claims the queued reply
    wait_for(lambda: bot.store.outbound(sid)[0]["status"] == "sent")
    assert [m["body"] for m in bot.twilio.standin.messages] == late  # by REST, once


@pytest.mark.parametrize("twilio_got_it", [True, False])
def test_a_twiml_reply_is_confirmed_at_twilio_and_sent_by_rest_only_if_twilio_never_got_it(make_bot, twilio_got_it):
    """A webhook response can go out after its client stopped waiting (Twilio does at 15 s): a reply it carried is
    `answered`, unconfirmed, until Twilio's message log says it has it; one it never got goes out by REST, once."""
    bot = make_bot(twiml_confirm_s=1.0, retry_poll_s=0.1)
    form = bot.form("help")
    answered = reply_texts(bot.post(form).text)
    sid = form["MessageSid"]
    assert answered
    if twilio_got_it:  # Twilio logs the <Message>s of a TwiML answer it received (as fault_traffic.py's client does)
        for body in answered:
            bot.twilio.standin.record_reply(form["From"], form["To"], body, datetime.now(UTC))
    # else: the client abandoned the response, so nothing is logged at Twilio
    wait_for(lambda: {o["status"] for o in bot.store.outbound(sid)} == {"sent"})
    time.sleep(0.5)  # more rounds of the delivery worker: nothing more goes out
    assert [m["body"] for m in bot.twilio.standin.messages] == ([] if twilio_got_it else answered)
    (row,) = bot.store.outbound(sid)
    assert row["twilio_sid"] and row["attempts"] == 1
    found = [e.detail.get("found_after_crash") for e in bot.store.events(sid) if e.kind == "replied"]
    assert found == ([None, True] if twilio_got_it else [None, None])  # the TwiML answer, then its confirmation


def settings_for(twilio_url: str, tmp_path) -> BotSettings:
    return BotSettings(
        database_url=f"sqlite:///{tmp_path / 'unused.db'}",
        twilio_api_base_url=twilio_url,
        retry_base_s=0.1,
        retry_max_s=0.2,
        lease_s=30,
    )


@pytest.mark.parametrize("left", ["sending", "answered by TwiML"])
@pytest.mark.parametrize("reached_twilio", [True, False])
def test_a_reply_cut_short_by_a_crash_is_looked_up_not_sent_twice(store, twilio_api, tmp_path, reached_twilio, left):
    standin = twilio_api.standin
    messenger = Messenger(standin.account_sid, standin.auth_token, twilio_api.url)
    user, message = inbound(store)
    now = utcnow()
    to, sender = "whatsapp:+15550001", "whatsapp:+1415"
    gone = now - timedelta(seconds=1)  # the lease of the process that died
    row = store.enqueue_outbound(message.sid, "result", to, sender, "Apple ~180 g", now, gone, user.id)
    if left == "sending":
        assert store.claim_outbound(row.id, now, gone) is not None
        if reached_twilio:  # ...and the process died before it could mark it sent
            messenger.send(to, sender, "Apple ~180 g")
    elif reached_twilio:  # a webhook response carried it; the process died before marking it
        standin.record_reply(to, sender, "Apple ~180 g", datetime.now(UTC))
    standin.record_reply(to, sender, "Apple ~180 g", datetime.now(UTC) - timedelta(minutes=5))  # an older reply

    delivery = Delivery(settings_for(twilio_api.url, tmp_path), store, messenger)
    assert asyncio.run(delivery.retry_due()) == 1
    # once in all: sent before the crash, or now; a TwiML answer Twilio logged is found, not sent again
    assert len(standin.messages) == (0 if reached_twilio and left != "sending" else 1)
    (outbound,) = store.outbound(message.sid)
    assert outbound["status"] == "sent"
    found = [e.detail.get("found_after_crash") for e in store.events(message.sid) if e.kind == "replied"]
    assert found == ([True] if reached_twilio else [None])
    assert asyncio.run(delivery.retry_due()) == 0


def test_replies_given_up_on_are_dead_letters(make_bot):
    bot = make_bot(reply_budget_s=0.2, retry_max_attempts=2, retry_base_s=0.05, retry_max_s=0.1)
    bot.model.standin.delay_s = 0.4
    bot.twilio.standin.fail_sends = 100
    form = bot.form(photos=[bot.media_url(bot.jpeg())])
    bot.post(form)
    wait_for(lambda: bool(bot.store.dead_letters()))
    (dead,) = bot.store.dead_letters()
    assert dead["message_sid"] == form["MessageSid"] and dead["attempts"] == 2 and "500" in dead["last_error"]
    assert dead["user_id"] == bot.user_id()


def test_the_admin_cli_lists_dead_letters(make_bot):
    from typer.testing import CliRunner

    from bot.admin import app

    bot = make_bot(reply_budget_s=0.2, retry_max_attempts=1, retry_base_s=0.05)
    bot.model.standin.delay_s = 0.4
    bot.twilio.standin.fail_sends = 100
    form = bot.form(photos=[bot.media_url(bot.jpeg())])
    bot.post(form)
    wait_for(lambda: bool(bot.store.dead_letters()))
    result = CliRunner().invoke(app, ["dead-letters", "--database-url", bot.settings.database_url])
    assert result.exit_code == 0, result.output
    assert "replies never sent: 1" in result.output and form["MessageSid"] in result.output
    assert "stand-in failure" in result.output or "500" in result.output


def test_a_lookup_takes_the_earliest_message_in_the_same_words(twilio_api):
    """Two replies in the same words (two "help"s) confirmed in turn: each finds its own message at Twilio."""
    standin = twilio_api.standin
    messenger = Messenger(standin.account_sid, standin.auth_token, twilio_api.url)
    to, sender, at = "whatsapp:+15550001", "whatsapp:+1415", datetime.now(UTC).replace(microsecond=0)
    first = standin.record_reply(to, sender, "Commands: ...", at - timedelta(seconds=10))
    second = standin.record_reply(to, sender, "Commands: ...", at - timedelta(seconds=5))
    assert messenger.find_sent(to, sender, "Commands: ...", at - timedelta(seconds=12)) == first
    assert messenger.find_sent(to, sender, "Commands: ...", at - timedelta(seconds=7), {first}) == second
    assert messenger.find_sent(to, sender, "Commands: ...", at - timedelta(seconds=7), {first, second}) is None
