"""What the public bot refuses or hides (oversized webhooks, API docs, database errors in /healthz), and what a
person's data rights mean: a bare "yes" does not delete, "yes delete" deletes their media at Twilio too (the real
twilio client against the LOCAL STAND-IN), and the export holds every event about them."""

import json
import logging
import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from waiting import wait_for

from bot.channel.messenger import MediaDeletionFailed, Messenger
from bot.coach.forget import HOW_TO_CONFIRM, confirmation
from bot.devtools.simulate import new_sid, reply_texts
from bot.storage.records import MediaRef, utcnow
from bot.storage.sql.store import SqlStore

BOB = "+15550002"
DELETED = "Done: everything I had about you is deleted. Message me any time to start again."


# the webhook's body cap
def test_a_body_over_the_cap_is_refused_before_it_is_read_whole_or_checked(make_bot, caplog):
    bot = make_bot(webhook_max_bytes=2048)
    assert bot.send("hi")  # a real webhook is far below the cap
    big = bot.form("x" * 4000)
    body, headers = bot.signed(big)
    caplog.set_level(logging.WARNING, logger="bot.channel.webhook")

    declared = httpx.post(bot.webhook, content=body, headers=headers, timeout=10, trust_env=False)
    assert declared.status_code == 413
    chunks = (body[i : i + 500] for i in range(0, len(body), 500))  # a generator: chunked, no Content-Length
    streamed = httpx.post(bot.webhook, content=chunks, headers=headers, timeout=10, trust_env=False)
    assert streamed.status_code == 413

    assert bot.store.get_message(big["MessageSid"]) is None
    refusals = [r.getMessage() for r in caplog.records if "-byte cap" in r.getMessage()]
    assert len(refusals) == 2 and "127.0.0.1" in refusals[0] and f"declares {len(body)} bytes" in refusals[0]
    assert "sent at least" in refusals[1] and not any("xxxx" in r for r in refusals)


def test_a_chunked_body_under_the_cap_is_read_whole(bot):
    form = bot.form("hi")
    body, headers = bot.signed(form)
    chunks = (body[i : i + 7] for i in range(0, len(body), 7))
    response = httpx.post(bot.webhook, content=chunks, headers=headers, timeout=10, trust_env=False)
    assert response.status_code == 200 and reply_texts(response.text)
    assert bot.store.get_message(form["MessageSid"]).body == "hi"


# what the public app shows
def test_no_api_docs_unless_asked_for(make_bot):
    bot = make_bot()
    for path in ("/docs", "/redoc", "/openapi.json"):
        assert httpx.get(bot.server.url + path, trust_env=False).status_code == 404, path
    bot.server.stop()
    dev = make_bot(api_docs=True)  # BOT_API_DOCS=true, for development
    assert "/twilio/webhook" in httpx.get(dev.server.url + "/openapi.json", trust_env=False).json()["paths"]


def test_healthz_says_error_without_the_databases_words(bot, caplog):
    assert httpx.get(bot.server.url + "/healthz", trust_env=False).json()["status"] == "ok"
    with bot.store.engine.begin() as connection:
        connection.exec_driver_sql("ALTER TABLE messages RENAME TO messages_gone")
    caplog.set_level(logging.ERROR, logger="bot.app")
    response = httpx.get(bot.server.url + "/healthz", trust_env=False)
    assert response.status_code == 503 and response.json() == {"status": "error"}
    assert any("no such table" in (r.exc_text or "") for r in caplog.records if r.name == "bot.app")


# delete means delete
@pytest.mark.parametrize(
    ("said", "reads"),
    [
        ("yes delete", "delete"),
        ("Yes, delete!", "delete"),
        ("confirm delete", "delete"),
        ("yes please delete my data", "delete"),
        ("yes", "ask_again"),
        ("Y.", "ask_again"),
        ("delete", "ask_again"),
        ("no", "cancel"),
        ("yes don't delete", "cancel"),
        ("2 eggs", "cancel"),
    ],
)
def test_what_confirms_a_delete(said, reads):
    assert confirmation(said) == reads


def test_a_bare_yes_does_not_delete_and_yes_delete_deletes_their_media_at_twilio(bot):
    standin = bot.twilio.standin

    def photo_from(sender: str) -> str:
        sid = new_sid()
        name = standin.add_media(bot.jpeg(), "image/jpeg", message_sid=sid)
        url = f"{bot.twilio.url}/media/{name}"
        assert bot.send(photos=[(url, "image/jpeg")], sid=sid, sender=sender)
        return sid

    alice_photo, bob_photo = photo_from(bot.sender), photo_from(BOB)
    bot.send("hello")  # a message without media: nothing to delete at Twilio
    alice = bot.user_id()
    assert bot.send("delete my data")[0].startswith("This deletes everything")
    assert bot.send("yes") == [HOW_TO_CONFIRM]
    assert len(bot.store.meals(alice)) == 1 and standin.deleted_media == []
    assert bot.send("yes delete") == [DELETED]  # the question was still open

    ((message_sid, media_sid),) = standin.wait_for_deleted_media(1)
    assert message_sid == alice_photo and media_sid.startswith("ME")
    assert standin.message_media[alice_photo] == {} and len(standin.message_media[bob_photo]) == 1
    assert bot.store.get_message(alice_photo) is None and bot.store.get_message(bob_photo) is not None
    time.sleep(0.2)
    assert len(standin.deleted_media) == 1  # only theirs, and only the messages that had media


def test_anything_else_keeps_the_data(bot):
    bot.send_photo()
    bot.send("delete my data")
    assert bot.send("no thanks") == ["OK, I kept your data."]
    assert bot.send("yes delete") != [DELETED]  # the question is closed
    assert bot.store.meals(bot.user_id())


def test_delete_media_by_the_real_twilio_client(twilio_api):
    standin = twilio_api.standin
    messenger = Messenger(standin.account_sid, standin.auth_token, twilio_api.url, timeout_s=5)
    standin.add_media(b"one", "image/jpeg", message_sid="MM1")
    standin.add_media(b"two", "image/png", message_sid="MM1")
    assert messenger.delete_media("MM1") == 2 and len(standin.deleted_media) == 2 and standin.media == {}
    assert messenger.delete_media("MM1") == 0  # nothing left
    assert messenger.delete_media("MM404") == 0  # a message Twilio doesn't have: already gone
    standin.add_media(b"three", "image/jpeg", message_sid="MM2")
    wrong = Messenger(standin.account_sid, "not-the-token", twilio_api.url, timeout_s=5)
    with pytest.raises(MediaDeletionFailed, match=r"MM2.*HTTP 401"):
        wrong.delete_media("MM2")
    with pytest.raises(MediaDeletionFailed, match="no Twilio account SID"):
        Messenger("", standin.auth_token, twilio_api.url).delete_media("MM2")


# the export holds every event about the person
def test_the_export_holds_the_delivery_events_of_a_slow_reply(make_bot):
    bot = make_bot(reply_budget_s=1.5)  # the export's own text must make the TwiML answer on a busy machine
    bot.model.standin.delay_s = 2.5
    form = bot.form(photos=[bot.media_url(bot.jpeg())])
    bot.post(form)
    bot.twilio.standin.wait_for_messages(1)
    sid = form["MessageSid"]
    wait_for(lambda: any(e.kind == "replied" and e.detail.get("via") == "rest" for e in bot.store.events(sid)))

    exported = json.loads("".join(bot.send("export my data")))
    events = [(e["message_sid"], e["kind"], e["detail"].get("via")) for e in exported["events"]]
    assert (sid, "replied", "rest") in events and (sid, "received", None) in events
    assert len({e["id"] for e in exported["events"]}) == len(exported["events"])


def test_export_and_delete_find_events_by_user_or_by_their_messages(tmp_path):
    store = SqlStore(f"sqlite:///{tmp_path / 'bot.db'}")
    try:
        store.create_schema()
        now = utcnow()
        alice = store.get_or_create_user("+15550001", "free", "UTC")
        bob = store.get_or_create_user(BOB, "free", "UTC")
        photo = MediaRef("https://api.twilio.com/media/1", "image/jpeg")
        for sid, user, media in (("SMphoto", alice, [photo]), ("SMtext", alice, []), ("SMbob", bob, [photo])):
            store.record_inbound(sid, user.id, "whatsapp:+1", "whatsapp:+2", "", media, "received", now, None)
        store.add_event("replied", now, "SMphoto", detail={"via": "rest"})  # no user id: as delivery logs it
        store.add_event("received", now, "SMtext", alice.id)  # both: exported once
        store.add_event("limited", now, None, alice.id)
        store.add_event("received", now, "SMbob", bob.id)

        kinds = sorted((e["message_sid"] or "", e["kind"]) for e in store.export_user(alice.id)["events"])
        assert kinds == [("", "limited"), ("SMphoto", "replied"), ("SMtext", "received")]

        deleted = store.delete_user(alice.id)
        assert deleted.media_messages == ["SMphoto"] and deleted.orphan_photos == []
        assert [e.message_sid for e in store.events()] == ["SMbob"]
    finally:
        store.dispose()


# the outbox's lookup after a crash
def test_find_sent_by_the_real_twilio_client(twilio_api):
    standin = twilio_api.standin
    messenger = Messenger(standin.account_sid, standin.auth_token, twilio_api.url, timeout_s=5)
    before = utcnow()
    sid = messenger.send("whatsapp:+15550001", "+14155238886", "Apple ~180 g")
    assert standin.messages[0]["from"] == "whatsapp:+14155238886"  # the sender gets the channel prefix

    assert messenger.find_sent("whatsapp:+15550001", "+14155238886", "Apple ~180 g", before) == sid
    assert messenger.find_sent("whatsapp:+15550001", "whatsapp:+14155238886", "Apple ~180 g", before) == sid
    assert messenger.find_sent("whatsapp:+15550001", "+14155238886", "Apple ~180 g!", before) is None
    assert messenger.find_sent("whatsapp:+15550002", "+14155238886", "Apple ~180 g", before) is None
    later = before + timedelta(minutes=5)  # same day for Twilio's filter: the time is checked by us
    assert messenger.find_sent("whatsapp:+15550001", "+14155238886", "Apple ~180 g", later) is None

    yesterday = datetime.now(UTC) - timedelta(days=1)
    old = standin.record_sent("whatsapp:+15550001", "whatsapp:+14155238886", "old news", yesterday)
    found = messenger.find_sent("whatsapp:+15550001", "+14155238886", "old news", yesterday - timedelta(minutes=1))
    assert found == old
    assert messenger.find_sent("whatsapp:+15550001", "+14155238886", "old news", datetime.now(UTC)) is None


def test_twilio_media_of_a_deletion_is_queued_in_its_transaction_and_retried_until_twilio_takes_it(
    twilio_api, tmp_path
):
    import asyncio

    from bot.channel.media_purge import MediaPurge
    from bot.settings import BotSettings

    standin = twilio_api.standin
    store = SqlStore(f"sqlite:///{tmp_path / 'bot.db'}")
    store.create_schema()
    user = store.get_or_create_user("+15550009", "free", "UTC")
    now = utcnow()
    standin.add_media(b"\xff\xd8\xff jpeg", "image/jpeg", message_sid="MMgone")
    media = [MediaRef("https://api.twilio.com/x", "image/jpeg")]
    store.record_inbound("MMgone", user.id, "whatsapp:+15550009", "whatsapp:+1415", "", media, "done", now, None)
    store.delete_user(user.id)
    assert [row["message_sid"] for row in store.media_deletions()] == ["MMgone"]  # written with the delete

    settings = BotSettings(database_url="sqlite://", retry_base_s=0.01, retry_max_s=0.01, lease_s=30)
    refused = MediaPurge(settings, store, Messenger(standin.account_sid, "wrong-token", twilio_api.url))
    assert asyncio.run(refused.run_due()) == 1
    (row,) = store.media_deletions()
    assert row["attempts"] == 1 and "MMgone" in row["last_error"] and standin.deleted_media == []

    time.sleep(0.05)
    purge = MediaPurge(settings, store, Messenger(standin.account_sid, standin.auth_token, twilio_api.url))
    assert asyncio.run(purge.run_due()) == 1
    assert store.media_deletions() == [] and [m for m, _ in standin.deleted_media] == ["MMgone"]
    store.dispose()
