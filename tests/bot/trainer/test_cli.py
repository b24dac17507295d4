"""``python -m bot.trainer`` in a subprocess, on a copy of the project's data."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from rasa.shared.core.events import UserUttered

from bot.console.db import ensure_schema, make_engine, make_sessionmaker
from bot.console.ingest import Projector
from bot.settings import PROJECT_ROOT, Settings

PYTHON = PROJECT_ROOT / ".venv" / "bin" / "python"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """data/, domain/, config.yml and the NLU test sets copied into tmp_path/project."""
    root = tmp_path / "project"
    for name in ("data", "domain"):
        shutil.copytree(PROJECT_ROOT / name, root / name)
    shutil.copy(PROJECT_ROOT / "config.yml", root / "config.yml")
    shutil.copytree(
        PROJECT_ROOT / "tests" / "nlu",
        root / "tests" / "nlu",
        ignore=shutil.ignore_patterns("*.py", "__pycache__"),
    )
    return root


def trainer(*args: str, cwd: Path = PROJECT_ROOT) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "RASA_TELEMETRY_ENABLED": "false", "TF_CPP_MIN_LOG_LEVEL": "3"}
    python = str(PYTHON) if PYTHON.exists() else sys.executable
    return subprocess.run(
        [python, "-m", "bot.trainer", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def last_example_line(text: str, intent: str) -> str:
    """The last "    - ..." line of ``intent``'s examples in an NLU file, with its newline."""
    lines = text.splitlines(keepends=True)
    start = lines.index(f"- intent: {intent}\n")
    block = []
    for line in lines[start + 2 :]:
        if not line.startswith("    - "):
            break
        block.append(line)
    assert block and text.count(block[-1]) == 1
    return block[-1]


def test_add_example_writes_diff_and_records_the_user(project):
    before = (project / "data" / "nlu" / "accounts.yml").read_text(encoding="utf-8")
    done = trainer(
        "--project",
        str(project),
        "add-example",
        "--intent",
        "transfer_money",
        "--user",
        "alice",
        "帮我给[王](payee)芳转一笔钱吧",
        "转账",
    )
    assert done.returncode == 0, done.stderr
    assert "+    - 帮我给[王芳](payee)转一笔钱吧" in done.stdout  # snapped to the jieba token
    assert "widened" in done.stderr and "skipped" in done.stderr  # 转账 is already an example
    after = (project / "data" / "nlu" / "accounts.yml").read_text(encoding="utf-8")
    # Inserted as the last example of transfer_money; nothing else changes.
    last = last_example_line(before, "transfer_money")
    assert after == before.replace(last, last + "    - 帮我给[王芳](payee)转一笔钱吧\n", 1)
    record = json.loads((project / "var" / "trainer" / "changes.jsonl").read_text(encoding="utf-8"))
    assert (record["user"], record["intent"], record["examples"]) == (
        "alice",
        "transfer_money",
        ["帮我给[王芳](payee)转一笔钱吧"],
    )


def test_refusals_exit_1_and_usage_errors_exit_2(project):
    snapshot = {p: p.read_bytes() for p in (project / "data").rglob("*.yml")}
    refused = trainer(
        "add-example",
        "--project",
        str(project),
        "--intent",
        "greet",
        "--user",
        "a",
        "今天天气怎么样",
    )
    assert refused.returncode == 1
    assert (
        refused.stderr.startswith("error: nothing was written") and "out_of_scope" in refused.stderr
    )
    rule_entity = trainer(
        "add-example",
        "--project",
        str(project),
        "--intent",
        "transfer_money",
        "--user",
        "a",
        "给王芳转[五千](amount)",
    )
    assert rule_entity.returncode == 1 and "extracted by rules" in rule_entity.stderr
    assert {p: p.read_bytes() for p in (project / "data").rglob("*.yml")} == snapshot

    assert trainer("add-example", "--project", str(project), "你好").returncode == 2  # no --intent
    assert trainer("no-such-command").returncode == 2
    missing = trainer("intents", "--project", str(project / "nowhere"))
    assert missing.returncode == 1 and "not a bankbot project" in missing.stderr


def test_add_intent_and_faq(project):
    dry = trainer(
        "add-intent",
        "ask_parking",
        "--project",
        str(project),
        "--topic",
        "branches",
        "--example",
        "网点有停车位吗",
        "--dry-run",
    )
    assert dry.returncode == 0 and "+  - ask_parking" in dry.stdout
    assert "ask_parking" not in (project / "domain" / "branches.yml").read_text(encoding="utf-8")

    done = trainer(
        "add-intent",
        "ask_parking",
        "--project",
        str(project),
        "--topic",
        "branches",
        "--user",
        "bob",
        "--example",
        "网点有停车位吗",
        "--example",
        "[陆家嘴支行](branch)能停车吗",
    )
    assert done.returncode == 0, done.stderr
    assert "  - ask_parking" in (project / "domain" / "branches.yml").read_text(encoding="utf-8")

    answer = project / "answer.txt"
    answer.write_text("存折遗失请本人携带身份证到开户网点办理挂失。\n", encoding="utf-8")
    faq = trainer(
        "add-faq",
        "lost_passbook",
        "--project",
        str(project),
        "--user",
        "carol",
        "--answer-file",
        str(answer),
        "--example",
        "存折丢了怎么办",
        "--example",
        "存折找不到了",
    )
    assert faq.returncode == 0, faq.stderr
    assert "utter_faq/lost_passbook" in (project / "domain" / "faq.yml").read_text(encoding="utf-8")
    again = trainer(
        "add-faq",
        "lost_passbook",
        "--project",
        str(project),
        "--user",
        "carol",
        "--answer",
        "x",
        "--example",
        "存折没了",
    )
    assert again.returncode == 1 and "already exists" in again.stderr

    listed = trainer("intents", "--project", str(project), "--format", "json")
    assert listed.returncode == 0
    rows = {row["intent"]: row for row in json.loads(listed.stdout)}
    assert rows["ask_parking"]["examples"] == 2 and rows["faq/lost_passbook"]["topic"] == "faq"


def test_validate_exit_codes(project):
    clean = trainer("validate", "--project", str(project), "--no-rasa", "--format", "json")
    assert clean.returncode == 0, clean.stdout + clean.stderr
    report = json.loads(clean.stdout)
    assert report["errors"] == 0 and report["rasa"] == []

    # The same question under two intents (traditional script and punctuation differ).
    with (project / "data" / "nlu" / "_shared.yml").open("a", encoding="utf-8") as handle:
        handle.write("\n- intent: thank\n  examples: |\n    - 餘額查詢！\n")
    planted = trainer("validate", "--project", str(project), "--no-rasa")
    assert planted.returncode == 1
    assert "error [duplicate-across-intents]" in planted.stdout
    assert "0 Rasa problem(s), 1 error(s)" in planted.stdout
    assert (
        trainer(
            "validate", "--project", str(project), "--no-rasa", "--min-examples", "x"
        ).returncode
        == 2
    )


def test_inbox_export_json_and_csv(project, tmp_path):
    settings = Settings.from_env({"BANKBOT_DATA_DIR": str(tmp_path)})
    engine = make_engine(settings.console_db_url)
    ensure_schema(engine)
    events = []
    for n in range(12):
        text = ["我的卡被ATM吞了怎么办", "我的卡被atm吞了，怎麼辦"][n % 2]
        parse = {
            "intent": {"name": "report_card_lost", "confidence": 0.42},
            "intent_ranking": [
                {"name": "report_card_lost", "confidence": 0.42},
                {"name": "freeze_card", "confidence": 0.31},
            ],
            "entities": [],
        }
        event = UserUttered(
            text, intent=parse["intent"], parse_data=parse, timestamp=1_795_000_000.0 + n
        ).as_dict()
        events.append({"sender_id": f"s{n}", **event})
    with make_sessionmaker(engine)() as session:
        Projector(settings).apply(session, events)
        session.commit()
    engine.dispose()

    exported = trainer(
        "inbox", "export", "--project", str(project), "--db", settings.console_db_url
    )
    assert exported.returncode == 0, exported.stderr
    groups = json.loads(exported.stdout)
    assert len(groups) == 1 and groups[0]["count"] == 12
    assert groups[0]["alternatives"] == [{"intent": "freeze_card", "confidence": 0.31}]
    assert "吞" in [t["text"] for t in groups[0]["tokens"]]

    as_csv = trainer(
        "inbox",
        "export",
        "--format",
        "csv",
        "--project",
        str(project),
        "--db",
        settings.console_db_url,
    )
    assert as_csv.returncode == 0, as_csv.stderr
    rows = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert [(r["count"], r["intent"], r["alternatives"]) for r in rows] == [
        ("12", "report_card_lost", "freeze_card:0.310")
    ]

    missing = trainer(
        "inbox", "export", "--project", str(project), "--db", f"sqlite:///{tmp_path / 'none.db'}"
    )
    assert missing.returncode == 1 and "no console database" in missing.stderr
    assert not (tmp_path / "none.db").exists()
