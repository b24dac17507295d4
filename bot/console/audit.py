"""The console's audit log: who did what, when, from where.

Entries are added in the caller's transaction, so an action and its audit entry
commit (or roll back) together.
"""

from __future__ import annotations

import re
import time
from typing import Any

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.orm import Session

from .models import AuditEntry

# Known actions and how the admin page names them.
ACTIONS: dict[str, str] = {
    "login": "登录",
    "login_failed": "登录失败",
    "logout": "退出登录",
    "lockout": "账户锁定",
    "reveal": "查看原文",
    "export": "导出",
    "takeover": "人工接管",
    "hand_back": "交还机器人",
    "role_change": "角色变更",
    "user_created": "创建用户",
    "user_disabled": "停用用户",
    "user_enabled": "启用用户",
    "user_unlocked": "解除锁定",
    "password_changed": "修改密码",
    "trainer_assign": "标注样例",
    "trainer_bulk_assign": "批量标注",
    "trainer_ignore": "忽略样例",
    "trainer_delete": "删除样例",
    "intent_created": "新建意图",
    "faq_created": "新建常见问题",
    "training_started": "开始训练",
    "cross_validation_started": "开始交叉验证",
    "training_cancelled": "取消训练",
    "model_activate": "激活模型",
    "model_rollback": "回滚模型",
    "model_sync": "同步当前模型",
}

# Why an admin revealed an original message (the free-text reason is required too).
REVEAL_CATEGORIES: dict[str, str] = {
    "customer_request": "客户本人要求核实",
    "complaint": "投诉处理",
    "dispute": "交易争议核查",
    "fraud": "疑似诈骗调查",
    "compliance": "合规或监管检查",
    "other": "其他",
}

_ACTION_RE = re.compile(r"[a-z][a-z_]{0,31}")


def action_label(action: str) -> str:
    """Chinese name of ``action`` (the raw name when unknown)."""
    return ACTIONS.get(action, action)


def record(
    session: Session,
    *,
    actor: str | None,
    action: str,
    target: str | None = None,
    detail: dict[str, Any] | None = None,
    ip: str | None = None,
) -> None:
    """Add one audit entry to ``session`` (committed with the caller's transaction)."""
    if not _ACTION_RE.fullmatch(action):
        raise ValueError(f"invalid audit action {action!r}")
    session.add(
        AuditEntry(
            at=time.time(),
            actor=actor[:64] if actor is not None else None,
            action=action,
            target=target[:255] if target is not None else None,
            detail=detail,
            ip=ip[:64] if ip is not None else None,
        )
    )


def request_ip(request: web.Request) -> str | None:
    """The client address of ``request`` as the audit log records it."""
    return request.remote


def query(
    session: Session,
    *,
    action: str | None = None,
    actor: str | None = None,
    before: int | None = None,
    limit: int = 50,
) -> list[AuditEntry]:
    """Entries newest first, optionally filtered, older than entry id ``before``."""
    stmt = select(AuditEntry)
    if action:
        stmt = stmt.where(AuditEntry.action == action)
    if actor:
        stmt = stmt.where(AuditEntry.actor == actor)
    if before is not None:
        stmt = stmt.where(AuditEntry.id < before)
    stmt = stmt.order_by(AuditEntry.id.desc()).limit(limit)
    return list(session.execute(stmt).scalars())
