"""Run or seed the sandbox bank.

python -m bot.bank [--seed] [--reset]    serve on settings.host:settings.bank_port
python -m bot.bank seed [--reset]        seed the demo data idempotently and exit
"""

from __future__ import annotations

import argparse
import logging
import sys

from aiohttp import web

from ..settings import Settings
from .app import MaskingAccessLogger, create_app
from .clock import SandboxClock
from .db import make_engine
from .seed import seed_database


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot.bank", description=__doc__.split("\n")[0])
    parser.add_argument("command", nargs="?", choices=("serve", "seed"), default="serve")
    parser.add_argument("--seed", action="store_true", help="seed the demo data before serving")
    parser.add_argument("--reset", action="store_true", help="drop and recreate all bank tables")
    parser.add_argument("--host", help="override settings.host")
    parser.add_argument("--port", type=int, help="override settings.bank_port")
    args = parser.parse_args(argv)

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    settings = Settings.from_env()
    # The sandbox clock runs in real time and can be set through /sandbox/clock.
    clock = SandboxClock(settings.sandbox_clock_start)
    if args.command == "seed" or args.seed or args.reset:
        engine = make_engine(settings.bank_db_url)
        try:
            result = seed_database(engine, clock(), reset=args.reset)
        finally:
            engine.dispose()
        print(f"bank seeded: {result}")
        if args.command == "seed":
            return 0
    app = create_app(settings, clock=clock)
    web.run_app(
        app,
        host=args.host or settings.host,
        port=args.port or settings.bank_port,
        access_log_class=MaskingAccessLogger,
        print=lambda message: logging.getLogger("bot.bank").info(message),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
