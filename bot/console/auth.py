"""Staff console authentication: sessions, CSRF, login/logout, role checks.

- Sessions: a random token in the ``bankbot_staff`` cookie (HttpOnly, SameSite=Strict,
  Secure over HTTPS or when ``console_secure_cookies``); only its SHA-256 is stored.
- CSRF: every POST/PUT/PATCH/DELETE must carry the session's token in the form field
  ``_csrf`` or the ``X-CSRF-Token`` header. The login form uses a double-submit cookie.
- Login: per-account lock-out after ``login_max_failures`` consecutive failures, and
  per-address rate limiting (``login_ip_max_failures`` per ``login_ip_window_seconds``).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import hmac
import logging
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import quote, urlsplit

import aiohttp_jinja2
from aiohttp import web
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from bot.bank.clock import CST

from . import audit
from .db import run
from .keys import CSRF_KEY, EXECUTOR_KEY, SESSIONS_KEY, SETTINGS_KEY, USER_KEY, CurrentUser
from .models import ROLES, LoginAttempt, StaffSession, StaffUser
from .users import ROLE_LABELS, find_user, make_hasher, normalise_username

logger = logging.getLogger(__name__)

T = TypeVar("T")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

SESSION_COOKIE = "bankbot_staff"
LOGIN_CSRF_COOKIE = "bankbot_login_csrf"
CSRF_FIELD = "_csrf"
CSRF_HEADER = "X-CSRF-Token"
LOGIN_PATH = "/login"
LOGOUT_PATH = "/logout"
DEFAULT_NEXT = "/console/"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
FORM_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})
MAX_PASSWORD_CHARS = 1024  # longer input is rejected before hashing
LOGIN_CSRF_SECONDS = 3600

CONSOLE_CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "object-src 'none'",
        "frame-ancestors 'none'",
        "form-action 'self'",
    ]
)

# Only tokens we could have issued reach the database.
_TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{20,128}")

# ?error=<code> on /login shows one of these (never text taken from the URL).
LOGIN_ERRORS = {
    "invalid": "用户名或密码错误。连续多次输错后账户将被临时锁定，如需帮助请联系管理员。",
    "expired": "页面已过期，请重新输入并登录。",
}
LOGGED_OUT_MESSAGE = "您已安全退出。"

ERROR_TEMPLATE = """{% extends "console/base.html" %}
{% block title %}{{ heading }} · 沪银智能助手 · 客服工作台{% endblock %}
{% block content %}
<section class="panel error-panel">
  <h1>{{ heading }}</h1>
  <p>{{ message }}</p>
  <p><a href="{{ back }}">{{ back_text }}</a></p>
</section>
{% endblock %}
"""


@dataclass
class PasswordCheck:
    """The app's password hasher plus a dummy hash for constant-ish time on unknown users."""

    hasher: PasswordHasher
    _dummy: str | None = None

    def dummy_hash(self) -> str:
        if self._dummy is None:
            self._dummy = self.hasher.hash(secrets.token_urlsafe(16))
        return self._dummy

    def verify(self, password_hash: str | None, password: str) -> bool:
        """True when ``password`` matches; ``None`` hash: burn the same time, then False."""
        if password_hash is None:
            # The dummy never matches: this only spends the time a real check takes.
            with contextlib.suppress(VerificationError):
                self.hasher.verify(self.dummy_hash(), password)
            return False
        try:
            return self.hasher.verify(password_hash, password)
        except VerificationError:
            return False
        except InvalidHashError:
            logger.error("a staff account has an unreadable password hash")
            return False


PASSWORDS_KEY = web.AppKey("staff_passwords", PasswordCheck)


# ---------------------------------------------------------------------------
# helpers


def hash_token(token: str) -> str:
    """What the database stores for a session cookie value."""
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def is_api(path: str) -> bool:
    return path.startswith("/api/")


def is_console(path: str) -> bool:
    """Paths that get the console's strict CSP and no-store caching."""
    return (
        path in (LOGIN_PATH, LOGOUT_PATH)
        or path == "/console"
        or path.startswith("/console/")
        or is_api(path)
    )


def safe_next(value: Any) -> str:
    """``value`` if it is a local path (no scheme, host or ``//``), else the console root."""
    if not isinstance(value, str) or not value or len(value) > 2000:
        return DEFAULT_NEXT
    if not value.startswith("/") or value.startswith("//") or "\\" in value:
        return DEFAULT_NEXT
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value):
        return DEFAULT_NEXT
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return DEFAULT_NEXT
    if parts.path in (LOGIN_PATH, LOGOUT_PATH):
        return DEFAULT_NEXT
    return value


def login_url(next_path: str | None = None) -> str:
    """``/login`` with a ``next`` parameter when it is a safe local path."""
    if next_path and safe_next(next_path) == next_path and next_path != DEFAULT_NEXT:
        return f"{LOGIN_PATH}?next={quote(next_path, safe='/')}"
    return LOGIN_PATH


def format_time(value: float | None) -> str:
    """Epoch seconds as China Standard Time, ``2026-11-29 09:30:00`` (empty for None)."""
    if value is None:
        return ""
    return datetime.fromtimestamp(value, CST).strftime("%Y-%m-%d %H:%M:%S")


def client_ip(request: web.Request) -> str:
    return request.remote or "unknown"


def _secure(request: web.Request) -> bool:
    return request.app[SETTINGS_KEY].console_secure_cookies or request.secure


def _set_cookie(
    response: web.StreamResponse,
    request: web.Request,
    name: str,
    value: str,
    *,
    max_age: int,
    path: str = "/",
) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=path,
        httponly=True,
        samesite="Strict",
        secure=_secure(request),
    )


async def _db(request: web.Request, work: Callable[[Session], T]) -> T:
    return await run(request.app[SESSIONS_KEY], request.app[EXECUTOR_KEY], work)


def _passwords(app: web.Application) -> PasswordCheck:
    return app[PASSWORDS_KEY]


def error_response(
    request: web.Request, status: int, message: str, *, heading: str | None = None
) -> web.Response:
    """A console-styled error page (pages) or ``{"error": message}`` (``/api/``)."""
    if is_api(request.path):
        return web.json_response({"error": message}, status=status)
    headings = {
        400: "请求无效",
        401: "请先登录",
        403: "无权访问",
        404: "页面不存在",
        429: "请求过于频繁",
    }
    env = aiohttp_jinja2.get_env(request.app)
    user = request.get(USER_KEY)
    html = env.from_string(ERROR_TEMPLATE).render(
        request=request,
        user=user,
        csrf_token=request.get(CSRF_KEY, ""),
        role_labels=ROLE_LABELS,
        heading=heading or headings.get(status, "出错了"),
        message=message,
        back=DEFAULT_NEXT if user is not None else LOGIN_PATH,
        back_text="返回工作台" if user is not None else "前往登录",
    )
    return web.Response(text=html, status=status, content_type="text/html")


def _console_headers(request: web.Request, response: web.StreamResponse) -> None:
    if not is_console(request.path):
        return
    response.headers["Content-Security-Policy"] = CONSOLE_CSP
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Cache-Control", "no-store")


# ---------------------------------------------------------------------------
# sessions and CSRF


def _load_session(session: Session, token_hash: str, now: float) -> tuple[CurrentUser, str] | None:
    row = session.execute(
        select(StaffSession, StaffUser)
        .join(StaffUser, StaffUser.id == StaffSession.user_id)
        .where(StaffSession.token_hash == token_hash)
    ).first()
    if row is None:
        return None
    staff_session, user = row
    if staff_session.expires_at <= now or user.disabled:
        session.delete(staff_session)
        return None
    current = CurrentUser(
        id=user.id, username=user.username, display_name=user.display_name, role=user.role
    )
    return current, staff_session.csrf_token


async def _supplied_csrf(request: web.Request) -> str | None:
    header = request.headers.get(CSRF_HEADER)
    if header:
        return header
    if request.content_type in FORM_TYPES:
        # aiohttp caches post(), so the handler can read the form again.
        value = (await request.post()).get(CSRF_FIELD)
        return value if isinstance(value, str) else None
    return None


def tokens_match(supplied: str | None, expected: str | None) -> bool:
    """Constant-time comparison of two non-empty tokens."""
    if not supplied or not expected:
        return False
    return hmac.compare_digest(supplied.encode("utf-8"), expected.encode("utf-8"))


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Load the staff session, enforce CSRF on state changes, add the console's headers."""
    request[USER_KEY] = None
    request[CSRF_KEY] = ""
    path = request.path
    token = request.cookies.get(SESSION_COOKIE)
    if token and _TOKEN_RE.fullmatch(token) and not path.startswith("/static/"):
        now = time.time()
        loaded = await _db(request, lambda s: _load_session(s, hash_token(token), now))
        if loaded is not None:
            request[USER_KEY], request[CSRF_KEY] = loaded
    try:
        response = await _guarded(request, handler)
    except web.HTTPException as exc:
        _console_headers(request, exc)
        raise
    _console_headers(request, response)
    return response


async def _guarded(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.method in UNSAFE_METHODS and request.path != LOGIN_PATH:
        if request[USER_KEY] is None:
            if request.path == LOGOUT_PATH:
                return web.Response(status=303, headers={"Location": LOGIN_PATH})
            if is_api(request.path):
                return web.json_response({"error": "未登录或登录已过期"}, status=401)
            return error_response(request, 403, "登录已过期或未登录，请重新登录后再操作。")
        if not tokens_match(await _supplied_csrf(request), request[CSRF_KEY]):
            logger.warning("CSRF check failed: %s %s", request.method, request.path)
            return error_response(request, 403, "安全校验失败（CSRF），请刷新页面后重试。")
    return await handler(request)


def requires(*roles: Any) -> Any:
    """Handler decorator: staff only; with roles, only those roles (admin may do everything).

    Anonymous: 302 to ``/login?next=...`` for pages, 401 JSON under ``/api/``.
    Wrong role: 403. ``@requires()`` (or bare ``@requires``) admits any logged-in staff.
    """
    if len(roles) == 1 and callable(roles[0]):
        return requires()(roles[0])
    for role in roles:
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}")
    allowed = frozenset(roles)

    def decorate(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def wrapper(request: web.Request) -> web.StreamResponse:
            user = request.get(USER_KEY)
            if user is None:
                if is_api(request.path):
                    return web.json_response({"error": "未登录或登录已过期"}, status=401)
                raise web.HTTPFound(login_url(request.path_qs))
            if allowed and user.role != "admin" and user.role not in allowed:
                return error_response(request, 403, "您的角色无权访问此页面或执行此操作。")
            return await handler(request)

        return wrapper

    return decorate


async def context_processor(request: web.Request) -> dict[str, Any]:
    """``user`` and ``csrf_token`` (plus role names) for every template."""
    return {
        "user": request.get(USER_KEY),
        "csrf_token": request.get(CSRF_KEY, ""),
        "role_labels": ROLE_LABELS,
    }


# ---------------------------------------------------------------------------
# login and logout


@dataclass(frozen=True)
class _Account:
    id: int
    password_hash: str
    usable: bool  # enabled and not locked


def _login_precheck(
    session: Session, username: str, ip: str, now: float, window: int
) -> tuple[int, _Account | None]:
    failures = session.execute(
        select(func.count())
        .select_from(LoginAttempt)
        .where(LoginAttempt.ip == ip, LoginAttempt.ok.is_(False), LoginAttempt.at >= now - window)
    ).scalar_one()
    user = find_user(session, username) if username else None
    if user is None:
        return failures, None
    locked = user.locked_until is not None and user.locked_until > now
    return failures, _Account(user.id, user.password_hash, not user.disabled and not locked)


def _login_failed(
    session: Session,
    *,
    username: str,
    account: _Account | None,
    ip: str,
    now: float,
    max_failures: int,
    lockout_seconds: int,
) -> None:
    session.add(LoginAttempt(at=now, ip=ip, username=username[:64], ok=False))
    user = session.get(StaffUser, account.id) if account is not None else None
    if user is None:
        reason = "unknown_user"
    elif user.disabled:
        reason = "disabled"
    elif user.locked_until is not None and user.locked_until > now:
        reason = "locked"
    else:
        reason = "bad_password"
        user.failed_logins = (user.failed_logins or 0) + 1
        if user.failed_logins >= max_failures:
            user.failed_logins = 0
            user.locked_until = now + lockout_seconds
    audit.record(
        session,
        actor=username[:64] or None,
        action="login_failed",
        detail={"reason": reason},
        ip=ip,
    )
    if user is not None and reason == "bad_password" and user.locked_until is not None:
        audit.record(
            session,
            actor=user.username,
            action="lockout",
            target=user.username,
            detail={"failures": max_failures, "seconds": lockout_seconds},
            ip=ip,
        )


def _login_succeeded(
    session: Session,
    *,
    account: _Account,
    ip: str,
    now: float,
    old_token: str | None,
    new_token: str,
    csrf_token: str,
    session_seconds: int,
    new_hash: str | None,
) -> bool:
    user = session.get(StaffUser, account.id)
    if user is None or user.disabled or (user.locked_until or 0) > now:
        return False  # changed between the check and now
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = now
    if new_hash is not None:
        user.password_hash = new_hash
    # Rotation: the browser's previous session (if any) ends here.
    if old_token:
        session.execute(
            delete(StaffSession).where(StaffSession.token_hash == hash_token(old_token))
        )
    session.execute(delete(StaffSession).where(StaffSession.expires_at <= now))
    session.execute(delete(LoginAttempt).where(LoginAttempt.at < now - 30 * 86400))
    session.add(
        StaffSession(
            token_hash=hash_token(new_token),
            user_id=user.id,
            csrf_token=csrf_token,
            created_at=now,
            expires_at=now + session_seconds,
            ip=ip,
        )
    )
    session.add(LoginAttempt(at=now, ip=ip, username=user.username, ok=True))
    audit.record(session, actor=user.username, action="login", ip=ip)
    return True


def _render_login(
    request: web.Request,
    *,
    next_url: str,
    status: int = 200,
    error: str | None = None,
    info: str | None = None,
    username: str = "",
) -> web.Response:
    token = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not _TOKEN_RE.fullmatch(token):
        token = secrets.token_urlsafe(32)
    request[CSRF_KEY] = token
    response = aiohttp_jinja2.render_template(
        "console/login.html",
        request,
        {
            # Context processors ran before this handler: pass the form's token here.
            "csrf_token": token,
            "next_url": next_url,
            "error": error,
            "info": info,
            "username": username,
        },
        status=status,
    )
    _set_cookie(
        response, request, LOGIN_CSRF_COOKIE, token, max_age=LOGIN_CSRF_SECONDS, path=LOGIN_PATH
    )
    return response


async def login_page(request: web.Request) -> web.StreamResponse:
    """GET /login: the login form (logged-in staff go straight on)."""
    next_url = safe_next(request.query.get("next"))
    if request[USER_KEY] is not None:
        raise web.HTTPFound(next_url)
    info = LOGGED_OUT_MESSAGE if request.query.get("logged_out") else None
    error = LOGIN_ERRORS.get(request.query.get("error", ""))
    return _render_login(request, next_url=next_url, error=error, info=info)


async def login_submit(request: web.Request) -> web.StreamResponse:
    """POST /login: check the form token, the rate limits, then the password."""
    settings = request.app[SETTINGS_KEY]
    form = await request.post()
    next_url = safe_next(form.get("next"))
    raw_username = form.get("username")
    raw_password = form.get("password")
    username = normalise_username(raw_username)[:64] if isinstance(raw_username, str) else ""
    password = raw_password if isinstance(raw_password, str) else ""
    supplied = form.get(CSRF_FIELD)
    if not tokens_match(
        supplied if isinstance(supplied, str) else None, request.cookies.get(LOGIN_CSRF_COOKIE)
    ):
        return _render_login(
            request,
            next_url=next_url,
            status=403,
            error=LOGIN_ERRORS["expired"],
            username=username,
        )
    ip = client_ip(request)
    now = time.time()
    window = settings.login_ip_window_seconds
    failures, account = await _db(request, lambda s: _login_precheck(s, username, ip, now, window))
    if failures >= settings.login_ip_max_failures:
        logger.warning("login rate limit hit for %s", ip)
        minutes = max(1, (window + 59) // 60)
        return _render_login(
            request,
            next_url=next_url,
            status=429,
            error=f"该网络地址登录失败次数过多，请 {minutes} 分钟后再试。",
            username=username,
        )

    passwords = _passwords(request.app)
    usable = account is not None and account.usable and 0 < len(password) <= MAX_PASSWORD_CHARS

    def verify() -> tuple[bool, str | None]:
        if not usable or account is None:
            passwords.verify(None, password[:MAX_PASSWORD_CHARS])
            return False, None
        ok = passwords.verify(account.password_hash, password)
        if ok and passwords.hasher.check_needs_rehash(account.password_hash):
            return True, passwords.hasher.hash(password)
        return ok, None

    loop = asyncio.get_running_loop()
    ok, new_hash = await loop.run_in_executor(request.app[EXECUTOR_KEY], verify)

    if ok and account is not None:
        token = secrets.token_urlsafe(32)
        csrf_token = secrets.token_urlsafe(32)
        old_token = request.cookies.get(SESSION_COOKIE)
        done = await _db(
            request,
            lambda s: _login_succeeded(
                s,
                account=account,
                ip=ip,
                now=now,
                old_token=old_token,
                new_token=token,
                csrf_token=csrf_token,
                session_seconds=settings.console_session_seconds,
                new_hash=new_hash,
            ),
        )
        if done:
            response = web.Response(status=303, headers={"Location": next_url})
            _set_cookie(
                response,
                request,
                SESSION_COOKIE,
                token,
                max_age=settings.console_session_seconds,
            )
            _set_cookie(response, request, LOGIN_CSRF_COOKIE, "", max_age=0, path=LOGIN_PATH)
            return response

    await _db(
        request,
        lambda s: _login_failed(
            s,
            username=username,
            account=account,
            ip=ip,
            now=now,
            max_failures=settings.login_max_failures,
            lockout_seconds=settings.login_lockout_seconds,
        ),
    )
    return _render_login(
        request,
        next_url=next_url,
        status=401,
        error=LOGIN_ERRORS["invalid"],
        username=username,
    )


def _logout(session: Session, token: str, actor: str, ip: str) -> None:
    session.execute(delete(StaffSession).where(StaffSession.token_hash == hash_token(token)))
    audit.record(session, actor=actor, action="logout", ip=ip)


async def logout(request: web.Request) -> web.StreamResponse:
    """POST /logout (CSRF-checked by the middleware): end this session."""
    user = request[USER_KEY]
    token = request.cookies.get(SESSION_COOKIE)
    if user is not None and token:
        ip = client_ip(request)
        await _db(request, lambda s: _logout(s, token, user.username, ip))
    response = web.Response(status=303, headers={"Location": f"{LOGIN_PATH}?logged_out=1"})
    _set_cookie(response, request, SESSION_COOKIE, "", max_age=0)
    return response


def setup(app: web.Application) -> None:
    """Register /login and /logout, the password hasher and the ``cst`` template filter."""
    app[PASSWORDS_KEY] = PasswordCheck(make_hasher(app[SETTINGS_KEY]))
    aiohttp_jinja2.get_env(app).filters["cst"] = format_time
    app.router.add_get(LOGIN_PATH, login_page, name="login")
    app.router.add_post(LOGIN_PATH, login_submit, name="login_submit")
    app.router.add_post(LOGOUT_PATH, logout, name="logout")
