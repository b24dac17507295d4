"""Typed application keys of the bank app."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from aiohttp import web
from sqlalchemy.engine import Engine
from sqlalchemy.orm import sessionmaker

from ..settings import Settings
from .clock import Clock

SETTINGS = web.AppKey("bank_settings", Settings)
CLOCK: web.AppKey[Clock] = web.AppKey("bank_clock")
ENGINE = web.AppKey("bank_engine", Engine)
SESSIONS = web.AppKey("bank_sessions", sessionmaker)
EXECUTOR = web.AppKey("bank_executor", ThreadPoolExecutor)
OPENAPI: web.AppKey[dict[str, Any]] = web.AppKey("bank_openapi")
