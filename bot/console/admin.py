"""Staff console admin pages: staff accounts and the audit log (admin role only)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlencode

import aiohttp_jinja2
from aiohttp import web
from sqlalchemy.orm import Session

from . import audit
from .auth import PASSWORDS_KEY, requires
from .db import run
from .keys import EXECUTOR_KEY, SESSIONS_KEY, USER_KEY
from .labels import get_labels
from .models import ROLES, AuditEntry
from .queries import CHANNEL_LABELS, FILTER_FLAG_LABELS, STATUS_LABELS
from .users import (
    MIN_PASSWORD_LENGTH,
    ROLE_LABELS,
    USERNAME_RE,
    UserError,
    create_user,
    disable_user,
    enable_user,
    get_user_by_id,
    list_users,
    set_password,
    set_role,
    unlock_user,
)

T = TypeVar("T")

USERS_PATH = "/console/admin/users"
AUDIT_PATH = "/console/admin/audit"
AUDIT_PAGE_SIZE = 50

# ?ok=<code>&user=<name> after a successful change (post/redirect/get).
OK_MESSAGES = {
    "created": "已创建用户 {user}。",
    "role": "已修改 {user} 的角色。",
    "disabled": "已停用 {user}，其登录会话已全部失效。",
    "enabled": "已启用 {user}。",
    "unlocked": "已解除 {user} 的锁定。",
    "password": "已重置 {user} 的密码，其登录会话已全部失效。",
}


async def _db(request: web.Request, work: Callable[[Session], T]) -> T:
    return await run(request.app[SESSIONS_KEY], request.app[EXECUTOR_KEY], work)


def _text(form: Any, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


def _ok_message(query: Any) -> str | None:
    template = OK_MESSAGES.get(query.get("ok", ""))
    name = query.get("user", "")
    if template is None or not USERNAME_RE.fullmatch(name):
        return None
    return template.format(user=name)


async def _users_page(
    request: web.Request,
    *,
    status: int = 200,
    error: str | None = None,
    form: dict[str, str] | None = None,
) -> web.Response:
    rows = await _db(request, list_users)
    return aiohttp_jinja2.render_template(
        "console/admin_users.html",
        request,
        {
            "rows": rows,
            "roles": ROLES,
            "ok": _ok_message(request.query) if error is None else None,
            "error": error,
            "form": form or {},
            "min_password_length": MIN_PASSWORD_LENGTH,
            "now": time.time(),
        },
        status=status,
    )


def _redirect_ok(code: str, username: str) -> web.Response:
    query = urlencode({"ok": code, "user": username})
    return web.Response(status=303, headers={"Location": f"{USERS_PATH}?{query}"})


@requires("admin")
async def users_page(request: web.Request) -> web.StreamResponse:
    """GET: the staff list and the create form."""
    return await _users_page(request)


@requires("admin")
async def users_create(request: web.Request) -> web.StreamResponse:
    """POST: create an account."""
    form = await request.post()
    actor = request[USER_KEY].username
    ip = audit.request_ip(request)
    hasher = request.app[PASSWORDS_KEY].hasher
    values = {
        "username": _text(form, "username").strip(),
        "display_name": _text(form, "display_name").strip(),
        "role": _text(form, "role"),
    }
    password = _text(form, "password")
    if password != _text(form, "password2"):
        return await _users_page(request, status=400, error="两次输入的密码不一致。", form=values)
    try:
        row = await _db(
            request,
            lambda s: create_user(
                s,
                hasher,
                username=values["username"],
                role=values["role"],
                password=password,
                display_name=values["display_name"],
                actor=actor,
                ip=ip,
            ),
        )
    except UserError as exc:
        return await _users_page(request, status=400, error=str(exc), form=values)
    return _redirect_ok("created", row.username)


def _user_id(request: web.Request) -> int:
    try:
        return int(request.match_info["user_id"])
    except ValueError as exc:
        raise web.HTTPNotFound() from exc


@dataclass(frozen=True)
class _Change:
    """One per-user POST action: what it does and how success is reported."""

    ok_code: str
    apply: Callable[[Session, Any, dict[str, str], str, str | None, Any], None]


def _do_role(
    session: Session, user: Any, form: dict[str, str], actor: str, ip: str | None, hasher: Any
) -> None:
    set_role(session, user, form.get("role", ""), actor=actor, ip=ip)


def _do_disable(
    session: Session, user: Any, form: dict[str, str], actor: str, ip: str | None, hasher: Any
) -> None:
    disable_user(session, user, actor=actor, ip=ip)


def _do_enable(
    session: Session, user: Any, form: dict[str, str], actor: str, ip: str | None, hasher: Any
) -> None:
    enable_user(session, user, actor=actor, ip=ip)


def _do_unlock(
    session: Session, user: Any, form: dict[str, str], actor: str, ip: str | None, hasher: Any
) -> None:
    unlock_user(session, user, actor=actor, ip=ip)


def _do_password(
    session: Session, user: Any, form: dict[str, str], actor: str, ip: str | None, hasher: Any
) -> None:
    if form.get("password", "") != form.get("password2", ""):
        raise UserError("两次输入的密码不一致")
    set_password(session, hasher, user, form.get("password", ""), actor=actor, ip=ip)


CHANGES: dict[str, _Change] = {
    "role": _Change("role", _do_role),
    "disable": _Change("disabled", _do_disable),
    "enable": _Change("enabled", _do_enable),
    "unlock": _Change("unlocked", _do_unlock),
    "password": _Change("password", _do_password),
}


@requires("admin")
async def user_change(request: web.Request) -> web.StreamResponse:
    """POST /console/admin/users/{id}/{change}: role, disable, enable, unlock, password."""
    change = CHANGES.get(request.match_info["change"])
    if change is None:
        raise web.HTTPNotFound()
    user_id = _user_id(request)
    raw = await request.post()
    form = {key: _text(raw, key) for key in ("role", "password", "password2")}
    actor = request[USER_KEY].username
    ip = audit.request_ip(request)
    hasher = request.app[PASSWORDS_KEY].hasher

    def work(session: Session) -> str:
        user = get_user_by_id(session, user_id)
        change.apply(session, user, form, actor, ip, hasher)
        return str(user.username)

    try:
        username = await _db(request, work)
    except UserError as exc:
        return await _users_page(request, status=400, error=str(exc))
    return _redirect_ok(change.ok_code, username)


# ---------------------------------------------------------------------------
# audit log


ACCOUNT_ACTIONS = frozenset(
    {
        "role_change",
        "user_created",
        "user_disabled",
        "user_enabled",
        "user_unlocked",
        "password_changed",
    }
)
VIA_LABELS = {"console": "工作台", "cli": "命令行", "demo": "沙箱演示初始化"}


def describe(entry: AuditEntry) -> str:
    """A short Chinese rendering of an entry's detail."""
    detail = dict(entry.detail or {})
    if entry.action in ACCOUNT_ACTIONS and set(detail) <= {"role", "via", "old", "new"}:
        parts = []
        if "old" in detail and "new" in detail:
            old = ROLE_LABELS.get(detail["old"], detail["old"])
            new = ROLE_LABELS.get(detail["new"], detail["new"])
            parts.append(f"{old} → {new}")
        if "role" in detail:
            parts.append(f"角色：{ROLE_LABELS.get(detail['role'], detail['role'])}")
        if "via" in detail:
            parts.append(f"来源：{VIA_LABELS.get(detail['via'], detail['via'])}")
        return "，".join(parts)
    if entry.action == "login_failed" and "reason" in detail:
        reasons = {
            "unknown_user": "用户不存在",
            "bad_password": "密码错误",
            "locked": "账户锁定中",
            "disabled": "账户已停用",
        }
        return reasons.get(detail["reason"], str(detail["reason"]))
    if entry.action == "lockout" and "seconds" in detail:
        return f"连续失败 {detail.get('failures')} 次，锁定 {int(detail['seconds']) // 60} 分钟"
    if entry.action == "reveal" and "conversation_id" in detail:
        parts = [f"会话 #{detail['conversation_id']}"]
        category = detail.get("reason_category")
        if category:
            parts.append(f"类别：{audit.REVEAL_CATEGORIES.get(category, category)}")
        parts.append(f"原因：{detail.get('reason') or '（未填写）'}")
        return "，".join(parts)
    if entry.action == "hand_back" and "resumed_task" in detail:
        task = detail.get("resumed_task")
        parts = [f"继续业务：{get_labels().task(task)}" if task else "未继续被中断的业务"]
        if detail.get("held_by"):
            parts.append(f"接待人：{detail['held_by']}")
        return "，".join(parts)
    if entry.action == "export" and {"format", "count"} <= set(detail):
        shown = "已脱敏" if detail.get("masked") else "含原文"
        filters = detail.get("filter") or {}
        names = {
            "channel": "渠道", "intent": "意图", "status": "状态", "tag": "标签",
            "flagged": "标记", "q": "搜索", "date_from": "开始日期", "date_to": "结束日期",
        }
        values = {
            "intent": get_labels().intent,
            "channel": lambda v: CHANNEL_LABELS.get(v, v),
            "status": lambda v: STATUS_LABELS.get(v, v),
            "flagged": lambda v: {"any": "任一标记", **FILTER_FLAG_LABELS}.get(v, v),
        }
        where = "、".join(
            f"{names.get(k, k)}={values.get(k, str)(v)}" for k, v in sorted(filters.items())
        ) or "全部会话"
        return f"{str(detail['format']).upper()}，{detail['count']} 个会话，{shown}，筛选：{where}"
    if entry.action == "takeover" and set(detail) <= {"previous_status"}:
        previous = {"waiting": "等待人工", "bot": "机器人服务中（主动接入）"}
        status = detail.get("previous_status")
        return f"接入前：{previous.get(status, status)}" if status else ""
    if not detail:
        return ""
    return json.dumps(detail, ensure_ascii=False, sort_keys=True)


@requires("admin")
async def audit_page(request: web.Request) -> web.StreamResponse:
    """GET: the audit log, newest first, filtered by action and actor, paged by entry id."""
    action = request.query.get("action", "").strip()
    actor = request.query.get("actor", "").strip()[:64]
    try:
        before = int(request.query["before"]) if request.query.get("before") else None
    except ValueError:
        before = None

    def load(session: Session) -> list[dict[str, Any]]:
        entries = audit.query(
            session,
            action=action or None,
            actor=actor or None,
            before=before,
            limit=AUDIT_PAGE_SIZE + 1,
        )
        return [
            {
                "id": e.id,
                "at": e.at,
                "actor": e.actor,
                "action": e.action,
                "label": audit.action_label(e.action),
                "target": e.target,
                "detail": describe(e),
                "ip": e.ip,
            }
            for e in entries
        ]

    rows = await _db(request, load)
    older = None
    if len(rows) > AUDIT_PAGE_SIZE:
        rows = rows[:AUDIT_PAGE_SIZE]
        params = {k: v for k, v in (("action", action), ("actor", actor)) if v}
        params["before"] = str(rows[-1]["id"])
        older = f"{AUDIT_PATH}?{urlencode(params)}"
    newest = None
    if before is not None:
        params = {k: v for k, v in (("action", action), ("actor", actor)) if v}
        newest = f"{AUDIT_PATH}?{urlencode(params)}" if params else AUDIT_PATH
    return aiohttp_jinja2.render_template(
        "console/admin_audit.html",
        request,
        {
            "rows": rows,
            "actions": audit.ACTIONS,
            "action": action,
            "actor": actor,
            "older": older,
            "newest": newest,
        },
    )


def setup(app: web.Application) -> None:
    """Register the admin pages."""
    app.router.add_get(USERS_PATH, users_page, name="admin_users")
    app.router.add_post(USERS_PATH, users_create, name="admin_users_create")
    app.router.add_post(
        USERS_PATH + "/{user_id:\\d+}/{change}", user_change, name="admin_user_change"
    )
    app.router.add_get(AUDIT_PATH, audit_page, name="admin_audit")


def setup_background(app: web.Application) -> None:
    """No background work."""
