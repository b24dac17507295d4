"""``python -m bot.console.users``: the real CLI in a subprocess against a SQLite file."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select

from bot.console import users
from bot.console.db import ensure_schema, make_engine, make_sessionmaker
from bot.console.models import AuditEntry, StaffUser
from bot.settings import PROJECT_ROOT, Settings

VENV_PYTHON = PROJECT_ROOT / ".venv" / "bin" / "python"
PYTHON = str(VENV_PYTHON) if VENV_PYTHON.exists() else sys.executable


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "BANKBOT_DATA_DIR": str(tmp_path),
        "CONSOLE_DB_URL": f"sqlite:///{tmp_path / 'console.db'}",
        "PASSWORD_HASH_TIME_COST": "1",
        "PASSWORD_HASH_MEMORY_KIB": "1024",
    }


def cli(env: dict[str, str], *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [PYTHON, "-m", "bot.console.users", *args],
        cwd=PROJECT_ROOT,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


def load(env: dict[str, str], username: str) -> StaffUser | None:
    engine = make_engine(env["CONSOLE_DB_URL"])
    try:
        ensure_schema(engine)
        with make_sessionmaker(engine)() as session:
            return users.find_user(session, username)
    finally:
        engine.dispose()


def audit_log(env: dict[str, str]) -> list[tuple[str, str | None, dict | None]]:
    engine = make_engine(env["CONSOLE_DB_URL"])
    try:
        with make_sessionmaker(engine)() as session:
            entries = session.execute(select(AuditEntry).order_by(AuditEntry.id)).scalars()
            return [(e.action, e.target, e.detail) for e in entries]
    finally:
        engine.dispose()


def test_create_with_password_from_stdin(env: dict[str, str]) -> None:
    done = cli(
        env,
        "create",
        "--username",
        "Wang.Fang",
        "--role",
        "trainer",
        "--display-name",
        "王芳",
        "--password-stdin",
        stdin="wangfang-secret\n",
    )
    assert done.returncode == 0, done.stderr
    assert "已创建用户 wang.fang（训练师）" in done.stdout
    user = load(env, "wang.fang")
    assert user is not None
    assert (user.display_name, user.role, user.demo_password, user.disabled) == (
        "王芳",
        "trainer",
        False,
        False,
    )
    assert PasswordHasher().verify(user.password_hash, "wangfang-secret")
    assert audit_log(env) == [
        ("user_created", "wang.fang", {"role": "trainer", "via": "cli"}),
    ]


def test_create_refusals(env: dict[str, str]) -> None:
    ok = cli(
        env,
        "create",
        "--username",
        "li",
        "--role",
        "support",
        "--password-stdin",
        stdin="li-secret-0001\n",
    )
    assert ok.returncode == 0, ok.stderr
    duplicate = cli(
        env,
        "create",
        "--username",
        "LI",
        "--role",
        "admin",
        "--password-stdin",
        stdin="li-secret-0002\n",
    )
    assert duplicate.returncode == 1
    assert "错误：用户已存在：li" in duplicate.stderr
    short = cli(
        env,
        "create",
        "--username",
        "zhao",
        "--role",
        "support",
        "--password-stdin",
        stdin="short\n",
    )
    assert short.returncode == 1
    assert "密码至少 10 个字符" in short.stderr
    assert load(env, "zhao") is None
    bad_name = cli(
        env,
        "create",
        "--username",
        "a b",
        "--role",
        "support",
        "--password-stdin",
        stdin="long-enough-pw\n",
    )
    assert bad_name.returncode == 1
    assert "用户名须为" in bad_name.stderr
    bad_role = cli(
        env,
        "create",
        "--username",
        "zhao",
        "--role",
        "root",
        "--password-stdin",
        stdin="long-enough-pw\n",
    )
    assert bad_role.returncode == 2
    assert "invalid choice: 'root'" in bad_role.stderr
    no_password = cli(env, "create", "--username", "zhao", "--role", "support", stdin="")
    assert no_password.returncode == 1
    assert "--password-stdin" in no_password.stderr
    empty_stdin = cli(
        env, "create", "--username", "zhao", "--role", "support", "--password-stdin", stdin=""
    )
    assert empty_stdin.returncode == 1
    assert "标准输入中没有密码" in empty_stdin.stderr
    assert load(env, "zhao") is None
    assert cli(env).returncode == 2


def test_set_role_disable_enable_unlock_and_list(env: dict[str, str]) -> None:
    for name, role in (("boss", "admin"), ("chen", "support")):
        done = cli(
            env,
            "create",
            "--username",
            name,
            "--role",
            role,
            "--password-stdin",
            stdin="long-enough-pw\n",
        )
        assert done.returncode == 0, done.stderr

    promoted = cli(env, "set-role", "--username", "chen", "--role", "trainer")
    assert promoted.returncode == 0, promoted.stderr
    assert "已将 chen 的角色由 客服 改为 训练师" in promoted.stdout
    assert load(env, "chen").role == "trainer"
    assert audit_log(env)[-1] == (
        "role_change",
        "chen",
        {"old": "support", "new": "trainer", "via": "cli"},
    )

    missing = cli(env, "set-role", "--username", "nobody", "--role", "admin")
    assert missing.returncode == 1
    assert "用户不存在：nobody" in missing.stderr

    last_admin = cli(env, "set-role", "--username", "boss", "--role", "support")
    assert last_admin.returncode == 1
    assert "至少需要保留一名启用的管理员" in last_admin.stderr
    assert load(env, "boss").role == "admin"

    disabled = cli(env, "disable", "--username", "chen")
    assert disabled.returncode == 0, disabled.stderr
    assert load(env, "chen").disabled is True
    assert audit_log(env)[-1][:2] == ("user_disabled", "chen")
    listing = cli(env, "list")
    assert listing.returncode == 0
    lines = dict(line.split("\t", 1) for line in listing.stdout.strip().splitlines())
    assert lines["chen"] == "trainer\tchen\t停用"
    assert lines["boss"] == "admin\tboss\t正常"

    assert cli(env, "enable", "--username", "chen").returncode == 0
    assert load(env, "chen").disabled is False

    engine = make_engine(env["CONSOLE_DB_URL"])
    with make_sessionmaker(engine)() as session:
        user = users.get_user(session, "chen")
        user.locked_until = 4102444800.0  # 2100-01-01
        user.failed_logins = 3
        session.commit()
    engine.dispose()
    assert "锁定" in cli(env, "list").stdout
    unlocked = cli(env, "unlock", "--username", "chen")
    assert unlocked.returncode == 0
    user = load(env, "chen")
    assert (user.locked_until, user.failed_logins) == (None, 0)


def test_set_password_clears_the_demo_flag(env: dict[str, str], tmp_path: Path) -> None:
    settings = Settings.from_env(env)
    engine = make_engine(settings.console_db_url)
    ensure_schema(engine)
    assert len(users.prepare_accounts(make_sessionmaker(engine), settings)) == 3
    engine.dispose()
    assert "演示密码" in cli(env, "list").stdout

    mismatch = cli(env, "set-password", "--username", "admin", "--password-stdin", stdin="short\n")
    assert mismatch.returncode == 1
    assert load(env, "admin").demo_password is True

    done = cli(
        env, "set-password", "--username", "admin", "--password-stdin", stdin="a-brand-new-secret\n"
    )
    assert done.returncode == 0, done.stderr
    user = load(env, "admin")
    assert user.demo_password is False
    assert PasswordHasher().verify(user.password_hash, "a-brand-new-secret")
    assert audit_log(env)[-1] == ("password_changed", "admin", {"via": "cli"})
    production = Settings.from_env({**env, "BANKBOT_PROFILE": "production"})
    engine = make_engine(production.console_db_url)
    with make_sessionmaker(engine)() as session, pytest.raises(users.DemoPasswordError) as exc:
        users.check_no_demo_passwords(session, production)
    engine.dispose()
    assert "support, trainer" in str(exc.value)
    assert "admin" not in str(exc.value).split("account(s)")[1].split("still")[0]
