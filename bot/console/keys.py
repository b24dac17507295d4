"""Typed keys of the console app (aiohttp ``AppKey``) and of its requests."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web
from sqlalchemy.engine import Engine
from sqlalchemy.orm import sessionmaker

from bot.settings import Settings

SETTINGS_KEY = web.AppKey("settings", Settings)
WEBCHAT_JS_KEY = web.AppKey("webchat_js", Path)
ENGINE_KEY = web.AppKey("engine", Engine)
SESSIONS_KEY = web.AppKey("sessions", sessionmaker)
EXECUTOR_KEY = web.AppKey("executor", ThreadPoolExecutor)

# Request keys (request[USER_KEY]) set by the auth middleware.
USER_KEY = "staff_user"
CSRF_KEY = "csrf_token"


@dataclass(frozen=True)
class CurrentUser:
    """The logged-in staff member of a request."""

    id: int
    username: str
    display_name: str
    role: str

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"
