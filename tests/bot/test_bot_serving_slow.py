"""The bot against the REAL model server (`bentoml serve`), with a real ECUSTFD photo. Slow.

The server runs the tiny real models of tests/conftest.py's `tiny_models` (trained, registered as `champion`
and imported for this session), so the test runs on a clean clone too.
"""

import time

import pytest

from serving.local_server import running_server

pytestmark = pytest.mark.slow

PHOTO = "apple001S(1).JPG"


@pytest.fixture(scope="module")
def real_model_server(tiny_models):
    with running_server(tiny_models.env) as url:
        yield url


def test_a_real_photo_through_the_real_model_server(real_model_server, start_bot, photo_bytes):
    photo = photo_bytes(PHOTO)
    # Twilio stays a stand-in: media host and Messages API
    bot = start_bot(real_model_server, reply_budget_s=12.0, analyze_timeout_s=30.0)
    started = time.perf_counter()
    (text,) = bot.send_photo(photo)
    elapsed = time.perf_counter() - started
    meals = bot.store.meals(bot.user_id())
    print(f"real /analyze round trip through the bot: {elapsed:.2f} s\n{text}")
    assert not text.startswith("Sorry"), text  # neither "couldn't analyse now" nor a refused photo
    if meals:
        assert meals[0].items and "kcal" in text
    assert elapsed < 15
