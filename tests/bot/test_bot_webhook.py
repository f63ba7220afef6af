"""The webhook end to end over loopback HTTP: signatures, idempotency, media rules, commands and limits.

The model server and Twilio are LOCAL STAND-INS (bot/devtools/standins.py) reached over real HTTP.
"""

import logging

import httpx

from bot.chat_text import GSM7_BASIC, GSM7_EXTENSION
from bot.coach.commands import HELP
from bot.coach.wording import NOTHING_TO_UNDO, STARTED, STOPPED
from bot.devtools.simulate import reply_texts
from bot.ledger import period_keys
from bot.settings import DEFAULT_TIERS, TierLimits
from bot.storage.records import utcnow


def test_forged_or_missing_signatures_are_refused_and_logged(bot, caplog):
    form = bot.form("help")
    body, headers = bot.signed(form)
    with caplog.at_level(logging.WARNING, logger="bot.channel.webhook"):
        forged = httpx.post(bot.webhook, content=body, headers={**headers, "X-Twilio-Signature": "Zm9yZ2Vk"})
        missing = httpx.post(bot.webhook, content=body, headers={"Content-Type": headers["Content-Type"]})
        # signed for the address the bot listens on, not the public URL Twilio was given
        _, local_headers = bot.signed(form, url=bot.server.url)
        wrong_host = httpx.post(bot.webhook, content=body, headers=local_headers)
        _, wrong_token_headers = bot.signed(form, token="not-the-token")
        wrong_token = httpx.post(bot.webhook, content=body, headers=wrong_token_headers)
    assert [r.status_code for r in (forged, missing, wrong_host, wrong_token)] == [403] * 4
    assert caplog.text.count("refused webhook") == 4 and "missing X-Twilio-Signature" in caplog.text
    assert bot.store.get_message(form["MessageSid"]) is None and bot.store.events() == []
    ok = httpx.post(bot.webhook, content=body, headers=headers)
    assert ok.status_code == 200 and ok.headers["content-type"].startswith("application/xml")
    assert reply_texts(ok.text) == [HELP]


def test_a_replayed_message_sid_logs_one_meal_and_replays_the_reply(bot):
    form = bot.form(photos=[bot.media_url(bot.jpeg())])
    first = bot.post(form)
    again = bot.post(form)
    assert first.status_code == again.status_code == 200
    assert again.text == first.text and "Apple ~180 g" in first.text
    assert bot.model.standin.calls == 1
    assert len(bot.store.meals(bot.user_id())) == 1
    kinds = bot.event_kinds(form["MessageSid"])
    assert kinds.count("analysed") == 1 and kinds.count("duplicate") == 1 and kinds.count("replied") == 1


def test_non_image_media_is_refused_without_download_or_quota(bot):
    texts = bot.send(photos=[bot.media_url(b"%PDF-1.4 ...", "application/pdf")])
    assert texts == ["I can only read photos (JPEG, PNG, WebP or HEIC), and that was a PDF."]
    assert bot.twilio.standin.media_requests == 0 and bot.model.standin.calls == 0
    assert bot.store.usage(bot.user_id(), "day", _today())["photos"] == 0


def test_media_that_turns_out_not_to_be_an_image_is_refused(bot):
    url, _ = bot.media_url(b"<html>login</html>", "text/html")
    texts = bot.send(photos=[(url, "image/jpeg")])  # declared as a photo; the host says otherwise
    assert texts == ["Sorry, I can only read photos, and that was a file."]
    not_decodable = bot.send(photos=[bot.media_url(b"not really a jpeg")])  # the model server says 415
    assert not_decodable == ["Sorry, the upload is not an image this service can read."]
    assert bot.model.standin.calls == 1
    assert bot.store.usage(bot.user_id(), "day", _today())["photos"] == 0  # refunded


def test_oversized_media_is_refused_before_the_model_server(make_bot):
    bot = make_bot(media_max_bytes=20_000)
    big = bot.jpeg((1600, 1200), "white") + b"\0" * 30_000
    texts = bot.send_photo(big)
    assert texts == [f"Sorry, that photo is {len(big) / 1e3:.0f} KB; I can read photos up to 20 KB."]
    streamed = bot.send(photos=[bot.media_url(big, chunked=True)])  # no Content-Length: cut while reading
    assert streamed == ["Sorry, that photo is over 20 KB; I can read photos up to 20 KB."]
    assert bot.model.standin.calls == 0 and bot.store.meals(bot.user_id()) == []


def test_three_photos_in_one_message_make_one_meal(bot):
    photos = [bot.media_url(bot.jpeg(color=c)) for c in ("red", "green", "blue")]
    (text,) = bot.send(photos=photos)
    assert bot.model.standin.calls == 3
    (meal,) = bot.store.meals(bot.user_id())
    assert sorted({i.photo_index for i in meal.items}) == [0, 1, 2] and len(meal.items) == 6
    assert "Photo 1: Apple ~180 g" in text and "Photo 3: Banana ~120 g" in text
    assert "Meal: 603 kcal" in text
    assert bot.store.usage(bot.user_id(), "day", _today())["photos"] == 3


def test_a_pdf_beside_photos_is_skipped_with_a_note(bot):
    photos = [bot.media_url(bot.jpeg()), bot.media_url(b"%PDF", "application/pdf")]
    (text,) = bot.send(photos=photos)
    assert "Attachment 2 skipped: I can only read photos, and that was a PDF." in text
    assert bot.model.standin.calls == 1 and len(bot.store.meals(bot.user_id())) == 1


def test_sms_replies_stay_gsm7(bot):
    (text,) = bot.send_photo(sms=True)
    assert "Apple ~180 g (150-210 g), 94 kcal" in text
    assert all(c in GSM7_BASIC or c in GSM7_EXTENSION for c in text)


def test_text_commands(make_bot, tmp_path):
    bot = make_bot(nutrition_dir=tmp_path / "no-tables")  # as in a clean clone before `dvc repro`
    assert bot.send("today") == ["Nothing logged today yet. Send a photo of your meal to start."]
    bot.send_photo()
    (today,) = bot.send("Today")
    assert today.splitlines()[:2] == [
        "Today so far: 200 kcal in 1 meal (protein 2 g, fat 1 g, carbs 53 g)",
        "Left today: 1,800 of 2,000 kcal (default) (protein 98 g, fat 66 g, carbs 197 g)",
    ]
    assert "(Meal ideas need the nutrition table.)" in today
    assert bot.send("undo") == [
        "Removed your last meal (Apple, Banana; 200 kcal).\nNothing logged today yet. Send a photo of your meal to start."
    ]
    assert bot.send("undo") == [NOTHING_TO_UNDO]
    (no_table,) = bot.send("2 eggs and toast")
    assert f"the nutrition table isn't at {tmp_path / 'no-tables'}" in no_table
    assert bot.send("help") == [HELP]


def test_stop_silences_everything_but_start(bot):
    assert bot.send("stop") == [STOPPED]
    assert bot.send_photo() == [] and bot.send("today") == []
    assert bot.model.standin.calls == 0 and bot.twilio.standin.media_requests == 0
    assert bot.send("START") == [STARTED]
    assert bot.send_photo()[0].startswith("Apple")


def test_tier_limit_suggests_the_upgrade_once_then_stays_quiet(bot):
    for _ in range(3):  # the free tier's 3 photos a day
        assert bot.send_photo()[0].startswith("Apple")
    (limited,) = bot.send_photo()
    assert limited == (
        "You've used the 3 photo analyses your free plan allows today. "
        "The standard plan gives 15 meal photos a day and a weekly meal plan."
    )
    assert bot.send_photo() == []  # one notice an hour: limit replies cost money too
    assert bot.model.standin.calls == 3
    bot.store.set_tier(bot.user_id(), "standard")
    assert bot.send_photo()[0].startswith("Apple")


def test_hourly_rate_limit(make_bot):
    tiers = {**DEFAULT_TIERS, "free": TierLimits(**{**DEFAULT_TIERS["free"].model_dump(), "messages_per_hour": 4})}
    bot = make_bot(tiers=tiers)
    for _ in range(4):
        assert bot.send("help") == [HELP]
    assert bot.send("help") == ["You're sending messages faster than I can keep up (4 an hour). Please wait a little."]
    assert bot.send("help") == []
    assert bot.send("help", sender="+15550002") == [HELP]  # per user
    assert bot.send("stop") == [STOPPED]  # always honoured


def test_healthz(bot):
    response = httpx.get(bot.server.url + "/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok", "pending_messages": 0}


def test_trace_of_one_meal_end_to_end(bot):
    form = bot.form(photos=[bot.media_url(bot.jpeg())])
    bot.post(form)
    events = bot.store.events(form["MessageSid"])
    assert [e.kind for e in events] == ["received", "analysed", "replied"]
    (meal,) = bot.store.meals(bot.user_id())
    assert events[1].meal_id == meal.id
    assert events[1].detail["models"]["0"]["detector"] == {"name": "standin-detector", "version": "0"}


def _today() -> str:
    return period_keys(utcnow(), "UTC")["day"]


def test_an_unknown_food_is_shown_with_its_suggestions_not_counted_and_kept(bot):
    from bot.devtools.standins import standin_item, standin_unknown_item

    bot.model.standin.items = (standin_item("apple", 180, 52), standin_unknown_item(("pizza", 0.4), ("bread", 0.2)))
    form = bot.form(photos=[bot.media_url(bot.jpeg())])
    (text,) = reply_texts(bot.post(form).text)
    assert "Apple ~180 g" in text
    assert "I can't tell what the food in the middle is (not counted yet): (1) pizza, (2) bread, or tell me" in text
    assert "Meal: 94 kcal" in text  # the apple alone
    (meal,) = bot.store.meals(bot.user_id())
    assert [i.name for i in meal.items] == ["apple"]
    (analysed,) = [e for e in bot.store.events() if e.kind == "analysed" and e.message_sid == form["MessageSid"]]
    (kept,) = analysed.detail["unknown"]
    assert [s["name"] for s in kept["suggestions"]] == ["pizza", "bread"] and kept["photo"] == 0


def test_a_photo_of_only_an_unknown_food_asks_instead_of_saying_no_food(bot):
    from bot.devtools.standins import standin_unknown_item

    bot.model.standin.items = (standin_unknown_item(("burrito", 0.3)),)
    (text,) = bot.send_photo()
    assert text.startswith("I can't tell what the food in the middle is") and "couldn't spot any food" not in text
    assert bot.store.meals(bot.user_id()) == []


def test_a_cloud_namers_cost_reported_by_the_server_goes_to_the_ledger(bot):
    from bot.devtools.standins import standin_unknown_item

    bot.model.standin.items = (standin_unknown_item(("pizza", 0.4)),)
    bot.model.standin.usage = [{"service": "bedrock", "model_id": "m", "input_tokens": 1600, "cost_usd": 0.0002}]
    bot.send_photo()
    used = bot.store.usage(bot.user_id(), "day", _today())
    assert used["ai_cost_micro_usd"] == 200
    assert used["ai_input_tokens"] == 0  # a photo's image tokens are not the coach's allowance
