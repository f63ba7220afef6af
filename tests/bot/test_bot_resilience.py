"""The bot when things go wrong or get busy: model server down and back, slow analyses (REST delivery
through the real twilio Client to a LOCAL STAND-IN of the Messages API), REST failures, concurrency."""

import asyncio
import random
import time

import httpx
from waiting import wait_for

from bot.channel.answers import ack_reply
from bot.devtools.simulate import reply_texts
from bot.devtools.standins import ServerThread
from bot.photos.meal_reply import UNAVAILABLE
from bot.settings import WEBHOOK_PATH


def test_model_server_down_then_up_the_retry_delivers(bot):
    port = bot.model.server.port
    bot.model.server.stop()
    form = bot.form(photos=[bot.media_url(bot.jpeg())])
    assert reply_texts(bot.post(form).text) == [UNAVAILABLE]
    sid = form["MessageSid"]
    assert bot.store.get_message(sid).status == "pending"
    wait_for(lambda: bot.event_kinds(sid).count("analysis_failed") >= 3)  # retries fail quietly while it is down
    assert bot.twilio.standin.messages == []

    restarted = ServerThread(bot.model.standin.app(), port=port).start()
    try:
        (sent,) = bot.twilio.standin.wait_for_messages(1)
    finally:
        restarted.stop()
    assert sent["to"] == "whatsapp:" + bot.sender and sent["from"] == "whatsapp:" + bot.number
    assert sent["body"].startswith("Apple ~180 g (150–210 g), 94 kcal")
    assert bot.store.get_message(sid).status == "done"
    assert len(bot.store.meals(bot.user_id())) == 1
    kinds = bot.event_kinds(sid)
    assert kinds[:3] == ["received", "analysis_failed", "replied"] and kinds[-2:] == ["analysed", "replied"]
    time.sleep(0.3)
    assert len(bot.twilio.standin.messages) == 1 and bot.model.standin.calls == 1


def test_pending_messages_are_retried_when_the_bot_starts(make_bot):
    first = make_bot(retry_base_s=0.3)
    port = first.model.server.port
    first.model.server.stop()
    form = first.form(photos=[first.media_url(first.jpeg())])
    assert reply_texts(first.post(form).text) == [UNAVAILABLE]
    first.server.stop()  # the bot goes away with the message still pending

    restarted = ServerThread(first.model.standin.app(), port=port).start()
    try:
        second = make_bot()  # same database file
        (sent,) = second.twilio.standin.wait_for_messages(1)
    finally:
        restarted.stop()
    assert "Apple ~180 g" in sent["body"]
    assert second.store.get_message(form["MessageSid"]).status == "done"


def test_slow_analysis_is_acknowledged_then_delivered_with_the_rest_client(make_bot):
    bot = make_bot(reply_budget_s=0.3)
    bot.model.standin.delay_s = 1.0
    form = bot.form(photos=[bot.media_url(bot.jpeg())])
    started = time.perf_counter()
    response = bot.post(form)
    assert time.perf_counter() - started < 0.9
    assert reply_texts(response.text) == [ack_reply(1)]

    (sent,) = bot.twilio.standin.wait_for_messages(1)
    assert sent["to"] == "whatsapp:" + bot.sender and "Apple ~180 g" in sent["body"] and "Today so far" in sent["body"]
    assert bot.post(form).text == response.text  # a Twilio retry now: the same acknowledgement, nothing new
    time.sleep(0.3)
    assert len(bot.twilio.standin.messages) == 1 and bot.model.standin.calls == 1
    (outbound,) = wait_for(lambda: [o for o in bot.store.outbound(form["MessageSid"]) if o["status"] == "sent"], "sent")
    assert outbound["twilio_sid"] == sent["sid"]
    assert bot.event_kinds(form["MessageSid"]) == ["received", "acknowledged", "analysed", "replied", "duplicate"]


def test_slow_then_failing_analysis_says_so_once_then_delivers(make_bot):
    bot = make_bot(reply_budget_s=0.2, retry_base_s=0.5)
    bot.model.standin.delay_s, bot.model.standin.fail_status = 0.4, 503
    form = bot.form(photos=[bot.media_url(bot.jpeg())])
    assert reply_texts(bot.post(form).text) == [ack_reply(1)]
    (told,) = bot.twilio.standin.wait_for_messages(1)
    assert told["body"] == UNAVAILABLE
    bot.model.standin.delay_s, bot.model.standin.fail_status = 0.0, None
    told, result = bot.twilio.standin.wait_for_messages(2)
    assert result["body"].startswith("Apple")
    assert [o["kind"] for o in bot.store.outbound(form["MessageSid"])] == ["unavailable", "result"]


def test_a_failing_messages_api_is_retried_until_the_reply_goes_out(make_bot):
    bot = make_bot(reply_budget_s=0.2)
    bot.model.standin.delay_s = 0.4
    bot.twilio.standin.fail_sends = 2
    form = bot.form(photos=[bot.media_url(bot.jpeg())])
    bot.post(form)
    (sent,) = bot.twilio.standin.wait_for_messages(1)
    assert sent["body"].startswith("Apple")
    (outbound,) = bot.store.outbound(form["MessageSid"])
    assert outbound["attempts"] == 3
    assert bot.event_kinds(form["MessageSid"]).count("reply_failed") == 2


async def _post_all(bot, url: str, forms: list[dict]) -> list[tuple[httpx.Response, float]]:
    limits = httpx.Limits(max_connections=len(forms))
    async with httpx.AsyncClient(limits=limits, timeout=30, trust_env=False) as client:

        async def one(form):
            body, headers = bot.signed(form)
            started = time.perf_counter()
            response = await client.post(url, content=body, headers=headers)
            return response, time.perf_counter() - started

        return await asyncio.gather(*(one(form) for form in forms))


def test_fifty_concurrent_webhooks_no_errors_no_duplicates(make_bot):
    bot = make_bot(default_tier="premium")
    senders = [f"+1555010{i:04d}" for i in range(5)]
    originals = [bot.form(photos=[bot.media_url(bot.jpeg())], sender=senders[i % 5]) for i in range(40)]
    forms = originals + originals[:10]  # Twilio retries arriving alongside their originals
    random.Random(6).shuffle(forms)

    started = time.perf_counter()
    results = asyncio.run(_post_all(bot, bot.server.url + WEBHOOK_PATH, forms))
    elapsed = time.perf_counter() - started

    assert [r.status_code for r, _ in results] == [200] * 50
    answered = [reply_texts(r.text) for r, _ in results]
    assert sum(bool(texts) for texts in answered) >= 40  # a retry in flight answers nothing: its original does
    assert all(texts[0].startswith("Apple") for texts in answered if texts)
    assert bot.model.standin.calls == 40
    for sid in {form["MessageSid"] for form in originals}:
        assert bot.event_kinds(sid).count("analysed") == 1
    day = bot.store.meals(bot.user_id(senders[0]))[0].day
    for sender in senders:
        user_id = bot.user_id(sender)
        assert len(bot.store.meals(user_id)) == 8
        totals = bot.store.day_totals(user_id, day)
        assert totals.meals == 8 and abs(totals.kcal - 8 * 200.4) < 1e-6
        assert bot.store.usage(user_id, "day", day)["photos"] == 8
        assert bot.store.usage(user_id, "day", day)["messages"] == 8  # retries are not counted
    latencies = sorted(t for _, t in results)
    print(f"50 concurrent webhooks in {elapsed:.2f} s; p50 {latencies[24]:.3f} s, max {latencies[-1]:.3f} s")
    assert elapsed < 30


def test_concurrent_photos_cannot_pass_the_daily_limit(bot):
    forms = [bot.form(photos=[bot.media_url(bot.jpeg())]) for _ in range(12)]  # free tier: 3 a day
    results = asyncio.run(_post_all(bot, bot.webhook, forms))
    texts = [reply_texts(r.text) for r, _ in results]
    assert sum(t[:1] != [] and t[0].startswith("Apple") for t in texts) == 3
    assert sum(t[:1] != [] and t[0].startswith("You've used") for t in texts) == 1  # one notice, then quiet
    assert bot.model.standin.calls == 3 and len(bot.store.meals(bot.user_id())) == 3
