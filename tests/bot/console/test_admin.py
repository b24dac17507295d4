"""Admin pages against the real app: staff accounts, roles, lock-outs and the audit log."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bot.console import audit, users
from bot.console.app import create_app
from bot.console.keys import SESSIONS_KEY
from bot.console.models import AuditEntry, StaffSession, StaffUser
from bot.settings import Settings

T = TypeVar("T")

ADMIN = ("admin", "admin-demo-2026")
SUPPORT = ("support", "support-demo-2026")
TRAINER = ("trainer", "trainer-demo-2026")
CSRF_RE = re.compile(r'name="_csrf" value="([^"]+)"')
USERS = "/console/admin/users"
AUDIT = "/console/admin/audit"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings.from_env(
        {
            "BANKBOT_DATA_DIR": str(tmp_path),
            "WEB_PORT": "0",
            "PASSWORD_HASH_TIME_COST": "1",
            "PASSWORD_HASH_MEMORY_KIB": "1024",
        }
    )


@pytest.fixture
async def app_client(aiohttp_client: Any, settings: Settings) -> Callable[[], Any]:
    """A factory of clients (each with its own cookie jar) on one running app."""
    first = await aiohttp_client(create_app(settings))
    handed_out = False

    async def make() -> Any:
        nonlocal handed_out
        if not handed_out:
            handed_out = True
            return first
        return await aiohttp_client(first.server)

    return make


def db(client: Any, work: Callable[[Session], T]) -> T:
    with client.server.app[SESSIONS_KEY]() as session:
        result = work(session)
        session.commit()
        return result


async def login(client: Any, username: str, password: str) -> Any:
    page = await client.get("/login")
    token = CSRF_RE.search(await page.text()).group(1)
    response = await client.post(
        "/login",
        data={"_csrf": token, "username": username, "password": password},
        allow_redirects=False,
    )
    return response


async def as_user(make: Callable[[], Any], username: str, password: str) -> tuple[Any, str]:
    """A logged-in client and its CSRF token."""
    client = await make()
    assert (await login(client, username, password)).status == 303
    page = await client.get(USERS)  # admins get the page, others the 403 page: both carry it
    return client, CSRF_RE.search(await page.text()).group(1)


def user_id(client: Any, username: str) -> int:
    return db(client, lambda s: users.get_user(s, username).id)


def last_audit(client: Any) -> AuditEntry:
    return db(
        client,
        lambda s: s.execute(select(AuditEntry).order_by(AuditEntry.id.desc())).scalars().first(),
    )


# ---------------------------------------------------------------------------
# access


@pytest.mark.parametrize("who", [SUPPORT, TRAINER])
async def test_support_and_trainer_cannot_manage_users_or_read_the_audit_log(
    app_client: Callable[[], Any], who: tuple[str, str]
) -> None:
    client, token = await as_user(app_client, *who)
    for path in (USERS, AUDIT):
        response = await client.get(path)
        assert response.status == 403
        assert "无权访问" in await response.text()
    created = await client.post(
        USERS,
        data={
            "_csrf": token,
            "username": "mallory",
            "role": "admin",
            "password": "long-enough-pw",
            "password2": "long-enough-pw",
        },
    )
    assert created.status == 403
    promoted = await client.post(
        f"{USERS}/{user_id(client, who[0])}/role", data={"_csrf": token, "role": "admin"}
    )
    assert promoted.status == 403
    assert db(client, lambda s: users.find_user(s, "mallory")) is None
    assert db(client, lambda s: users.get_user(s, who[0]).role) == who[0]


async def test_anonymous_is_sent_to_login(app_client: Callable[[], Any]) -> None:
    client = await app_client()
    for path in (USERS, AUDIT):
        response = await client.get(path, allow_redirects=False)
        assert response.status == 302
        assert response.headers["Location"] == f"/login?next={path}"


async def test_post_without_csrf_token_is_rejected(app_client: Callable[[], Any]) -> None:
    client, _token = await as_user(app_client, *ADMIN)
    response = await client.post(
        USERS,
        data={
            "username": "eve",
            "role": "support",
            "password": "long-enough-pw",
            "password2": "long-enough-pw",
        },
    )
    assert response.status == 403
    assert db(client, lambda s: users.find_user(s, "eve")) is None


# ---------------------------------------------------------------------------
# users page


async def test_users_page_lists_accounts_with_state(app_client: Callable[[], Any]) -> None:
    client, _token = await as_user(app_client, *ADMIN)
    db(
        client,
        lambda s: s.execute(
            update(StaffUser)
            .where(StaffUser.username == "trainer")
            .values(locked_until=time.time() + 300)
        ),
    )
    html = await (await client.get(USERS)).text()
    rows = dict(re.findall(r'<tr data-username="([^"]+)">(.*?)</tr>', html, re.S))
    assert set(rows) == {"admin", "support", "trainer"}
    assert "演示密码" in rows["support"]
    assert "已锁定" in rows["trainer"] and "解除锁定" in rows["trainer"]
    assert "正常" in rows["support"]
    assert "从未登录" in rows["support"]
    assert "从未登录" not in rows["admin"]  # just logged in
    assert re.search(r'<option value="trainer" selected>训练师</option>', rows["trainer"])
    assert "停用" not in rows["admin"].split("重置密码")[0]  # no button to disable oneself


async def test_admin_creates_a_user_who_can_log_in(app_client: Callable[[], Any]) -> None:
    admin, token = await as_user(app_client, *ADMIN)
    response = await admin.post(
        USERS,
        data={
            "_csrf": token,
            "username": "Li.Na",
            "display_name": "李娜",
            "role": "support",
            "password": "lina-secret-01",
            "password2": "lina-secret-01",
        },
        allow_redirects=False,
    )
    assert response.status == 303
    assert response.headers["Location"] == f"{USERS}?ok=created&user=li.na"
    page = await admin.get(response.headers["Location"])
    assert "已创建用户 li.na。" in await page.text()
    row = db(admin, lambda s: users.get_user(s, "li.na"))
    assert (row.display_name, row.role, row.demo_password) == ("李娜", "support", False)
    assert row.password_hash.startswith("$argon2id$")
    entry = last_audit(admin)
    assert (entry.actor, entry.action, entry.target) == ("admin", "user_created", "li.na")
    assert entry.detail == {"role": "support", "via": "console"}
    log = await (await admin.get(f"{AUDIT}?action=user_created")).text()
    assert "角色：客服，来源：工作台" in log
    assert "角色：管理员，来源：沙箱演示初始化" in log
    lina = await app_client()
    assert (await login(lina, "LI.NA", "lina-secret-01")).status == 303


@pytest.mark.parametrize(
    "fields,message",
    [
        ({"password": "short", "password2": "short"}, "密码至少 10 个字符"),
        ({"password": "long-enough-1", "password2": "long-enough-2"}, "两次输入的密码不一致"),
        ({"username": "support"}, "用户已存在：support"),
        ({"username": "<b>x</b>"}, "用户名须为"),
        ({"role": "root"}, "角色无效"),
    ],
)
async def test_create_user_errors_rerender_the_form(
    app_client: Callable[[], Any], fields: dict[str, str], message: str
) -> None:
    admin, token = await as_user(app_client, *ADMIN)
    data = {
        "_csrf": token,
        "username": "newbie",
        "display_name": "新人",
        "role": "support",
        "password": "long-enough-pw",
        "password2": "long-enough-pw",
        **fields,
    }
    response = await admin.post(USERS, data=data)
    assert response.status == 400
    html = await response.text()
    assert message in html
    assert 'value="新人"' in html  # kept for the next try
    assert f'value="{data["password"]}"' not in html  # passwords are never echoed
    assert len(db(admin, users.list_users)) == 3


async def test_role_change_is_audited_and_effective_at_once(app_client: Callable[[], Any]) -> None:
    admin, token = await as_user(app_client, *ADMIN)
    support, _ = await as_user(app_client, *SUPPORT)
    assert (await support.get(USERS)).status == 403
    response = await admin.post(
        f"{USERS}/{user_id(admin, 'support')}/role",
        data={"_csrf": token, "role": "admin"},
        allow_redirects=False,
    )
    assert response.status == 303
    entry = last_audit(admin)
    assert (entry.actor, entry.action, entry.target) == ("admin", "role_change", "support")
    assert entry.detail == {"old": "support", "new": "admin", "via": "console"}
    assert (await support.get(USERS)).status == 200  # the open session sees the new role
    audit_page = await (await admin.get(AUDIT)).text()
    assert "客服 → 管理员" in audit_page


async def test_last_admin_cannot_be_demoted_or_disabled(app_client: Callable[[], Any]) -> None:
    admin, token = await as_user(app_client, *ADMIN)
    admin_id = user_id(admin, "admin")
    demoted = await admin.post(f"{USERS}/{admin_id}/role", data={"_csrf": token, "role": "support"})
    assert demoted.status == 400
    assert "至少需要保留一名启用的管理员" in await demoted.text()
    assert db(admin, lambda s: users.get_user(s, "admin").role) == "admin"
    disabled = await admin.post(f"{USERS}/{admin_id}/disable", data={"_csrf": token})
    assert disabled.status == 400
    assert not db(admin, lambda s: users.get_user(s, "admin").disabled)


async def test_disable_ends_sessions_and_enable_restores(app_client: Callable[[], Any]) -> None:
    admin, token = await as_user(app_client, *ADMIN)
    support, _ = await as_user(app_client, *SUPPORT)
    support_id = user_id(admin, "support")
    response = await admin.post(
        f"{USERS}/{support_id}/disable", data={"_csrf": token}, allow_redirects=False
    )
    assert response.status == 303
    assert (last_audit(admin).action, last_audit(admin).target) == ("user_disabled", "support")
    assert (
        db(
            admin,
            lambda s: s.execute(
                select(StaffSession).where(StaffSession.user_id == support_id)
            ).first(),
        )
        is None
    )
    assert (await support.get(USERS, allow_redirects=False)).status == 302
    assert (await login(support, *SUPPORT)).status == 401
    html = await (await admin.get(USERS)).text()
    assert (
        "已停用"
        in dict(re.findall(r'<tr data-username="([^"]+)">(.*?)</tr>', html, re.S))["support"]
    )
    await admin.post(f"{USERS}/{support_id}/enable", data={"_csrf": token})
    assert last_audit(admin).action == "user_enabled"
    assert (await login(support, *SUPPORT)).status == 303


async def test_unlock_lifts_a_lockout(app_client: Callable[[], Any]) -> None:
    admin, token = await as_user(app_client, *ADMIN)
    db(
        admin,
        lambda s: s.execute(
            update(StaffUser)
            .where(StaffUser.username == "trainer")
            .values(locked_until=time.time() + 900, failed_logins=0)
        ),
    )
    trainer = await app_client()
    assert (await login(trainer, *TRAINER)).status == 401
    await admin.post(f"{USERS}/{user_id(admin, 'trainer')}/unlock", data={"_csrf": token})
    assert last_audit(admin).action == "user_unlocked"
    assert (await login(trainer, *TRAINER)).status == 303


async def test_password_reset_clears_the_demo_flag_and_sessions(
    app_client: Callable[[], Any],
) -> None:
    admin, token = await as_user(app_client, *ADMIN)
    support, _ = await as_user(app_client, *SUPPORT)
    support_id = user_id(admin, "support")
    mismatch = await admin.post(
        f"{USERS}/{support_id}/password",
        data={"_csrf": token, "password": "new-support-pw", "password2": "other-support-pw"},
    )
    assert mismatch.status == 400
    await admin.post(
        f"{USERS}/{support_id}/password",
        data={"_csrf": token, "password": "new-support-pw", "password2": "new-support-pw"},
    )
    assert db(admin, lambda s: users.get_user(s, "support").demo_password) is False
    assert (last_audit(admin).action, last_audit(admin).target) == ("password_changed", "support")
    assert (await support.get(USERS, allow_redirects=False)).status == 302
    assert (await login(support, *SUPPORT)).status == 401
    assert (await login(support, "support", "new-support-pw")).status == 303


async def test_unknown_user_id_is_404(app_client: Callable[[], Any]) -> None:
    admin, token = await as_user(app_client, *ADMIN)
    response = await admin.post(f"{USERS}/999/unlock", data={"_csrf": token})
    assert response.status == 400
    assert "用户不存在" in await response.text()
    assert (await admin.post(f"{USERS}/1/explode", data={"_csrf": token})).status == 404


# ---------------------------------------------------------------------------
# audit page


def add_entries(client: Any, count: int) -> None:
    def work(session: Session) -> None:
        for i in range(count):
            audit.record(
                session,
                actor="support" if i % 2 else "trainer",
                action="reveal",
                target=f"conv-{i}",
                detail={"message_id": i},
                ip="10.0.0.9",
            )

    db(client, work)


async def test_audit_page_newest_first_with_filters_and_pages(
    app_client: Callable[[], Any],
) -> None:
    admin, _token = await as_user(app_client, *ADMIN)
    add_entries(admin, 120)
    html = await (await admin.get(AUDIT)).text()
    targets = re.findall(r'<td class="mono">(conv-\d+)</td>', html)
    assert targets[:3] == ["conv-119", "conv-118", "conv-117"]
    assert len(re.findall(r"<tr data-action=", html)) == 50
    assert "查看原文" in html and "10.0.0.9" in html
    older = re.search(r'<a class="button" href="([^"]+)" rel="next">', html).group(1)
    page2 = await (await admin.get(older.replace("&amp;", "&"))).text()
    assert re.findall(r'<td class="mono">(conv-\d+)</td>', page2)[0] == "conv-69"
    assert "« 最新" in page2

    filtered = await (await admin.get(f"{AUDIT}?action=reveal&actor=support")).text()
    rows = re.findall(
        r'<tr data-action="([^"]+)">\s*<td[^>]*>[^<]*</td>\s*<td class="mono">([^<]*)<', filtered
    )
    assert len(rows) == 50
    assert {r for r in rows} == {("reveal", "support")}
    older = re.search(r'href="([^"]+)" rel="next"', filtered).group(1).replace("&amp;", "&")
    assert "action=reveal" in older and "actor=support" in older
    rest = await (await admin.get(older)).text()
    assert len(re.findall(r"<tr data-action=", rest)) == 10
    assert 'rel="next"' not in rest

    logins = await (await admin.get(f"{AUDIT}?action=login")).text()
    assert len(re.findall(r'<tr data-action="login">', logins)) == 1
    assert 'data-action="reveal"' not in logins


async def test_audit_page_escapes_what_it_shows(app_client: Callable[[], Any]) -> None:
    admin, _token = await as_user(app_client, *ADMIN)
    db(
        admin,
        lambda s: audit.record(
            s,
            actor="<script>a</script>",
            action="export",
            target='"><img src=x>',
            detail={"q": "<b>"},
        ),
    )
    html = await (await admin.get(AUDIT)).text()
    assert "<script>a</script>" not in html
    assert "&lt;script&gt;a&lt;/script&gt;" in html
    assert '"><img src=x>' not in html
    assert "&lt;b&gt;" in html


async def test_failed_logins_and_lockouts_show_in_the_log(
    app_client: Callable[[], Any], settings: Settings
) -> None:
    intruder = await app_client()
    for _ in range(settings.login_max_failures):
        await login(intruder, "support", "guess-guess-guess")
    admin, _token = await as_user(app_client, *ADMIN)
    html = await (await admin.get(f"{AUDIT}?actor=support")).text()
    assert "账户锁定" in html
    assert "连续失败 5 次，锁定 15 分钟" in html
    assert "密码错误" in html
    assert "guess-guess-guess" not in html


def test_record_rejects_malformed_actions() -> None:
    with pytest.raises(ValueError, match="invalid audit action"):
        audit.record(None, actor=None, action="Drop Table")  # type: ignore[arg-type]


def test_audit_details_read_in_chinese() -> None:
    from bot.console.admin import describe

    export = AuditEntry(
        action="export",
        detail={
            "format": "csv",
            "filter": {"intent": "transfer_money", "channel": "wechat", "flagged": "urgent"},
            "count": 3,
            "masked": True,
        },
    )
    assert describe(export) == "CSV，3 个会话，已脱敏，筛选：渠道=微信、标记=紧急、意图=转账"
    back = AuditEntry(action="hand_back", detail={"resumed_task": "report_card_lost", "held_by": "wang"})
    assert describe(back) == "继续业务：银行卡挂失，接待人：wang"
    assert describe(AuditEntry(action="hand_back", detail={"resumed_task": None})) == "未继续被中断的业务"
    reveal = AuditEntry(
        action="reveal", detail={"conversation_id": 7, "kind": "user", "reason": "核实", "reason_category": "fraud"}
    )
    assert describe(reveal) == "会话 #7，类别：疑似诈骗调查，原因：核实"
    takeover = AuditEntry(action="takeover", detail={"previous_status": "bot"})
    assert describe(takeover) == "接入前：机器人服务中（主动接入）"
