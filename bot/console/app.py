"""The web app on the web port: the public web chat page (later also the staff console)."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp_jinja2
import jinja2
from aiohttp import web

from bot.settings import PROJECT_ROOT, Settings
from bot.settings import origin_of as normalised_origin

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


# Shown to customers by the widget: Chinese on the full page; the embedded chat
# can show the widget's own strings in English (data-language="en").
WEBCHAT_TEXT = {
    "title": "沪银智能助手",
    "subtitle": "您的线上大堂经理 · 7×24小时在线",
    "inputTextFieldHint": "请输入您的问题…",
    "connectingText": "正在连接服务，请稍候…",
}
EMBED_LANGUAGES = ("zh-CN", "en")
WEBCHAT_TEXT_BY_LANGUAGE = {
    "zh-CN": WEBCHAT_TEXT,
    "en": {
        "title": "HuYin Bank Assistant",
        "subtitle": "Your online lobby manager · 24/7",
        "inputTextFieldHint": "Type your question…",
        "connectingText": "Connecting, please wait…",
    },
}
# The frame's own texts (status line, close button), per language.
FRAME_TEXT = {
    "zh-CN": {
        "status": {
            "connecting": "正在连接在线客服，请稍候…",
            "failed": "暂时无法连接在线客服，请检查网络后刷新页面重试。",
            "reconnecting": "连接已断开，正在重新连接…",
            "broken": "在线客服加载失败，请刷新页面重试。",
        },
        "close": "关闭在线客服",
        "noscript": "请开启浏览器的 JavaScript 功能后使用在线客服。",
    },
    "en": {
        "status": {
            "connecting": "Connecting to the chat, please wait…",
            "failed": "The chat cannot connect right now. Check your network and reload the page.",
            "reconnecting": "Connection lost, reconnecting…",
            "broken": "The chat did not load. Please reload the page.",
        },
        "close": "Close chat",
        "noscript": "Please turn on JavaScript to use the chat.",
    },
}
BRAND_COLOR = "#9e1b32"
_COLOR_RE = re.compile(r"^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$")
TITLE_MAX_CHARS = 40
# Served with CORS headers for pages of other origins (embed.js and what the chat loads).
EMBED_JS = STATIC_DIR / "js" / "embed.js"
CORS_PATH_PREFIXES = ("/embed.js", "/static/")


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


def webchat_config(
    settings: Settings,
    *,
    language: str = "zh-CN",
    title: str = "",
    color: str = BRAND_COLOR,
) -> dict[str, Any]:
    """Options for ``window.WebChat.default`` (functions are added in webchat-init.js)."""
    texts = dict(WEBCHAT_TEXT_BY_LANGUAGE.get(language, WEBCHAT_TEXT))
    if title:
        texts["title"] = title
    return {
        **texts,
        "socketUrl": settings.webchat_socket_url or settings.rasa_url,
        "socketPath": SOCKET_PATH,
        "initPayload": "/greet",
        "customData": {"language": "en" if language == "en" else "zh"},
        "embedded": True,
        "showFullScreenButton": False,
        "showCloseButton": False,
        "hideWhenNotConnected": False,
        "displayUnreadCount": False,
        "params": {"storage": "local"},
        "mainColor": color,
        "userBackgroundColor": color,
        "userTextColor": "#ffffff",
    }


def embed_origins(settings: Settings) -> tuple[str, ...]:
    """Origins whose pages may embed the chat: ``("*",)`` or the web app's own
    plus ``WEBCHAT_ALLOWED_ORIGINS``."""
    if "*" in settings.webchat_allowed_origins:
        return ("*",)
    return tuple(dict.fromkeys([*settings.web_origins, *settings.webchat_allowed_origins]))


def content_security_policy(socket_url: str, frame_ancestors: str = "'self'") -> str:
    """CSP for the chat page: own scripts only, socket.io to the Rasa server.

    ``frame_ancestors`` empty: any page may frame it (no ``frame-ancestors``).
    """
    origin = origin_of(socket_url)
    ws_origin = "ws" + origin[len("http") :] if origin.startswith("http") else origin
    directives = [
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
    ]
    if frame_ancestors:
        directives.append(f"frame-ancestors {frame_ancestors}")
    return "; ".join(directives)


def frame_ancestors(settings: Settings) -> str:
    """``frame-ancestors`` of the embedded chat: the allowed origins (none: any)."""
    origins = embed_origins(settings)
    if "*" in origins:
        return ""
    return " ".join(["'self'", *origins])


@dataclass(frozen=True)
class EmbedOptions:
    """What a page asked for through embed.js's data- attributes (validated)."""

    language: str = "zh-CN"
    title: str = ""
    color: str = BRAND_COLOR
    parent_origin: str = ""

    @classmethod
    def from_query(cls, query: Any) -> EmbedOptions:
        language = str(query.get("lang") or "zh-CN")
        language = "en" if language.lower().startswith("en") else "zh-CN"
        title = "".join(ch for ch in str(query.get("title") or "") if ch.isprintable()).strip()
        color = str(query.get("color") or "")
        parent = str(query.get("parent") or "")
        if parent != "*":
            try:
                parent = normalised_origin(parent) if parent else ""
            except ValueError:
                parent = ""
        return cls(
            language=language,
            title=title[:TITLE_MAX_CHARS],
            color=color if _COLOR_RE.fullmatch(color) else BRAND_COLOR,
            parent_origin=parent,
        )


@web.middleware
async def security_headers(request: web.Request, handler: Any) -> web.StreamResponse:
    """Headers every response carries."""
    response = await handler(request)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    return response


@web.middleware
async def embed_cors(request: web.Request, handler: Any) -> web.StreamResponse:
    """CORS for embed.js and the chat's assets, so pages of allowed origins can
    load them (also with ``crossorigin`` or under ``Cross-Origin-Embedder-Policy``)."""
    if not request.path.startswith(CORS_PATH_PREFIXES):
        return await handler(request)
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        _add_cors(request, exc)
        raise
    _add_cors(request, response)
    return response


def _add_cors(request: web.Request, response: web.StreamResponse) -> None:
    origins = embed_origins(request.app[SETTINGS_KEY])
    origin = request.headers.get("Origin", "")
    response.headers.setdefault("Cross-Origin-Resource-Policy", "cross-origin")
    if "*" in origins:
        response.headers["Access-Control-Allow-Origin"] = "*"
    elif origin in origins:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers.add("Vary", "Origin")
    else:
        response.headers.add("Vary", "Origin")


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


async def embed_frame(request: web.Request) -> web.Response:
    """The chat alone, for the iframe embed.js opens on other sites' pages."""
    settings = request.app[SETTINGS_KEY]
    options = EmbedOptions.from_query(request.query)
    config = webchat_config(
        settings, language=options.language, title=options.title, color=options.color
    )
    ui = {
        **FRAME_TEXT[options.language],
        "color": options.color,
        "parentOrigin": options.parent_origin,
    }
    response = aiohttp_jinja2.render_template(
        "webchat-frame.html",
        request,
        {
            "webchat_config": config,
            "ui": ui,
            "lang": options.language,
            "webchat_version": webchat_version(),
        },
    )
    response.headers["Content-Security-Policy"] = content_security_policy(
        settings.webchat_socket_url or settings.rasa_url, frame_ancestors(settings)
    )
    response.headers["Cache-Control"] = "no-store"
    return response


async def embed_js(request: web.Request) -> web.StreamResponse:
    """The one-line embed script (a fixed URL: cached briefly)."""
    return web.FileResponse(
        EMBED_JS,
        headers={
            "Content-Type": "application/javascript; charset=utf-8",
            "Cache-Control": "public, max-age=300",
        },
    )


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
    app.router.add_get("/embed.js", embed_js, name="embed_js")
    app.router.add_get("/embed/frame", embed_frame, name="embed_frame")
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
    app = web.Application(middlewares=[security_headers, embed_cors, auth.auth_middleware])
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
