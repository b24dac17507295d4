"""Staff console authentication against the real app: login, sessions, CSRF, roles, demo users."""

from __future__ import annotations

import hashlib
import logging
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bot.console import users
from bot.console.app import create_app
from bot.console.auth import (
    CONSOLE_CSP,
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    requires,
    safe_next,
)
from bot.console.db import make_engine, make_sessionmaker
from bot.console.keys import SESSIONS_KEY, USER_KEY
from bot.console.models import AuditEntry, LoginAttempt, StaffSession, StaffUser
from bot.settings import Settings

T = TypeVar("T")

ADMIN = ("admin", "admin-demo-2026")
SUPPORT = ("support", "support-demo-2026")
TRAINER = ("trainer", "trainer-demo-2026")
CSRF_RE = re.compile(r'name="_csrf" value="([^"]+)"')


def make_settings(tmp_path: Path, **env: str) -> Settings:
    base = {
        "BANKBOT_DATA_DIR": str(tmp_path),
        "WEB_PORT": "0",
        "RASA_URL": "http://127.0.0.1:5105",
        # Cheap argon2 so the suite stays fast; production keeps argon2's defaults.
        "PASSWORD_HASH_TIME_COST": "1",
        "PASSWORD_HASH_MEMORY_KIB": "1024",
    }
    base.update(env)
    return Settings.from_env(base)


async def probe(request: web.Request) -> web.Response:
    """Echoes the user and the form: proves handlers can still read a form after the CSRF check."""
    form = await request.post()
    return web.json_response(
        {"user": request[USER_KEY].username, "note": form.get("note"), "body": await request.text()}
    )


def build_app(settings: Settings) -> web.Application:
    app = create_app(settings)
    app.router.add_post("/console/probe", requires()(probe))
    app.router.add_post("/api/probe", requires("support")(probe))
    app.router.add_get("/api/whoami", requires()(whoami))
    app.router.add_get("/console/trainer-only", requires("trainer")(whoami))
    return app


async def whoami(request: web.Request) -> web.Response:
    return web.json_response({"user": request[USER_KEY].username, "role": request[USER_KEY].role})


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


@pytest.fixture
async def client(aiohttp_client: Any, settings: Settings) -> Any:
    return await aiohttp_client(build_app(settings))


def db(client: Any, work: Callable[[Session], T]) -> T:
    """Run ``work`` in one committed transaction on the app's own database."""
    with client.server.app[SESSIONS_KEY]() as session:
        result = work(session)
        session.commit()
        return result


def audit_actions(client: Any) -> list[tuple[str | None, str, dict | None]]:
    return db(
        client,
        lambda s: [
            (e.actor, e.action, e.detail)
            for e in s.execute(select(AuditEntry).order_by(AuditEntry.id)).scalars()
        ],
    )


async def login_form_token(client: Any) -> str:
    """The login form's token (and its cookie), as a tab opened before any login would have it.

    A logged-in browser is sent on from /login, so the session cookie is held back for
    this one request and put back afterwards.
    """
    jar = client.session.cookie_jar
    saved = {c.key: c.value for c in jar if c.key == SESSION_COOKIE}
    jar.clear(lambda c: c.key == SESSION_COOKIE)
    page = await client.get("/login", allow_redirects=False)
    assert page.status == 200
    if saved:
        jar.update_cookies(saved, client.make_url("/"))
    match = CSRF_RE.search(await page.text())
    assert match
    return match.group(1)


async def login(client: Any, username: str, password: str, next_url: str | None = None) -> Any:
    """Fetch the login form (token + cookie) and submit it; no redirects followed."""
    token = await login_form_token(client)
    data = {"_csrf": token, "username": username, "password": password}
    if next_url is not None:
        data["next"] = next_url
    return await client.post("/login", data=data, allow_redirects=False)


async def csrf_token(client: Any) -> str:
    """The session's CSRF token, from the logout form every console page carries."""
    page = await client.get("/console/admin/users", allow_redirects=False)
    match = CSRF_RE.search(await page.text())
    assert match, page.status
    return match.group(1)


def set_cookie_header(response: Any, name: str) -> str:
    headers = [h for h in response.headers.getall("Set-Cookie", []) if h.startswith(f"{name}=")]
    assert headers, f"no Set-Cookie for {name}"
    return headers[-1]


# ---------------------------------------------------------------------------
# login page


async def test_login_page_is_chinese_with_form_token_and_strict_csp(client: Any) -> None:
    response = await client.get("/login")
    assert response.status == 200
    html = await response.text()
    assert '<html lang="zh-CN">' in html
    assert "<title>登录 · 沪银智能助手 · 客服工作台</title>" in html
    assert "员工登录" in html
    assert "<script" not in html  # CSP allows no inline script
    assert "style=" not in html
    token = CSRF_RE.search(html).group(1)
    cookie = set_cookie_header(response, LOGIN_CSRF_COOKIE)
    assert f"{LOGIN_CSRF_COOKIE}={token}" in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=Strict" in cookie
    assert "Path=/login" in cookie
    assert response.headers["Content-Security-Policy"] == CONSOLE_CSP
    assert "frame-ancestors 'none'" in CONSOLE_CSP
    assert response.headers["Cache-Control"] == "no-store"
    # The public chat page keeps its own policy.
    chat = await client.get("/")
    assert chat.headers["Content-Security-Policy"] != CONSOLE_CSP


async def test_login_sets_a_hashed_session_with_strict_cookie(client: Any) -> None:
    response = await login(client, *ADMIN)
    assert response.status == 303
    assert response.headers["Location"] == "/console/"
    cookie = set_cookie_header(response, SESSION_COOKIE)
    assert "HttpOnly" in cookie
    assert "SameSite=Strict" in cookie
    assert "Secure" not in cookie  # sandbox over plain http
    token = response.cookies[SESSION_COOKIE].value
    assert len(token) >= 40
    rows = db(client, lambda s: list(s.execute(select(StaffSession)).scalars()))
    assert len(rows) == 1
    assert rows[0].token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in (rows[0].token_hash, rows[0].csrf_token)
    # The login form's own token is retired.
    assert "Max-Age=0" in set_cookie_header(response, LOGIN_CSRF_COOKIE)
    assert ("admin", "login", None) in audit_actions(client)
    user = db(client, lambda s: users.find_user(s, "admin"))
    assert user.last_login_at is not None and user.failed_logins == 0
    # The session works.
    whoami = await client.get("/api/whoami")
    assert await whoami.json() == {"user": "admin", "role": "admin"}


async def test_secure_cookie_when_configured_or_outside_the_sandbox(
    aiohttp_client: Any, tmp_path: Path
) -> None:
    assert make_settings(tmp_path).console_secure_cookies is False
    assert make_settings(tmp_path, BANKBOT_PROFILE="production").console_secure_cookies is True
    settings = make_settings(tmp_path, CONSOLE_SECURE_COOKIES="1")
    client = await aiohttp_client(build_app(settings))
    page = await client.get("/login")
    assert "Secure" in set_cookie_header(page, LOGIN_CSRF_COOKIE)
    token = CSRF_RE.search(await page.text()).group(1)
    response = await client.post(
        "/login",
        data={"_csrf": token, "username": "admin", "password": ADMIN[1]},
        headers={"Cookie": f"{LOGIN_CSRF_COOKIE}={token}"},
        allow_redirects=False,
    )
    assert response.status == 303
    assert "Secure" in set_cookie_header(response, SESSION_COOKIE)


async def test_wrong_password_and_unknown_user_get_the_same_answer(client: Any) -> None:
    wrong = await login(client, "admin", "not-the-password")
    unknown = await login(client, "nobody", "not-the-password")
    assert wrong.status == unknown.status == 401
    error = re.compile(r'<p class="notice notice-error" role="alert">(.*?)</p>')
    wrong_text = error.search(await wrong.text()).group(1)
    assert wrong_text == error.search(await unknown.text()).group(1)
    assert "用户名或密码错误" in wrong_text
    assert SESSION_COOKIE not in wrong.cookies
    assert db(client, lambda s: s.execute(select(StaffSession)).first()) is None
    failed = [(a, d) for a, action, d in audit_actions(client) if action == "login_failed"]
    assert failed == [("admin", {"reason": "bad_password"}), ("nobody", {"reason": "unknown_user"})]
    attempts = db(client, lambda s: [a.ok for a in s.execute(select(LoginAttempt)).scalars()])
    assert attempts == [False, False]
    assert db(client, lambda s: users.find_user(s, "admin").failed_logins) == 1
    # The form is refilled with the username, never the password.
    wrong_html = await wrong.text()
    assert 'id="login-username" name="username" type="text" value="admin"' in wrong_html
    assert "not-the-password" not in wrong_html


async def test_account_locks_after_consecutive_failures(
    aiohttp_client: Any, tmp_path: Path
) -> None:
    client = await aiohttp_client(
        build_app(make_settings(tmp_path, LOGIN_MAX_FAILURES="3", LOGIN_LOCKOUT_SECONDS="600"))
    )
    for _ in range(3):
        assert (await login(client, "support", "wrong-password-x")).status == 401
    user = db(client, lambda s: users.find_user(s, "support"))
    assert user.locked_until is not None and user.locked_until > time.time() + 500
    assert any(action == "lockout" for _a, action, _d in audit_actions(client))
    # Even the right password is refused while locked, with the same generic answer.
    locked = await login(client, *SUPPORT)
    assert locked.status == 401
    assert "用户名或密码错误" in await locked.text()
    assert SESSION_COOKIE not in locked.cookies
    assert audit_actions(client)[-1] == ("support", "login_failed", {"reason": "locked"})
    # When the lock has run out, the right password works and the count restarts.
    db(
        client,
        lambda s: s.execute(
            update(StaffUser)
            .where(StaffUser.username == "support")
            .values(locked_until=time.time() - 1)
        ),
    )
    assert (await login(client, *SUPPORT)).status == 303
    user = db(client, lambda s: users.find_user(s, "support"))
    assert user.locked_until is None and user.failed_logins == 0


async def test_failure_count_is_consecutive(aiohttp_client: Any, tmp_path: Path) -> None:
    client = await aiohttp_client(build_app(make_settings(tmp_path, LOGIN_MAX_FAILURES="3")))
    for _ in range(2):
        await login(client, "support", "wrong-password-x")
    assert (await login(client, *SUPPORT)).status == 303
    for _ in range(2):
        await login(client, "support", "wrong-password-x")
    assert db(client, lambda s: users.find_user(s, "support").locked_until) is None


async def test_address_rate_limit_answers_429(aiohttp_client: Any, tmp_path: Path) -> None:
    client = await aiohttp_client(
        build_app(make_settings(tmp_path, LOGIN_IP_MAX_FAILURES="3", LOGIN_MAX_FAILURES="100"))
    )
    for name in ("a1", "b2", "c3"):
        assert (await login(client, name, "whatever-password")).status == 401
    limited = await login(client, *ADMIN)
    assert limited.status == 429
    assert "登录失败次数过多，请 15 分钟后再试" in await limited.text()
    assert SESSION_COOKIE not in limited.cookies
    # Old failures fall out of the window.
    db(client, lambda s: s.execute(update(LoginAttempt).values(at=time.time() - 901)))
    assert (await login(client, *ADMIN)).status == 303


async def test_login_form_needs_its_token(client: Any) -> None:
    await client.get("/login")  # sets the cookie
    missing = await client.post(
        "/login", data={"username": "admin", "password": ADMIN[1]}, allow_redirects=False
    )
    assert missing.status == 403
    assert "页面已过期" in await missing.text()
    forged = await client.post(
        "/login",
        data={"_csrf": "x" * 43, "username": "admin", "password": ADMIN[1]},
        allow_redirects=False,
    )
    assert forged.status == 403
    client.session.cookie_jar.clear()
    page = await client.get("/login")
    token = CSRF_RE.search(await page.text()).group(1)
    client.session.cookie_jar.clear()  # token without its cookie
    no_cookie = await client.post(
        "/login",
        data={"_csrf": token, "username": "admin", "password": ADMIN[1]},
        allow_redirects=False,
    )
    assert no_cookie.status == 403
    assert db(client, lambda s: s.execute(select(StaffSession)).first()) is None


async def test_login_rotates_the_session(client: Any) -> None:
    first = await login(client, *SUPPORT)
    first_token = first.cookies[SESSION_COOKIE].value
    second = await login(client, *ADMIN)
    second_token = second.cookies[SESSION_COOKIE].value
    assert first_token != second_token
    hashes = db(client, lambda s: [r.token_hash for r in s.execute(select(StaffSession)).scalars()])
    assert hashes == [hashlib.sha256(second_token.encode()).hexdigest()]


async def test_logged_in_staff_skip_the_login_form(client: Any) -> None:
    await login(client, *SUPPORT)
    response = await client.get("/login?next=/console/queue", allow_redirects=False)
    assert response.status == 302
    assert response.headers["Location"] == "/console/queue"


# ---------------------------------------------------------------------------
# sessions, logout, redirects


async def test_expired_session_is_refused_and_deleted(client: Any) -> None:
    await login(client, *ADMIN)
    assert (await client.get("/console/admin/users", allow_redirects=False)).status == 200
    db(client, lambda s: s.execute(update(StaffSession).values(expires_at=time.time() - 1)))
    response = await client.get("/console/admin/users", allow_redirects=False)
    assert response.status == 302
    assert response.headers["Location"] == "/login?next=/console/admin/users"
    assert db(client, lambda s: s.execute(select(StaffSession)).first()) is None


async def test_session_lifetime_comes_from_settings(aiohttp_client: Any, tmp_path: Path) -> None:
    client = await aiohttp_client(build_app(make_settings(tmp_path, CONSOLE_SESSION_SECONDS="120")))
    before = time.time()
    response = await login(client, *SUPPORT)
    assert "Max-Age=120" in set_cookie_header(response, SESSION_COOKIE)
    row = db(client, lambda s: s.execute(select(StaffSession)).scalar_one())
    assert before + 119 <= row.expires_at <= time.time() + 121


async def test_logout_needs_post_and_csrf_and_ends_the_session(client: Any) -> None:
    await login(client, *ADMIN)
    token = await csrf_token(client)
    assert (await client.get("/logout", allow_redirects=False)).status == 405
    refused = await client.post("/logout", allow_redirects=False)
    assert refused.status == 403
    assert db(client, lambda s: s.execute(select(StaffSession)).first()) is not None
    response = await client.post("/logout", data={"_csrf": token}, allow_redirects=False)
    assert response.status == 303
    assert response.headers["Location"] == "/login?logged_out=1"
    assert "Max-Age=0" in set_cookie_header(response, SESSION_COOKIE)
    assert db(client, lambda s: s.execute(select(StaffSession)).first()) is None
    assert audit_actions(client)[-1] == ("admin", "logout", None)
    page = await client.get("/login?logged_out=1")
    assert "您已安全退出" in await page.text()
    assert (await client.get("/console/admin/users", allow_redirects=False)).status == 302


async def test_anonymous_pages_redirect_and_api_answers_401(client: Any) -> None:
    response = await client.get("/console/admin/audit?action=login&actor=a", allow_redirects=False)
    assert response.status == 302
    location = urlsplit(response.headers["Location"])
    assert location.path == "/login"
    assert parse_qs(location.query) == {"next": ["/console/admin/audit?action=login&actor=a"]}
    assert response.headers["Content-Security-Policy"] == CONSOLE_CSP
    page = await client.get(response.headers["Location"])
    assert 'name="next" value="/console/admin/audit?action=login&amp;actor=a"' in await page.text()
    api = await client.get("/api/whoami")
    assert api.status == 401
    assert await api.json() == {"error": "未登录或登录已过期"}
    post = await client.post("/api/probe", json={"note": "x"})
    assert post.status == 401


@pytest.mark.parametrize(
    "next_url,expected",
    [
        ("/console/queue", "/console/queue"),
        ("/console/conversations?status=waiting", "/console/conversations?status=waiting"),
        ("//evil.com", "/console/"),
        ("//evil.com/console/", "/console/"),
        ("https://evil.com/", "/console/"),
        ("/\\evil.com", "/console/"),
        ("/\t/evil.com", "/console/"),
        ("javascript:alert(1)", "/console/"),
        ("console/queue", "/console/"),
        ("/login", "/console/"),
        ("", "/console/"),
    ],
)
def test_safe_next_allows_only_local_paths(next_url: str, expected: str) -> None:
    assert safe_next(next_url) == expected


@pytest.mark.parametrize("target", ["//evil.com", "https://evil.com/x", "/\\evil.com"])
async def test_no_open_redirect_after_login(client: Any, target: str) -> None:
    response = await login(client, *SUPPORT, next_url=target)
    assert response.status == 303
    assert response.headers["Location"] == "/console/"


async def test_login_returns_to_the_requested_page(client: Any) -> None:
    response = await login(client, *ADMIN, next_url="/console/admin/audit?action=login")
    assert response.headers["Location"] == "/console/admin/audit?action=login"


# ---------------------------------------------------------------------------
# CSRF and roles


async def test_state_changes_need_the_session_csrf_token(client: Any) -> None:
    await login(client, *SUPPORT)
    token = await csrf_token(client)
    missing = await client.post("/console/probe", data={"note": "hi"})
    assert missing.status == 403
    assert "安全校验失败" in await missing.text()
    # Change the last character to one it certainly is not (it may already be "A").
    forged = token[:-1] + ("B" if token.endswith("A") else "A")
    wrong = await client.post("/console/probe", data={"note": "hi", "_csrf": forged})
    assert wrong.status == 403
    ok = await client.post("/console/probe", data={"note": "你好", "_csrf": token})
    assert ok.status == 200
    body = await ok.json()
    assert body["user"] == "support"
    assert body["note"] == "你好"  # the handler still reads the form
    multipart = await client.post(
        "/console/probe",
        data={"note": "多部分", "_csrf": token, "file": b"bytes"},
    )
    assert multipart.status == 200
    # JSON APIs send the header; their body stays readable.
    api = await client.post("/api/probe", json={"note": "x"}, headers={"X-CSRF-Token": token})
    assert api.status == 200
    assert (await api.json())["body"] == '{"note": "x"}'
    api_missing = await client.post("/api/probe", json={"note": "x"})
    assert api_missing.status == 403
    assert await api_missing.json() == {"error": "安全校验失败（CSRF），请刷新页面后重试。"}
    for method in ("PUT", "PATCH", "DELETE"):
        assert (await client.request(method, "/console/probe")).status == 403


async def test_another_sessions_token_is_rejected(aiohttp_client: Any, settings: Settings) -> None:
    app = build_app(settings)
    alice = await aiohttp_client(app)
    await login(alice, *SUPPORT)
    token = await csrf_token(alice)
    await login(alice, *SUPPORT)  # rotation: a new session with a new token
    assert (await alice.post("/console/probe", data={"_csrf": token})).status == 403
    fresh = await csrf_token(alice)
    assert fresh != token
    assert (await alice.post("/console/probe", data={"_csrf": fresh})).status == 200


async def test_roles(client: Any) -> None:
    await login(client, *SUPPORT)
    denied = await client.get("/console/trainer-only")
    assert denied.status == 403
    assert "无权访问" in await denied.text()
    await login(client, *TRAINER)
    assert (await client.get("/console/trainer-only")).status == 200
    assert (await client.get("/console/admin/users")).status == 403
    await login(client, *ADMIN)  # admin may do everything
    assert (await client.get("/console/trainer-only")).status == 200
    token = await csrf_token(client)
    assert (await client.post("/api/probe", json={}, headers={"X-CSRF-Token": token})).status == 200


def test_requires_rejects_unknown_roles() -> None:
    with pytest.raises(ValueError, match="unknown role"):
        requires("superuser")


async def test_disabled_user_loses_the_session_and_cannot_log_in(client: Any) -> None:
    await login(client, *SUPPORT)
    assert (await client.get("/api/whoami")).status == 200
    db(
        client,
        lambda s: s.execute(
            update(StaffUser).where(StaffUser.username == "support").values(disabled=True)
        ),
    )
    assert (await client.get("/api/whoami")).status == 401
    assert (await login(client, *SUPPORT)).status == 401
    assert audit_actions(client)[-1] == ("support", "login_failed", {"reason": "disabled"})


async def test_base_page_shows_name_role_and_the_nav_for_the_role(client: Any) -> None:
    await login(client, *ADMIN)
    html = await (await client.get("/console/admin/users")).text()
    assert "<title>" in html and "沪银智能助手" in html
    assert "张经理" in html
    assert 'badge-role-admin">管理员</span>' in html
    for href, label in [
        ("/console/conversations", "会话"),
        ("/console/queue", "待接入"),
        ("/console/analytics", "统计"),
        ("/console/trainer", "训练"),
        ("/console/admin/users", "用户"),
        ("/console/admin/audit", "审计"),
    ]:
        assert re.search(rf'<a href="{href}"[^>]*>{label}</a>', html), label
    assert 'action="/logout"' in html
    assert 'href="/static/console/console.css"' in html
    await login(client, *SUPPORT)
    html = await (await client.get("/console/admin/users")).text()  # the 403 page
    assert 'badge-role-support">客服</span>' in html
    assert 'href="/console/admin/users"' not in html
    assert 'href="/console/trainer"' not in html
    assert 'href="/console/queue"' in html


async def test_stylesheet_is_served(client: Any) -> None:
    response = await client.get("/static/console/console.css")
    assert response.status == 200
    assert ".topnav" in await response.text()


async def test_password_hash_is_upgraded_on_login(aiohttp_client: Any, tmp_path: Path) -> None:
    first = await aiohttp_client(build_app(make_settings(tmp_path)))
    old_hash = db(first, lambda s: users.find_user(s, "admin").password_hash)
    assert "t=1" in old_hash
    await first.close()
    stronger = await aiohttp_client(build_app(make_settings(tmp_path, PASSWORD_HASH_TIME_COST="2")))
    assert (await login(stronger, *ADMIN)).status == 303
    new_hash = db(stronger, lambda s: users.find_user(s, "admin").password_hash)
    assert "t=2" in new_hash and new_hash != old_hash


# ---------------------------------------------------------------------------
# demo accounts


async def test_sandbox_creates_one_demo_user_per_role_and_logs_them(
    aiohttp_client: Any, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="bot.console.users"):
        client = await aiohttp_client(build_app(settings))
    rows = db(client, users.list_users)
    assert {(r.username, r.role, r.demo_password) for r in rows} == {
        ("support", "support", True),
        ("trainer", "trainer", True),
        ("admin", "admin", True),
    }
    logged = caplog.text
    for name, password in (ADMIN, SUPPORT, TRAINER):
        assert f"用户名 {name}  密码 {password}" in logged
    for name, password in (ADMIN, SUPPORT, TRAINER):
        assert (await login(client, name, password)).status == 303
    created = [a for a in audit_actions(client) if a[1] == "user_created"]
    assert len(created) == 3
    # A restart neither duplicates them nor reaudits.
    await client.close()
    again = await aiohttp_client(build_app(settings))
    assert len(db(again, users.list_users)) == 3
    assert len([a for a in audit_actions(again) if a[1] == "user_created"]) == 3
    assert users.demo_credentials(settings) == [
        ("support", "support", SUPPORT[1]),
        ("trainer", "trainer", TRAINER[1]),
        ("admin", "admin", ADMIN[1]),
    ]


async def test_other_profiles_refuse_to_start_with_a_demo_password(
    aiohttp_client: Any, tmp_path: Path
) -> None:
    sandbox = await aiohttp_client(build_app(make_settings(tmp_path)))
    await sandbox.close()
    production = make_settings(tmp_path, BANKBOT_PROFILE="production")
    server = TestServer(build_app(production))
    with pytest.raises(users.DemoPasswordError) as excinfo:
        await server.start_server()
    await server.close()
    message = str(excinfo.value)
    assert "'production' refuses to start" in message
    assert "admin, support, trainer" in message
    assert "set-password" in message
    # Change two passwords and disable the third: now it starts, and creates no demo users.
    factory_settings = make_settings(tmp_path)
    engine = make_engine(factory_settings.console_db_url)
    hasher = users.make_hasher(factory_settings)
    with make_sessionmaker(engine)() as session:
        users.set_password(session, hasher, users.get_user(session, "admin"), "a-new-long-secret")
        users.set_password(session, hasher, users.get_user(session, "support"), "b-new-long-secret")
        users.disable_user(session, users.get_user(session, "trainer"))
        session.commit()
    engine.dispose()
    client = await aiohttp_client(build_app(production))
    assert (await client.get("/login")).status == 200
    assert len(db(client, users.list_users)) == 3
    assert users.demo_credentials(production) == []


async def test_production_profile_without_users_starts_empty(
    aiohttp_client: Any, tmp_path: Path
) -> None:
    settings = make_settings(tmp_path, BANKBOT_PROFILE="production", CONSOLE_SECURE_COOKIES="0")
    client = await aiohttp_client(build_app(settings))
    assert db(client, users.list_users) == []
    assert (await login(client, *ADMIN)).status == 401
