"""Run the web app: ``python -m bot.console`` (listens on BANKBOT_HOST:WEB_PORT)."""

from __future__ import annotations

import logging

from aiohttp import web

from bot.console.app import create_app
from bot.settings import Settings


def main() -> None:
    """Serve the web chat page (and, later, the staff console) until interrupted."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    settings = Settings.from_env()
    web.run_app(
        create_app(settings),
        host=settings.host,
        port=settings.web_port,
        print=lambda message: logging.getLogger("bot.console").info(message),
    )


if __name__ == "__main__":
    main()
