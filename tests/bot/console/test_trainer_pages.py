"""The trainer pages of the staff console, on a copy of the project and a tmp console db.

Messages enter the console database through the real event projector (as Rasa's
events would), pages are driven through the real app, and writes land in the copied
data/ and domain/ files.
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import re
import secrets
import shutil
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rasa.shared.core.events import UserUttered
from sqlalchemy import select

from bot.console.app import create_app
from bot.console.auth import SESSION_COOKIE, hash_token
from bot.console.db import ensure_schema, make_engine, make_sessionmaker
from bot.console.ingest import Projector
from bot.console.models import AuditEntry, InboxDecision, Message, StaffSession, StaffUser
from bot.console.trainer import MASK_REFUSED, PII_REFUSED, text_pieces
from bot.console.users import create_user, make_hasher
from bot.settings import PROJECT_ROOT, Settings
from bot.trainer import evaluate as ev
from bot.trainer.jobs import JobStatus, TrainingJob
from bot.trainer.nludata import ProjectPaths, read_changes
from bot.trainer.registry import ModelRegistry

PASSWORD = "trainer-pages-pass-123"
MISSED = "我要给李娜打点钱"
RANKING = [("transfer_money", 0.41), ("check_balance", 0.32), ("help", 0.12)]
CARD_NUMBER = "6222020200112341234"
PHONE = "13800138000"
T0 = time.time() - 3600


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def project_root(tmp_path: Path) -> Path:
    """data/, domain/, config.yml and the NLU test sets copied into tmp_path/project."""
    root = tmp_path / "project"
    root.mkdir()
    for name in ("data", "domain"):
        shutil.copytree(PROJECT_ROOT / name, root / name)
    shutil.copy(PROJECT_ROOT / "config.yml", root / "config.yml")
    shutil.copytree(PROJECT_ROOT / "tests" / "nlu", root / "tests" / "nlu")
    return root


@pytest.fixture
def settings(tmp_path: Path, project_root: Path) -> Settings:
    return Settings.from_env(
        {
            "BANKBOT_DATA_DIR": str(tmp_path / "var"),
            "BANKBOT_PROJECT_ROOT": str(project_root),
            "WEB_PORT": "0",
            # Nothing listens there: activation must fail cleanly.
            "RASA_URL": f"http://127.0.0.1:{free_port()}",
            "PASSWORD_HASH_TIME_COST": "1",
            "PASSWORD_HASH_MEMORY_KIB": "1024",
        }
    )


@pytest.fixture
def db(settings: Settings) -> Iterator[Any]:
    """The console database with a trainer, a support person and an admin."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.console_db_url)
    ensure_schema(engine)
    factory = make_sessionmaker(engine)
    with factory() as session:
        hasher = make_hasher(settings)
        for name, role in (("trainer1", "trainer"), ("support1", "support"), ("admin1", "admin")):
            create_user(session, hasher, username=name, role=role, password=PASSWORD)
        session.commit()
    yield factory
    engine.dispose()


def user_event(
    sender: str,
    text: str,
    intent: str,
    confidence: float,
    ts: float,
    ranking: list[tuple[str, float]] | None = None,
) -> dict[str, Any]:
    """A user event exactly as Rasa publishes it (UserUttered.as_dict + sender_id)."""
    ranking = ranking or [(intent, confidence)]
    parse = {
        "intent": {"name": intent, "confidence": confidence},
        "intent_ranking": [{"name": n, "confidence": c} for n, c in ranking],
        "entities": [],
    }
    event = UserUttered(
        text, intent=parse["intent"], parse_data=parse, timestamp=ts, input_channel="rest"
    ).as_dict()
    return {"sender_id": sender, **event}


def ingest(factory: Any, settings: Settings, events: list[dict[str, Any]]) -> None:
    with factory() as session:
        Projector(settings).apply(session, events)
        session.commit()


def message_ids(factory: Any, text: str) -> list[int]:
    with factory() as session:
        return list(session.execute(select(Message.id).where(Message.text == text)).scalars())


@pytest.fixture
async def anon(aiohttp_client: Any, settings: Settings, db: Any) -> Any:
    return await aiohttp_client(create_app(settings))


def login(client: Any, factory: Any, username: str) -> str:
    """Sign ``username`` in on ``client`` (a session row plus its cookie); its CSRF token."""
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    with factory() as session:
        user = session.execute(select(StaffUser).where(StaffUser.username == username)).scalar_one()
        now = time.time()
        session.add(
            StaffSession(
                token_hash=hash_token(token),
                user_id=user.id,
                csrf_token=csrf,
                created_at=now,
                expires_at=now + 3600,
                ip="127.0.0.1",
            )
        )
        session.commit()
    client.session.cookie_jar.update_cookies({SESSION_COOKIE: token})
    return csrf


def audit_entries(factory: Any, action: str) -> list[AuditEntry]:
    with factory() as session:
        return list(
            session.execute(select(AuditEntry).where(AuditEntry.action == action)).scalars()
        )


def decisions(factory: Any) -> list[tuple[int, str, str | None, str]]:
    with factory() as session:
        rows = session.execute(select(InboxDecision)).scalars()
        return [(r.message_id, r.action, r.intent, r.user) for r in rows]


async def inbox_html(client: Any) -> str:
    response = await client.get("/console/trainer/inbox")
    assert response.status == 200
    return await response.text()


# --- inbox ------------------------------------------------------------------------------


async def test_a_missed_message_appears_with_prediction_and_tokens(anon, db, settings):
    ingest(
        db,
        settings,
        [
            user_event("c1", "查一下余额", "check_balance", 0.97, T0),
            user_event("c1", MISSED, "transfer_money", 0.41, T0 + 1, RANKING),
            user_event("c2", "今天天气怎么样", "nlu_fallback", 0.9, T0 + 2),
        ],
    )
    login(anon, db, "trainer1")
    html = await inbox_html(anon)
    # Newest first; the confident message is not in the inbox.
    assert html.index("今天天气怎么样") < html.index(MISSED)
    assert "查一下余额" not in html
    group = html[html.index(MISSED) - 3000 :]
    assert "低置信度" in html and "未识别" in html
    assert "data-predicted>transfer_money<" in html
    # Trainers see the technical name and, beside it, the label staff read.
    assert 'data-predicted>transfer_money</strong> <span class="tr-intent-label">转账</span>' in html
    assert 'data-pick-intent="check_balance"' in html and 'value="0.32"' in html
    assert '>check_balance</button> <span class="small tr-intent-label">查询余额</span>' in html
    assert '<option value="transfer_money">transfer_money（转账）</option>' in html
    # jieba tokens as boxes, with offsets the annotator uses.
    assert '<span class="tr-tok" data-start="3" data-end="5">李娜</span>' in group
    pieces = re.search(r"<div class=\"tr-example\" data-example>(.*?)</div>", group).group(1)
    assert re.sub(r"<[^>]+>", "", pieces) == MISSED  # the boxes spell the text exactly

    response = await anon.get("/api/trainer/inbox")
    groups = (await response.json())["groups"]
    assert [g["text"] for g in groups] == ["今天天气怎么样", MISSED]
    assert groups[1]["alternatives"][0] == {"intent": "check_balance", "confidence": 0.32}


async def test_near_duplicates_are_one_row_with_a_count(anon, db, settings):
    texts = ["我的卡被ATM吞了怎么办", "我的卡被ATM吞了怎么办？？", "我的卡被ＡＴＭ吞了怎么办"]
    ingest(
        db,
        settings,
        [user_event(f"s{n}", texts[n % 3], "report_card_lost", 0.45, T0 + n) for n in range(12)],
    )
    login(anon, db, "trainer1")
    html = await inbox_html(anon)
    assert html.count("data-group ") == 1
    assert "12 条" in html


async def test_assigning_writes_the_yaml_with_the_snapped_entity(anon, db, settings, project_root):
    ingest(db, settings, [user_event("c1", MISSED, "transfer_money", 0.41, T0, RANKING)])
    ids = message_ids(db, MISSED)
    csrf = login(anon, db, "trainer1")
    path = project_root / "data" / "nlu" / "accounts.yml"
    before = path.read_text(encoding="utf-8")
    assert "# amount, card_last4, phone, otp_code and full account numbers" in before

    response = await anon.post(
        "/console/trainer/inbox/decide",
        data={
            "_csrf": csrf,
            "ids": ",".join(map(str, ids)),
            "op": "save",
            "text": MISSED,
            "intent": "transfer_money",
            # Only 「李」 selected: it cuts the token 李娜 and is widened.
            "spans": json.dumps([{"start": 3, "end": 4, "entity": "payee"}]),
        },
    )
    html = await response.text()
    assert response.status == 200, html
    line = "    - 我要给[李娜](payee)打点钱\n"
    after = path.read_text(encoding="utf-8")
    assert line in after
    assert after.replace(line, "", 1) == before  # one added line; comments and layout kept
    assert "已扩展为「李娜」" in html
    assert "+    - 我要给[李娜](payee)打点钱" in html  # the diff is shown
    assert "data/nlu/accounts.yml" in html
    # The group left the inbox; who did it is recorded everywhere.
    assert f'data-ids="{ids[0]}"' not in html
    assert decisions(db) == [(ids[0], "assigned", "transfer_money", "trainer1")]
    change = read_changes(ProjectPaths(project_root))[0]
    assert (change["user"], change["intent"], change["examples"]) == (
        "trainer1",
        "transfer_money",
        ["我要给[李娜](payee)打点钱"],
    )
    entry = audit_entries(db, "trainer_assign")[0]
    assert entry.actor == "trainer1" and entry.target == "transfer_money"


async def test_a_new_intent_from_the_inbox(anon, db, settings, project_root):
    ingest(db, settings, [user_event("c1", "网点门口能停车吗", "find_branch", 0.3, T0)])
    ids = message_ids(db, "网点门口能停车吗")
    csrf = login(anon, db, "trainer1")
    response = await anon.post(
        "/console/trainer/inbox/decide",
        data={
            "_csrf": csrf,
            "ids": ",".join(map(str, ids)),
            "op": "save",
            "text": "网点门口能停车吗",
            "intent": "__new__",
            "new_intent": "ask_parking",
            "topic": "branches",
            "spans": "[]",
        },
    )
    assert response.status == 200, await response.text()
    nlu = (project_root / "data" / "nlu" / "branches.yml").read_text(encoding="utf-8")
    domain = (project_root / "domain" / "branches.yml").read_text(encoding="utf-8")
    assert "- intent: ask_parking\n  examples: |\n    - 网点门口能停车吗\n" in nlu
    assert "- ask_parking\n" in domain
    assert decisions(db) == [(ids[0], "assigned", "ask_parking", "trainer1")]


async def test_an_example_with_personal_data_is_refused(anon, db, settings, project_root):
    card_text = f"我的卡号{CARD_NUMBER}丢了怎么办"
    phone_text = f"我手机{PHONE}收不到短信"
    ingest(
        db,
        settings,
        [
            user_event("c1", card_text, "report_card_lost", 0.4, T0),
            user_event("c2", phone_text, "help", 0.3, T0 + 1),
        ],
    )
    csrf = login(anon, db, "trainer1")
    html = await inbox_html(anon)
    assert CARD_NUMBER not in html and PHONE not in html  # trainers see masked text
    assert "138****8000" in html and "原消息含个人信息" in html

    nlu_dir = project_root / "data" / "nlu"
    snapshot = {p.name: p.read_text(encoding="utf-8") for p in nlu_dir.iterdir()}
    phone_ids = ",".join(map(str, message_ids(db, phone_text)))
    form = {"_csrf": csrf, "ids": phone_ids, "op": "save", "intent": "help", "spans": "[]"}

    response = await anon.post("/console/trainer/inbox/decide", data={**form, "text": phone_text})
    body = await response.text()
    assert response.status == 400
    assert PII_REFUSED in body and PHONE not in body
    masked = "我手机138****8000收不到短信"
    response = await anon.post("/console/trainer/inbox/decide", data={**form, "text": masked})
    assert response.status == 400
    assert MASK_REFUSED in await response.text()
    assert {p.name: p.read_text(encoding="utf-8") for p in nlu_dir.iterdir()} == snapshot
    assert decisions(db) == []

    # Rewritten without the number, it is written.
    response = await anon.post(
        "/console/trainer/inbox/decide", data={**form, "text": "我手机收不到短信通知"}
    )
    assert response.status == 200, await response.text()
    assert "    - 我手机收不到短信通知\n" in (nlu_dir / "_shared.yml").read_text(encoding="utf-8")


async def test_bulk_assign_skips_groups_with_personal_data(anon, db, settings, project_root):
    pii_text = f"卡号{CARD_NUMBER}怎么挂失"
    ingest(
        db,
        settings,
        [
            user_event("a", "卡丢了要怎么处理呢", "freeze_card", 0.5, T0),
            user_event("b", "银行卡找不到了咋办", "freeze_card", 0.5, T0 + 1),
            user_event("c", pii_text, "freeze_card", 0.5, T0 + 2),
        ],
    )
    groups = [
        ",".join(map(str, message_ids(db, t)))
        for t in ("卡丢了要怎么处理呢", "银行卡找不到了咋办", pii_text)
    ]
    csrf = login(anon, db, "trainer1")
    response = await anon.post(
        "/console/trainer/inbox/bulk",
        data=[("_csrf", csrf), ("intent", "report_card_lost")] + [("group", g) for g in groups],
    )
    html = await response.text()
    assert response.status == 200, html
    cards = (project_root / "data" / "nlu" / "cards.yml").read_text(encoding="utf-8")
    assert "    - 卡丢了要怎么处理呢\n" in cards and "    - 银行卡找不到了咋办\n" in cards
    assert CARD_NUMBER not in cards and CARD_NUMBER not in html
    assert "含个人信息或遮蔽符号，未写入" in html
    decided = {d[0] for d in decisions(db)}
    assert decided == {int(groups[0]), int(groups[1])}
    assert audit_entries(db, "trainer_bulk_assign")[0].detail["skipped_pii"] == 1


async def test_ignore_and_delete_take_groups_out_of_the_inbox(anon, db, settings):
    ingest(
        db,
        settings,
        [
            user_event("a", "哈哈哈哈", "nlu_fallback", 0.2, T0),
            user_event("b", "测试测试", "nlu_fallback", 0.2, T0 + 1),
        ],
    )
    csrf = login(anon, db, "trainer1")
    for text, op in (("哈哈哈哈", "ignore"), ("测试测试", "delete")):
        ids = ",".join(map(str, message_ids(db, text)))
        response = await anon.post(
            "/console/trainer/inbox/decide", data={"_csrf": csrf, "ids": ids, "op": op}
        )
        assert response.status == 200
    assert sorted(d[1] for d in decisions(db)) == ["deleted", "ignored"]
    assert "暂无待标注消息" in await inbox_html(anon)
    assert [e.actor for e in audit_entries(db, "trainer_ignore")] == ["trainer1"]


async def test_tokenize_api_for_an_edited_example(anon, db):
    csrf = login(anon, db, "trainer1")
    response = await anon.post(
        "/api/trainer/tokenize", json={"text": "给王芳转账"}, headers={"X-CSRF-Token": csrf}
    )
    data = await response.json()
    assert response.status == 200
    assert [t["text"] for t in data["tokens"]][:2] == ["给", "王芳"]
    assert data["problem"] is None
    response = await anon.post(
        "/api/trainer/tokenize", json={"text": f"转到{CARD_NUMBER}"}, headers={"X-CSRF-Token": csrf}
    )
    assert (await response.json())["problem"] == PII_REFUSED


def test_text_pieces_cover_the_text_exactly() -> None:
    tokens = [{"start": 0, "end": 2}, {"start": 3, "end": 5}]
    pieces = text_pieces("我要 李娜!", tokens)
    assert "".join(p["text"] for p in pieces) == "我要 李娜!"
    assert [(p["start"], p["end"], p["token"]) for p in pieces] == [
        (0, 2, True),
        (2, 3, False),
        (3, 5, True),
        (5, 6, False),
    ]


# --- new FAQ / intent -------------------------------------------------------------------


async def test_a_new_faq_lands_in_data_and_domain(anon, db, project_root):
    csrf = login(anon, db, "trainer1")
    questions = [
        "存折丢了怎么办",
        "存折找不到了",
        "存折不见了怎么挂失",
        "我的存折丢失了",
        "存折遗失如何处理",
        "存折被偷了怎么办",
        "存折掉了",
        "存折丢了能补吗",
        "补办存折要带什么",
        "存折丢了要去网点吗",
        "存折挂失流程",
        "丢了存折怎么补",
    ]
    answer = "存折遗失请先致电客服热线办理口头挂失，再携带本人身份证到任一网点办理正式挂失和补发。"
    response = await anon.post(
        "/console/trainer/faq/new",
        data={
            "_csrf": csrf,
            "name": "lost_passbook",
            "examples": "\n".join(questions),
            "answer": answer,
        },
    )
    html = await response.text()
    assert response.status == 200, html
    nlu = (project_root / "data" / "nlu" / "faq.yml").read_text(encoding="utf-8")
    domain = (project_root / "domain" / "faq.yml").read_text(encoding="utf-8")
    assert "- intent: faq/lost_passbook\n" in nlu and "    - 存折挂失流程\n" in nlu
    assert "  utter_faq/lost_passbook:\n" in domain and answer in domain
    assert "+  utter_faq/lost_passbook:" in html  # the diff of both files
    assert audit_entries(db, "faq_created")[0].target == "faq/lost_passbook"

    response = await anon.post(
        "/console/trainer/faq/new",
        data={"_csrf": csrf, "name": "lost_passbook", "examples": "存折没了", "answer": "x"},
    )
    assert response.status == 400
    assert "已存在" in await response.text()


async def test_new_intent_page_refuses_personal_data(anon, db, project_root):
    csrf = login(anon, db, "trainer1")
    before = (project_root / "data" / "nlu" / "_shared.yml").read_text(encoding="utf-8")
    response = await anon.post(
        "/console/trainer/intents/new",
        data={
            "_csrf": csrf,
            "name": "ask_card_number",
            "topic": "_shared",
            "examples": f"我的卡号是{CARD_NUMBER}\n我的卡号是多少",
        },
    )
    html = await response.text()
    assert response.status == 400
    assert CARD_NUMBER not in html and "不能写入训练数据" in html
    assert (project_root / "data" / "nlu" / "_shared.yml").read_text(encoding="utf-8") == before


# --- roles and CSRF ---------------------------------------------------------------------


async def test_support_gets_403_and_anonymous_is_sent_to_login(anon, db):
    response = await anon.get("/console/trainer/inbox", allow_redirects=False)
    assert response.status == 302
    assert response.headers["Location"].startswith("/login?next=/console/trainer/inbox")
    response = await anon.get("/api/trainer/inbox")
    assert response.status == 401

    csrf = login(anon, db, "support1")
    for path in ("/console/trainer/inbox", "/console/trainer/train", "/console/trainer/models"):
        assert (await anon.get(path)).status == 403, path
    for path in (
        "/console/trainer/train",
        "/console/trainer/models/20260101-0000-abcdef12/activate",
        "/console/trainer/models/rollback",
        "/console/trainer/inbox/decide",
    ):
        response = await anon.post(path, data={"_csrf": csrf})
        assert response.status == 403, path
    assert audit_entries(db, "training_started") == []

    login(anon, db, "admin1")
    assert (await anon.get("/console/trainer/inbox")).status == 200


async def test_a_post_without_csrf_token_is_refused(anon, db, settings, project_root):
    ingest(db, settings, [user_event("c1", MISSED, "transfer_money", 0.41, T0, RANKING)])
    login(anon, db, "trainer1")
    before = (project_root / "data" / "nlu" / "accounts.yml").read_text(encoding="utf-8")
    response = await anon.post(
        "/console/trainer/inbox/decide",
        data={
            "ids": ",".join(map(str, message_ids(db, MISSED))),
            "op": "save",
            "text": MISSED,
            "intent": "transfer_money",
        },
    )
    assert response.status == 403
    assert (project_root / "data" / "nlu" / "accounts.yml").read_text(encoding="utf-8") == before
    assert decisions(db) == []


# --- training jobs ----------------------------------------------------------------------


async def test_one_training_at_a_time(anon, db, settings):
    csrf = login(anon, db, "trainer1")
    jobs_dir = settings.data_dir / "trainer" / "jobs"
    jobs_dir.mkdir(parents=True)
    # A training started elsewhere (the CLI) holds the lock.
    with (jobs_dir / "running.lock").open("a+") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        response = await anon.post("/console/trainer/train", data={"_csrf": csrf})
        assert response.status == 409
        assert "已有训练在进行" in await response.text()
        fcntl.flock(held, fcntl.LOCK_UN)

    response = await anon.post(
        "/console/trainer/train", data={"_csrf": csrf, "notes": "页面测试"}, allow_redirects=False
    )
    assert response.status == 303
    job_id = response.headers["Location"].rsplit("/", 1)[1]
    try:
        second = await anon.post("/console/trainer/train", data={"_csrf": csrf})
        assert second.status == 409
        assert "已有训练在进行" in await second.text()
        cv = await anon.post("/console/trainer/cross-validate", data={"_csrf": csrf, "folds": "3"})
        assert cv.status == 409

        data = await (await anon.get(f"/api/trainer/jobs/{job_id}")).json()
        assert data["status"] == "running" and data["user"] == "trainer1"
        assert any("rasa train" in line for _n, line in data["lines"])
        page = await anon.get(f"/console/trainer/jobs/{job_id}")
        assert page.status == 200
        assert f'data-job-api="/api/trainer/jobs/{job_id}"' in await page.text()
    finally:
        response = await anon.post(
            f"/console/trainer/jobs/{job_id}/cancel", data={"_csrf": csrf}, allow_redirects=False
        )
    assert response.status == 303
    data = await (await anon.get(f"/api/trainer/jobs/{job_id}")).json()
    assert data["status"] == "cancelled" and data["finished"] is True
    assert [e.target for e in audit_entries(db, "training_started")] == [job_id]
    assert [e.actor for e in audit_entries(db, "training_cancelled")] == ["trainer1"]
    page = await (await anon.get("/console/trainer/train")).text()
    assert job_id in page and "已取消" in page


# --- model versions and evaluation --------------------------------------------------------


def _evaluation(name: str, predicted: dict[str, str]) -> ev.Evaluation:
    expected = {"查余额": "check_balance", "转账给妈妈": "transfer_money", "你好": "greet"}
    predictions = [
        ev.ExamplePrediction(text, label, predicted.get(text, label), 0.9)
        for text, label in expected.items()
    ]
    return ev.score(predictions, model=name, test_file="tests/nlu/heldout.yml", test_file_sha="s1")


@pytest.fixture
def versions(settings: Settings, project_root: Path) -> tuple[str, str]:
    """Two registered versions (copies of the trained model), the first active, both
    evaluated: the second fixes 「查余额」 and breaks 「你好」."""
    registry = ModelRegistry.from_settings(settings)
    archive = PROJECT_ROOT / "models" / "bankbot.tar.gz"
    if not archive.is_file():  # `make test` trains it first: missing means broken, not optional
        pytest.fail(f"{archive} is missing: `make test` trains it before running pytest")
    old = registry.register_existing(
        archive, trained_by="trainer0", project_root=project_root, mark_active=True
    )
    new = registry.register_existing(archive, trained_by="trainer1", project_root=project_root)
    for entry, wrong in ((old, {"查余额": "transfer_money"}), (new, {"你好": "check_balance"})):
        evaluation = _evaluation(entry.version, wrong)
        ev.save_evaluation(evaluation, registry.artefact_dir(entry.version))
        registry.update(entry.version, metrics=evaluation.summary())
    return old.version, new.version


async def test_models_page_lists_versions_and_marks_the_active_one(anon, db, versions):
    old, new = versions
    login(anon, db, "trainer1")
    html = await (await anon.get("/console/trainer/models")).text()
    assert f'data-version="{old}" class="tr-active-row"' in html
    assert f'action="/console/trainer/models/{new}/activate"' in html
    assert f'action="/console/trainer/models/{old}/activate"' not in html
    assert "trainer0" in html and "trainer1" in html
    row = html[html.index(f'data-version="{new}"') :].split("</tr>")[0]
    assert "<td>0.667</td>" in row  # accuracy from the metadata


async def test_version_page_shows_metrics_confusion_and_changed_examples(anon, db, versions):
    old, new = versions
    login(anon, db, "trainer1")
    response = await anon.get(f"/console/trainer/models/{new}")
    html = await response.text()
    assert response.status == 200
    assert f'与 <span class="mono">{old}</span> 对比' in html
    fixed = html[html.index('id="tr-fixed"') : html.index('id="tr-broken"')]
    broken = html[html.index('id="tr-broken"') :]
    assert "查余额" in fixed and "你好" not in fixed
    assert "你好" in broken.split("</table>")[0]
    assert 'data-intent="greet"' in html  # per-intent P/R/F1
    image = await anon.get(f"/console/trainer/models/{new}/confusion.png")
    assert image.status == 200 and image.content_type == "image/png"
    assert (await image.read()).startswith(b"\x89PNG")
    assert (await anon.get("/console/trainer/models/nope-123")).status == 404


async def test_activation_without_rasa_fails_cleanly_and_is_audited(anon, db, settings, versions):
    old, new = versions
    csrf = login(anon, db, "trainer1")
    response = await anon.post(f"/console/trainer/models/{new}/activate", data={"_csrf": csrf})
    assert response.status == 502
    assert "无法连接 Rasa" in await response.text()
    assert ModelRegistry.from_settings(settings).active().version == old
    entry = audit_entries(db, "model_activate")[0]
    assert (entry.actor, entry.target, entry.detail["ok"]) == ("trainer1", new, False)

    response = await anon.post("/console/trainer/models/rollback", data={"_csrf": csrf})
    assert response.status == 409
    assert "没有可回滚的更早版本" in await response.text()
    response = await anon.post("/console/trainer/models/sync", data={"_csrf": csrf})
    assert response.status == 502
    assert "无法读取 Rasa 当前模型" in await response.text()
    assert ModelRegistry.from_settings(settings).active().version == old


# --- validation ---------------------------------------------------------------------------


async def test_validate_page_lists_findings_by_severity(anon, db, project_root):
    # The same example under a second intent: an error of the trainer checks.
    (project_root / "data" / "nlu" / "zz_dup.yml").write_text(
        'version: "3.1"\nnlu:\n- intent: greet\n  examples: |\n    - 查余额\n', encoding="utf-8"
    )
    csrf = login(anon, db, "trainer1")
    response = await asyncio.wait_for(
        anon.post("/console/trainer/validate", data={"_csrf": csrf, "skip_rasa": "1"}), 120
    )
    html = await response.text()
    assert response.status == 200
    errors = html[html.index('id="tr-errors"') :].split("</table>")[0]
    assert 'data-code="duplicate-across-intents"' in errors and "跨意图重复例句" in errors
    assert "Rasa 数据校验" not in html


async def test_finished_jobs_show_their_results(anon, db, settings):
    """Jobs finished earlier (e.g. by the CLI) are read from the jobs folder."""
    jobs_dir = settings.data_dir / "trainer" / "jobs"
    jobs_dir.mkdir(parents=True)
    cv = TrainingJob(
        id="20260101-120000-ab12",
        kind="cross-validate",
        user="trainer0",
        status=JobStatus.SUCCEEDED,
        progress=100.0,
        created_at="2026-01-01T12:00:00+08:00",
        log_path=str(jobs_dir / "20260101-120000-ab12.log"),
    )
    (jobs_dir / f"{cv.id}.json").write_text(json.dumps(cv.to_json()), encoding="utf-8")
    Path(cv.log_path).write_text("fold 1/3: train\nfold 2/3: train\n", encoding="utf-8")
    evaluation = _evaluation("cross-validation (3 folds)", {"你好": "check_balance"})
    ev.CrossValidation(3, {"4:DIETClassifier": 50}, [0.5, 1.0, 0.5], evaluation, 12.0).save(
        jobs_dir / cv.id
    )
    login(anon, db, "trainer1")

    html = await (await anon.get(f"/console/trainer/jobs/{cv.id}")).text()
    result = html[html.index('id="tr-cv-result"') :]
    assert "交叉验证结果（3 折）" in result and "0.5 / 1.0 / 0.5" in result
    # The technical name, with the intent's label beside it.
    assert '<td><span class="mono">greet</span> <span class="small muted">问候</span></td>' in result
    assert f'src="/console/trainer/jobs/{cv.id}/confusion.png"' in result
    assert "fold 2/3: train" in html  # the log
    assert "取消任务" not in html  # not running here
    image = await anon.get(f"/console/trainer/jobs/{cv.id}/confusion.png")
    assert image.status == 200 and (await image.read()).startswith(b"\x89PNG")

    data = await (await anon.get(f"/api/trainer/jobs/{cv.id}?after=1")).json()
    assert data["lines"] == [[2, "fold 2/3: train"]] and data["finished"] is True
    assert "log_path" not in data
    assert (await anon.get("/api/trainer/jobs/20990101-000000-0000")).status == 404
    train_page = await (await anon.get("/console/trainer/train")).text()
    assert cv.id in train_page and "已完成" in train_page
