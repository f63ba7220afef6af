"""`python -m bot`: serve the bot with uvicorn on BOT_HOST:BOT_PORT (127.0.0.1:8000 by default)."""

from __future__ import annotations

import logging

import uvicorn

from bot.app import create_app
from bot.settings import BotSettings


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = BotSettings()
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, proxy_headers=True)


if __name__ == "__main__":
    main()
