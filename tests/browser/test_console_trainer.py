"""The trainer's inbox in headless Chromium: mark an entity by selecting text, assign.

The console app runs as ``python -m bot.console`` on a copy of the project's training
data and a console database holding one missed customer message (fed through the
real event projector). The trainer logs in with the sandbox demo account, selects
part of a name in the example (the annotator snaps the selection to the jieba token
and warns), picks the intent, saves, and sees the YAML diff; the copied file changed.
Screenshots go to ``test-results/``.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import ROOT, serve
from tests.conftest import free_port

pytestmark = [pytest.mark.browser]

MISSED = "我要给李娜打点钱"
EXPECTED_LINE = "    - 我要给[李娜](payee)打点钱\n"


def _seed(data_dir: Path, project: Path) -> None:
    """The console database with one low-confidence customer message."""
    from rasa.shared.core.events import UserUttered

    from bot.console.db import ensure_schema, make_engine, make_sessionmaker
    from bot.console.ingest import Projector
    from bot.settings import Settings

    settings = Settings.from_env(
        {"BANKBOT_DATA_DIR": str(data_dir), "BANKBOT_PROJECT_ROOT": str(project)}
    )
    parse = {
        "intent": {"name": "transfer_money", "confidence": 0.41},
        "intent_ranking": [
            {"name": "transfer_money", "confidence": 0.41},
            {"name": "check_balance", "confidence": 0.32},
        ],
        "entities": [],
    }
    event = UserUttered(
        MISSED,
        intent=parse["intent"],
        parse_data=parse,
        timestamp=time.time() - 60,
        input_channel="socketio",
    ).as_dict()
    engine = make_engine(settings.console_db_url)
    try:
        ensure_schema(engine)
        with make_sessionmaker(engine)() as session:
            Projector(settings).apply(session, [{"sender_id": "web-browser-1", **event}])
            session.commit()
    finally:
        engine.dispose()


@pytest.fixture
def trainer_console(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """``python -m bot.console`` on a project copy; (base URL, project root)."""
    project = tmp_path / "project"
    project.mkdir()
    for name in ("data", "domain"):
        shutil.copytree(ROOT / name, project / name)
    shutil.copy(ROOT / "config.yml", project / "config.yml")
    shutil.copytree(ROOT / "tests" / "nlu", project / "tests" / "nlu")
    data_dir = tmp_path / "var"
    data_dir.mkdir()
    _seed(data_dir, project)
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "BANKBOT_HOST": "127.0.0.1",
        "WEB_PORT": str(port),
        "BANKBOT_DATA_DIR": str(data_dir),
        "BANKBOT_PROJECT_ROOT": str(project),
        "RASA_URL": f"http://127.0.0.1:{free_port()}",
        "PASSWORD_HASH_TIME_COST": "1",
        "PASSWORD_HASH_MEMORY_KIB": "1024",
    }
    url = f"http://127.0.0.1:{port}"
    with serve([sys.executable, "-m", "bot.console"], f"{url}/health", env):
        yield url, project


def test_trainer_marks_an_entity_and_assigns_the_intent(
    trainer_console: tuple[str, Path], new_page: Any, results_dir: Path
) -> None:
    url, project = trainer_console
    nlu_file = project / "data" / "nlu" / "accounts.yml"
    before = nlu_file.read_text(encoding="utf-8")

    page = new_page()
    page.goto(f"{url}/login?next=/console/trainer/inbox")
    page.fill("#login-username", "trainer")
    page.fill("#login-password", "trainer-demo-2026")
    page.get_by_role("button", name="登录").click()
    page.wait_for_url("**/console/trainer/inbox")

    group = page.locator("article[data-group]", has_text=MISSED)
    group.wait_for()
    assert "transfer_money" in group.locator("[data-predicted]").inner_text()
    group.locator("select[data-entity-type]").select_option("payee")

    # Drag across the first character of the token 李娜 only.
    token = group.locator(".tr-tok", has_text="李娜")
    box = token.bounding_box()
    assert box is not None
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + 3, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.45, y, steps=5)
    page.mouse.up()

    chip = group.locator("[data-span-list] li")
    chip.wait_for()
    assert chip.inner_text().startswith("「李娜」payee")
    warning = group.locator("[data-span-warning]")
    assert warning.is_visible() and "已扩展为「李娜」" in warning.inner_text()
    assert "tr-marked" in (token.get_attribute("class") or "")
    assert group.locator("input[name=spans]").input_value() == (
        '[{"start":3,"end":5,"entity":"payee"}]'
    )

    group.locator("select[name=intent]").select_option("transfer_money")
    page.screenshot(path=str(results_dir / "console-trainer-annotate.png"), full_page=True)

    group.get_by_role("button", name="保存").click()
    page.wait_for_url("**/console/trainer/inbox/decide")
    result = page.locator("#tr-result")
    result.wait_for()
    assert "已写入 data/nlu/accounts.yml" in result.inner_text()
    diff = page.locator("[data-diff]").inner_text()
    assert "+    - 我要给[李娜](payee)打点钱" in diff
    assert page.locator("article[data-group]", has_text=MISSED).count() == 0
    page.screenshot(path=str(results_dir / "console-trainer-saved.png"), full_page=True)

    after = nlu_file.read_text(encoding="utf-8")
    assert after.replace(EXPECTED_LINE, "", 1) == before
