"""Staff accounts: password hashing, user management, demo users, and the admin CLI.

CLI (reads the same environment as the console, e.g. ``CONSOLE_DB_URL``)::

    python -m bot.console.users create --username U --role R [--display-name N] [--password-stdin]
    python -m bot.console.users set-password --username U [--password-stdin]
    python -m bot.console.users set-role --username U --role R
    python -m bot.console.users disable --username U
    python -m bot.console.users enable --username U
    python -m bot.console.users unlock --username U
    python -m bot.console.users list

Exit codes: 0 done, 1 refused (message on stderr), 2 bad usage.
"""

from __future__ import annotations

import argparse
import getpass
import logging
import re
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TextIO

from argon2 import PasswordHasher
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, sessionmaker

from bot.settings import Settings

from . import audit
from .db import ensure_schema, make_engine, make_sessionmaker
from .models import ROLES, StaffSession, StaffUser

logger = logging.getLogger(__name__)

MIN_PASSWORD_LENGTH = 10
USERNAME_RE = re.compile(r"[a-z0-9][a-z0-9_.-]{1,63}")
ROLE_LABELS = {"support": "客服", "trainer": "训练师", "admin": "管理员"}

# The demo profile's accounts. These passwords are public (README, start-up log):
# any profile other than "sandbox" refuses to start while one of them is in use.
DEMO_USERS: tuple[tuple[str, str, str, str], ...] = (
    ("support", "support", "小王", "support-demo-2026"),
    ("trainer", "trainer", "小李", "trainer-demo-2026"),
    ("admin", "admin", "张经理", "admin-demo-2026"),
)


class UserError(ValueError):
    """A user-management request that was refused; the message is for staff (Chinese)."""


class DemoPasswordError(RuntimeError):
    """A non-sandbox profile found an enabled account that still has its demo password."""


@dataclass(frozen=True)
class UserRow:
    """A staff account as pages and the CLI show it (never the hash)."""

    id: int
    username: str
    display_name: str
    role: str
    disabled: bool
    demo_password: bool
    failed_logins: int
    locked_until: float | None
    created_at: float
    last_login_at: float | None

    @property
    def role_label(self) -> str:
        return ROLE_LABELS.get(self.role, self.role)

    def locked(self, now: float | None = None) -> bool:
        """True while a lock-out is in force."""
        now = time.time() if now is None else now
        return self.locked_until is not None and self.locked_until > now


def make_hasher(settings: Settings) -> PasswordHasher:
    """Argon2id hasher with the configured cost (argon2-cffi's defaults unless lowered)."""
    return PasswordHasher(
        time_cost=settings.password_hash_time_cost,
        memory_cost=settings.password_hash_memory_kib,
    )


def normalise_username(username: str) -> str:
    """Usernames are case-insensitive: stored and looked up in lower case."""
    return username.strip().lower()


def validate_username(username: str) -> str:
    """The normalised username, or :class:`UserError`."""
    name = normalise_username(username)
    if not USERNAME_RE.fullmatch(name):
        raise UserError("用户名须为 2–64 位小写字母、数字或 _ . -，且以字母或数字开头")
    return name


def validate_role(role: str) -> str:
    if role not in ROLES:
        raise UserError(f"角色无效：{role}（可选：{', '.join(ROLES)}）")
    return role


def validate_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(f"密码至少 {MIN_PASSWORD_LENGTH} 个字符")
    if password.strip() != password:
        raise UserError("密码首尾不能有空格")
    return password


def to_row(user: StaffUser) -> UserRow:
    return UserRow(
        id=user.id,
        username=user.username,
        display_name=user.display_name,
        role=user.role,
        disabled=bool(user.disabled),
        demo_password=bool(user.demo_password),
        failed_logins=user.failed_logins or 0,
        locked_until=user.locked_until,
        created_at=user.created_at,
        last_login_at=user.last_login_at,
    )


def find_user(session: Session, username: str) -> StaffUser | None:
    return session.execute(
        select(StaffUser).where(StaffUser.username == normalise_username(username))
    ).scalar_one_or_none()


def get_user(session: Session, username: str) -> StaffUser:
    """The user called ``username``, or :class:`UserError`."""
    user = find_user(session, username)
    if user is None:
        raise UserError(f"用户不存在：{normalise_username(username)}")
    return user


def get_user_by_id(session: Session, user_id: int) -> StaffUser:
    user = session.get(StaffUser, user_id)
    if user is None:
        raise UserError("用户不存在")
    return user


def list_users(session: Session) -> list[UserRow]:
    users = session.execute(select(StaffUser).order_by(StaffUser.username)).scalars()
    return [to_row(user) for user in users]


def create_user(
    session: Session,
    hasher: PasswordHasher,
    *,
    username: str,
    role: str,
    password: str,
    display_name: str | None = None,
    actor: str | None = None,
    ip: str | None = None,
    via: str = "console",
) -> UserRow:
    """Create an account (audited as ``user_created``)."""
    name = validate_username(username)
    validate_role(role)
    validate_password(password)
    shown = (display_name or "").strip() or name
    if len(shown) > 64:
        raise UserError("显示名称最多 64 个字符")
    if find_user(session, name) is not None:
        raise UserError(f"用户已存在：{name}")
    user = StaffUser(
        username=name,
        display_name=shown,
        role=role,
        password_hash=hasher.hash(password),
        demo_password=False,
        disabled=False,
        failed_logins=0,
        created_at=time.time(),
    )
    session.add(user)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="user_created",
        target=name,
        detail={"role": role, "via": via},
        ip=ip,
    )
    return to_row(user)


def enabled_admins(session: Session) -> int:
    return session.execute(
        select(func.count())
        .select_from(StaffUser)
        .where(StaffUser.role == "admin", StaffUser.disabled.is_(False))
    ).scalar_one()


def set_role(
    session: Session,
    user: StaffUser,
    role: str,
    *,
    actor: str | None = None,
    ip: str | None = None,
    via: str = "console",
) -> tuple[str, str]:
    """Change ``user``'s role (audited as ``role_change``); returns (old, new)."""
    validate_role(role)
    old = user.role
    if old == role:
        return old, role
    if old == "admin" and not user.disabled and enabled_admins(session) <= 1:
        raise UserError("至少需要保留一名启用的管理员")
    user.role = role  # open sessions read the role per request: effective at once
    audit.record(
        session,
        actor=actor,
        action="role_change",
        target=user.username,
        detail={"old": old, "new": role, "via": via},
        ip=ip,
    )
    return old, role


def set_password(
    session: Session,
    hasher: PasswordHasher,
    user: StaffUser,
    password: str,
    *,
    actor: str | None = None,
    ip: str | None = None,
    via: str = "console",
) -> None:
    """Set a new password: clears the demo flag and any lock-out, ends all sessions."""
    validate_password(password)
    user.password_hash = hasher.hash(password)
    user.demo_password = False
    user.failed_logins = 0
    user.locked_until = None
    session.execute(delete(StaffSession).where(StaffSession.user_id == user.id))
    audit.record(
        session,
        actor=actor,
        action="password_changed",
        target=user.username,
        detail={"via": via},
        ip=ip,
    )


def disable_user(
    session: Session,
    user: StaffUser,
    *,
    actor: str | None = None,
    ip: str | None = None,
    via: str = "console",
) -> None:
    """Disable an account and end its sessions (audited as ``user_disabled``)."""
    if user.disabled:
        return
    if user.role == "admin" and enabled_admins(session) <= 1:
        raise UserError("不能停用最后一名启用的管理员")
    if actor is not None and actor == user.username:
        raise UserError("不能停用自己的账户")
    user.disabled = True
    session.execute(delete(StaffSession).where(StaffSession.user_id == user.id))
    audit.record(
        session,
        actor=actor,
        action="user_disabled",
        target=user.username,
        detail={"via": via},
        ip=ip,
    )


def enable_user(
    session: Session,
    user: StaffUser,
    *,
    actor: str | None = None,
    ip: str | None = None,
    via: str = "console",
) -> None:
    """Re-enable a disabled account (audited as ``user_enabled``)."""
    if not user.disabled:
        return
    user.disabled = False
    user.failed_logins = 0
    user.locked_until = None
    audit.record(
        session,
        actor=actor,
        action="user_enabled",
        target=user.username,
        detail={"via": via},
        ip=ip,
    )


def unlock_user(
    session: Session,
    user: StaffUser,
    *,
    actor: str | None = None,
    ip: str | None = None,
    via: str = "console",
) -> None:
    """Lift a lock-out and reset the failure count (audited as ``user_unlocked``)."""
    user.failed_logins = 0
    user.locked_until = None
    audit.record(
        session,
        actor=actor,
        action="user_unlocked",
        target=user.username,
        detail={"via": via},
        ip=ip,
    )


def ensure_demo_users(session: Session, settings: Settings) -> list[tuple[str, str, str]]:
    """Sandbox only: create the demo accounts if missing.

    Returns (username, role, password) of every demo account that is enabled and
    still has its documented demo password; other profiles get ``[]``.
    """
    if settings.profile != "sandbox":
        return []
    hasher: PasswordHasher | None = None
    in_use: list[tuple[str, str, str]] = []
    for username, role, display_name, password in DEMO_USERS:
        user = find_user(session, username)
        if user is None:
            hasher = hasher or make_hasher(settings)
            session.add(
                StaffUser(
                    username=username,
                    display_name=display_name,
                    role=role,
                    password_hash=hasher.hash(password),
                    demo_password=True,
                    disabled=False,
                    failed_logins=0,
                    created_at=time.time(),
                )
            )
            audit.record(
                session,
                actor=None,
                action="user_created",
                target=username,
                detail={"role": role, "via": "demo"},
            )
            in_use.append((username, role, password))
        elif user.demo_password and not user.disabled:
            in_use.append((username, user.role, password))
    return in_use


def check_no_demo_passwords(session: Session, settings: Settings) -> None:
    """Outside the sandbox profile, refuse enabled accounts that keep a demo password."""
    if settings.profile == "sandbox":
        return
    names = list(
        session.execute(
            select(StaffUser.username)
            .where(StaffUser.demo_password.is_(True), StaffUser.disabled.is_(False))
            .order_by(StaffUser.username)
        ).scalars()
    )
    if names:
        raise DemoPasswordError(
            f"profile {settings.profile!r} refuses to start: staff account(s) "
            f"{', '.join(names)} still use the public demo password. Change it with "
            "`python -m bot.console.users set-password --username NAME` or disable the "
            "account with `python -m bot.console.users disable --username NAME`."
        )


def demo_banner(credentials: Sequence[tuple[str, str, str]]) -> str:
    """The start-up block listing demo accounts (empty when there are none)."""
    if not credentials:
        return ""
    lines = [
        "沙箱演示账号（公开密码，仅限 sandbox 环境使用）：",
        *(
            f"  {ROLE_LABELS.get(role, role)}：用户名 {name}  密码 {password}"
            for name, role, password in credentials
        ),
    ]
    return "\n".join(lines)


def demo_credentials(settings: Settings) -> list[tuple[str, str, str]]:
    """Demo accounts of ``settings``' console database that still use their demo password."""
    if settings.profile != "sandbox":
        return []
    passwords = {name: password for name, _role, _shown, password in DEMO_USERS}
    engine = make_engine(settings.console_db_url)
    try:
        ensure_schema(engine)
        with make_sessionmaker(engine)() as session:
            rows = session.execute(
                select(StaffUser.username, StaffUser.role)
                .where(
                    StaffUser.demo_password.is_(True),
                    StaffUser.disabled.is_(False),
                    StaffUser.username.in_(list(passwords)),
                )
                .order_by(StaffUser.id)
            ).all()
    finally:
        engine.dispose()
    return [(name, role, passwords[name]) for name, role in rows]


def prepare_accounts(factory: sessionmaker, settings: Settings) -> list[tuple[str, str, str]]:
    """Console start-up: create and log the demo accounts (sandbox) or enforce the policy.

    Raises :class:`DemoPasswordError` outside the sandbox while a demo password is in use.
    """
    with factory() as session:
        check_no_demo_passwords(session, settings)
        demo = ensure_demo_users(session, settings)
        session.commit()
    if demo:
        logger.info("staff console demo accounts:\n%s", demo_banner(demo))
    return demo


# ---------------------------------------------------------------------------
# CLI


def _read_new_password(args: argparse.Namespace, stdin: TextIO) -> str:
    if args.password_stdin:
        line = stdin.readline()
        if not line:
            raise UserError("标准输入中没有密码")
        return line.rstrip("\r\n")
    if not stdin.isatty():
        raise UserError("非交互模式请使用 --password-stdin 提供密码")
    first = getpass.getpass("新密码：")
    second = getpass.getpass("再次输入新密码：")
    if first != second:
        raise UserError("两次输入的密码不一致")
    return first


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bot.console.users", description="客服工作台账户管理"
    )
    commands = parser.add_subparsers(dest="command", required=True)

    create = commands.add_parser("create", help="创建账户")
    create.add_argument("--username", required=True)
    create.add_argument("--role", required=True, choices=ROLES)
    create.add_argument("--display-name", default=None)
    create.add_argument("--password-stdin", action="store_true", help="从标准输入读取密码")

    password = commands.add_parser("set-password", help="修改密码（清除演示密码标记）")
    password.add_argument("--username", required=True)
    password.add_argument("--password-stdin", action="store_true", help="从标准输入读取密码")

    role = commands.add_parser("set-role", help="修改角色")
    role.add_argument("--username", required=True)
    role.add_argument("--role", required=True, choices=ROLES)

    for name, text in (("disable", "停用账户"), ("enable", "启用账户"), ("unlock", "解除锁定")):
        sub = commands.add_parser(name, help=text)
        sub.add_argument("--username", required=True)

    commands.add_parser("list", help="列出账户")
    return parser


def _list(session: Session, out: TextIO) -> None:
    rows = list_users(session)
    if not rows:
        print("（没有账户）", file=out)
        return
    now = time.time()
    for row in rows:
        state = "停用" if row.disabled else ("锁定" if row.locked(now) else "正常")
        flags = " 演示密码" if row.demo_password else ""
        print(f"{row.username}\t{row.role}\t{row.display_name}\t{state}{flags}", file=out)


def run_cli(
    argv: Sequence[str] | None = None,
    *,
    settings: Settings | None = None,
    stdin: TextIO | None = None,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """Run one CLI command; returns the exit code."""
    stdin = stdin or sys.stdin
    out = out or sys.stdout
    err = err or sys.stderr
    args = _parser().parse_args(argv)
    settings = settings or Settings.from_env()
    engine = make_engine(settings.console_db_url)
    try:
        ensure_schema(engine)
        factory = make_sessionmaker(engine)
        hasher = make_hasher(settings)
        with factory() as session:
            try:
                message = _dispatch(args, session, hasher, stdin, out)
                session.commit()
            except UserError as exc:
                session.rollback()
                print(f"错误：{exc}", file=err)
                return 1
        if message:
            print(message, file=out)
        return 0
    finally:
        engine.dispose()


def _dispatch(
    args: argparse.Namespace,
    session: Session,
    hasher: PasswordHasher,
    stdin: TextIO,
    out: TextIO,
) -> str:
    command = args.command
    if command == "list":
        _list(session, out)
        return ""
    if command == "create":
        # Validate before asking for the password.
        name = validate_username(args.username)
        if find_user(session, name) is not None:
            raise UserError(f"用户已存在：{name}")
        password = _read_new_password(args, stdin)
        row = create_user(
            session,
            hasher,
            username=name,
            role=args.role,
            password=password,
            display_name=args.display_name,
            via="cli",
        )
        return f"已创建用户 {row.username}（{row.role_label}）"
    user = get_user(session, args.username)
    if command == "set-password":
        password = _read_new_password(args, stdin)
        set_password(session, hasher, user, password, via="cli")
        return f"已修改 {user.username} 的密码"
    if command == "set-role":
        old, new = set_role(session, user, args.role, via="cli")
        if old == new:
            return f"{user.username} 的角色已是 {ROLE_LABELS[new]}，未修改"
        return f"已将 {user.username} 的角色由 {ROLE_LABELS[old]} 改为 {ROLE_LABELS[new]}"
    if command == "disable":
        disable_user(session, user, via="cli")
        return f"已停用 {user.username}"
    if command == "enable":
        enable_user(session, user, via="cli")
        return f"已启用 {user.username}"
    if command == "unlock":
        unlock_user(session, user, via="cli")
        return f"已解除 {user.username} 的锁定"
    raise AssertionError(f"unhandled command {command}")


def main() -> None:
    sys.exit(run_cli())


if __name__ == "__main__":
    main()
