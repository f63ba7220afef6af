"""The bot against the REAL model server (`bentoml serve`), with a real ECUSTFD photo. Slow.

The server runs the tiny real models of tests/model_fixtures.py (trained, registered as `champion` and
imported for this session), so the test runs on a clean clone too.
"""

import time

import pytest

from bot_fixtures import ACCOUNT_SID, AUTH_TOKEN, BotHarness, Running, bot_settings
from conftest import SHARED_ECUSTFD
from model_fixtures import tiny_models  # noqa: F401 — the fixture
from serving.local_server import running_server

pytestmark = pytest.mark.slow

PHOTO = "apple001S(1).JPG"


@pytest.fixture(scope="module")
def real_model_server(tiny_models):  # noqa: F811
    with running_server(tiny_models.env) as url:
        yield url


def test_a_real_photo_through_the_real_model_server(real_model_server, tmp_path):
    from bot.app import create_app
    from bot.sql_store import SqlStore
    from bot.standins import ServerThread, TwilioStandIn

    photo = SHARED_ECUSTFD / "JPEGImages" / PHOTO
    if not photo.is_file():
        pytest.skip(f"real ECUSTFD photo not found at {photo} (set ECUSTFD_DIR)")
    twilio = TwilioStandIn(ACCOUNT_SID, AUTH_TOKEN)  # Twilio stays a stand-in: media host and Messages API
    with ServerThread(twilio.app()) as twilio_server:
        settings = bot_settings(tmp_path / "bot.db", real_model_server, twilio_server.url, reply_budget_s=12.0,
                                analyze_timeout_s=30.0)  # fmt: skip
        with ServerThread(create_app(settings)) as server:
            store = SqlStore(settings.database_url)
            bot = BotHarness(settings, server, None, Running(twilio, twilio_server), store)
            started = time.perf_counter()
            (text,) = bot.send_photo(photo.read_bytes())
            elapsed = time.perf_counter() - started
            meals = store.meals(bot.user_id())
            store.dispose()
    print(f"real /analyze round trip through the bot: {elapsed:.2f} s\n{text}")
    assert not text.startswith("Sorry"), text  # neither "couldn't analyse now" nor a refused photo
    if meals:
        assert meals[0].items and "kcal" in text
    assert elapsed < 15
