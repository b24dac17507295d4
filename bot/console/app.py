"""The web app on the web port: the public web chat page (later also the staff console)."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp_jinja2
import jinja2
from aiohttp import web

from bot.settings import PROJECT_ROOT, Settings

from . import admin, analytics, auth, conversations, takeover, trainer
from .db import ensure_schema, make_engine, make_sessionmaker
from .keys import ENGINE_KEY, EXECUTOR_KEY, SESSIONS_KEY, SETTINGS_KEY, WEBCHAT_JS_KEY
from .users import DemoPasswordError, prepare_accounts

logger = logging.getLogger(__name__)

PACKAGE_DIR = Path(__file__).resolve().parent
TEMPLATES_DIR = PACKAGE_DIR / "templates"
STATIC_DIR = PACKAGE_DIR / "static"
WEBCHAT_PACKAGE_DIR = PROJECT_ROOT / "node_modules" / "rasa-webchat"
WEBCHAT_JS = WEBCHAT_PACKAGE_DIR / "lib" / "index.js"
SOCKET_PATH = "/socket.io/"


# Shown to customers by the widget: Chinese only.
WEBCHAT_TEXT = {
    "title": "沪银智能助手",
    "subtitle": "您的线上大堂经理 · 7×24小时在线",
    "inputTextFieldHint": "请输入您的问题…",
    "connectingText": "正在连接服务，请稍候…",
}


def webchat_version(package_dir: Path = WEBCHAT_PACKAGE_DIR) -> str:
    """Installed rasa-webchat version (for cache busting), or ``"missing"``."""
    try:
        return str(json.loads((package_dir / "package.json").read_text("utf-8"))["version"])
    except (OSError, ValueError, KeyError):
        return "missing"


def origin_of(url: str) -> str:
    """``scheme://host[:port]`` of ``url``."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def webchat_config(settings: Settings) -> dict[str, Any]:
    """Options for ``window.WebChat.default`` (functions are added in webchat-init.js)."""
    return {
        **WEBCHAT_TEXT,
        "socketUrl": settings.webchat_socket_url or settings.rasa_url,
        "socketPath": SOCKET_PATH,
        "initPayload": "/greet",
        "customData": {"language": "zh"},
        "embedded": True,
        "showFullScreenButton": False,
        "showCloseButton": False,
        "hideWhenNotConnected": False,
        "displayUnreadCount": False,
        "params": {"storage": "local"},
        "mainColor": "#9e1b32",
        "userBackgroundColor": "#9e1b32",
        "userTextColor": "#ffffff",
    }


def content_security_policy(socket_url: str) -> str:
    """CSP for the chat page: own scripts only, socket.io to the Rasa server."""
    origin = origin_of(socket_url)
    ws_origin = "ws" + origin[len("http") :] if origin.startswith("http") else origin
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            # rasa-webchat injects its stylesheet and uses inline styles.
            "style-src 'self' 'unsafe-inline'",
            "img-src 'self' data: https:",
            # Its carousel font is a data: URI. Its Google Fonts stylesheet stays
            # blocked: nothing on this page loads from a third party.
            "font-src 'self' data:",
            f"connect-src 'self' {origin} {ws_origin}",
            "object-src 'none'",
            "base-uri 'self'",
            "form-action 'self'",
            "frame-ancestors 'self'",
        ]
    )


@web.middleware
async def security_headers(request: web.Request, handler: Any) -> web.StreamResponse:
    """Headers every response carries."""
    response = await handler(request)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    return response


async def webchat_page(request: web.Request) -> web.Response:
    """The customer web chat page."""
    settings = request.app[SETTINGS_KEY]
    response = aiohttp_jinja2.render_template(
        "webchat.html",
        request,
        {"webchat_config": webchat_config(settings), "webchat_version": webchat_version()},
    )
    response.headers["Content-Security-Policy"] = content_security_policy(
        settings.webchat_socket_url or settings.rasa_url
    )
    return response


async def webchat_js(request: web.Request) -> web.StreamResponse:
    """rasa-webchat's bundle from node_modules (installed by ``npm ci``; never a CDN)."""
    path = request.app[WEBCHAT_JS_KEY]
    if not path.is_file():
        logger.error("web chat bundle missing at %s; run `npm ci` in the project root", path)
        raise web.HTTPServiceUnavailable(
            text="web chat bundle missing: run `npm ci` in the project root"
        )
    return web.FileResponse(path, headers={"Content-Type": "application/javascript; charset=utf-8"})


async def health(request: web.Request) -> web.Response:
    """Liveness plus whether the chat bundle is installed."""
    return web.json_response(
        {
            "status": "ok",
            "service": "console",
            "webchat_bundle": request.app[WEBCHAT_JS_KEY].is_file(),
        }
    )


def setup_routes(app: web.Application) -> None:
    """Register the web chat page, health check, static files and the console's pages."""
    app.router.add_get("/", webchat_page, name="webchat")
    app.router.add_get("/health", health, name="health")
    # Before the static prefix, so this exact path wins.
    app.router.add_get("/static/webchat.js", webchat_js, name="webchat_js")
    app.router.add_static("/static/", STATIC_DIR, name="static")
    for module in (auth, conversations, takeover, analytics, admin, trainer):
        module.setup(app)


async def database_ctx(app: web.Application) -> AsyncIterator[None]:
    """One engine, session factory and worker pool for the app's lifetime."""
    settings = app[SETTINGS_KEY]
    engine = make_engine(settings.console_db_url)
    ensure_schema(engine)
    app[ENGINE_KEY] = engine
    app[SESSIONS_KEY] = make_sessionmaker(engine)
    try:
        # Sandbox: create and log the demo staff accounts. Other profiles: refuse to
        # start while an enabled account still has its public demo password.
        prepare_accounts(app[SESSIONS_KEY], settings)
    except DemoPasswordError:
        engine.dispose()
        raise
    executor = ThreadPoolExecutor(max_workers=4, thread_name_prefix="console-db")
    app[EXECUTOR_KEY] = executor
    yield
    executor.shutdown(wait=True)
    engine.dispose()


def create_app(settings: Settings, *, webchat_js_path: Path = WEBCHAT_JS) -> web.Application:
    """Build the web app for ``settings``."""
    app = web.Application(middlewares=[security_headers, auth.auth_middleware])
    app[SETTINGS_KEY] = settings
    app[WEBCHAT_JS_KEY] = webchat_js_path
    aiohttp_jinja2.setup(
        app,
        loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)),
        autoescape=jinja2.select_autoescape(["html"]),
        context_processors=[aiohttp_jinja2.request_processor, auth.context_processor],
    )
    app.cleanup_ctx.append(database_ctx)
    # Background work that needs the database (event ingestion, handoff timeouts).
    for module in (conversations, takeover, trainer):
        module.setup_background(app)
    setup_routes(app)
    if not webchat_js_path.is_file():
        logger.warning("web chat bundle missing at %s; run `npm ci`", webchat_js_path)
    return app
