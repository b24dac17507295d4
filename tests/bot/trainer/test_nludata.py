"""Reading and extending the YAML training data (on a copy of the project's data)."""

from __future__ import annotations

import difflib
import json
import shutil
from pathlib import Path

import pytest
from rasa.shared.nlu.training_data.formats.rasa_yaml import RasaYAMLReader

from bot.settings import PROJECT_ROOT
from bot.trainer import nludata as nd
from bot.trainer.nludata import Example, ProjectPaths, Span, TrainerError


@pytest.fixture
def project(tmp_path: Path) -> ProjectPaths:
    """data/, domain/, config.yml and the NLU test sets copied into tmp_path."""
    for name in ("data", "domain"):
        shutil.copytree(PROJECT_ROOT / name, tmp_path / name)
    shutil.copy(PROJECT_ROOT / "config.yml", tmp_path / "config.yml")
    shutil.copytree(
        PROJECT_ROOT / "tests" / "nlu",
        tmp_path / "tests" / "nlu",
        ignore=shutil.ignore_patterns("*.py", "__pycache__"),
    )
    return ProjectPaths(tmp_path)


def snapshot(project: ProjectPaths) -> dict[str, str]:
    files = sorted((project.root / "data").rglob("*.yml")) + sorted(project.domain.glob("*.yml"))
    return {project.relative(p): p.read_text(encoding="utf-8") for p in files}


def only_added(before: str, after: str) -> list[str]:
    """The added lines of a unified diff; fails when any line was removed or changed."""
    diff = list(difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0))
    body = [line for line in diff[2:] if not line.startswith("@@")]
    assert [line for line in body if not line.startswith("+")] == []
    return [line[1:] for line in body]


def rasa_examples(path: Path, intent: str) -> list[dict]:
    data = RasaYAMLReader().read(str(path))
    return [
        {"text": m.get("text"), "entities": m.get("entities") or []}
        for m in data.intent_examples
        if m.get("intent_response_key", m.get("intent")) == intent or m.get("intent") == intent
    ]


def test_round_trip_appends_lines_and_keeps_the_rest_byte_for_byte(project):
    before = snapshot(project)
    examples = [
        Example("帮我给王芳转一笔钱吧", (Span(3, 5, "payee"),)),
        Example(
            "用工资卡给妈妈打点钱",
            (Span(1, 4, "account_type", value="储蓄卡"), Span(5, 7, "payee")),
        ),
    ]
    change = nd.add_examples(project, "transfer_money", examples, "alice")

    assert change.written and change.files == ("data/nlu/accounts.yml",)
    after = snapshot(project)
    changed = [name for name in before if before[name] != after[name]]
    assert changed == ["data/nlu/accounts.yml"]
    added = only_added(before["data/nlu/accounts.yml"], after["data/nlu/accounts.yml"])
    assert added == [
        "    - 帮我给[王芳](payee)转一笔钱吧",
        '    - 用[工资卡]{"entity": "account_type", "value": "储蓄卡"}给[妈妈](payee)打点钱',
    ]
    # The comments at the top of the file are still there, in place.
    assert (
        after["data/nlu/accounts.yml"].splitlines()[:3]
        == before["data/nlu/accounts.yml"].splitlines()[:3]
    )
    # Rasa reads the new examples with their entities.
    read = rasa_examples(project.nlu_file("accounts"), "transfer_money")
    last = read[-1]
    assert last["text"] == "用工资卡给妈妈打点钱"
    assert [(e["entity"], e["start"], e["end"], e["value"]) for e in last["entities"]] == [
        ("account_type", 1, 4, "储蓄卡"),
        ("payee", 5, 7, "妈妈"),
    ]
    # The diff the change reports is the one on disk.
    assert change.diff.startswith("--- a/data/nlu/accounts.yml\n+++ b/data/nlu/accounts.yml\n")


def test_change_is_recorded_with_its_author(project):
    nd.add_examples(project, "greet", [Example("嗨嗨你好呀朋友")], "alice")
    records = nd.read_changes(project)
    assert len(records) == 1
    record = records[0]
    assert record["user"] == "alice" and record["action"] == "add_examples"
    assert record["file"] == "data/nlu/_shared.yml" and record["intent"] == "greet"
    assert record["examples"] == ["嗨嗨你好呀朋友"]
    line = project.changes_log.read_text(encoding="utf-8").strip()
    assert json.loads(line)["at"].endswith("+00:00")


def test_duplicates_of_the_same_intent_are_skipped(project):
    before = snapshot(project)
    # 你好 exists; 你們好！ is 你们好 (exists) once simplified and without punctuation.
    change = nd.add_examples(
        project, "greet", [Example("你好"), Example("你們好！"), Example("你好")], "alice"
    )
    assert change.added == () and change.skipped == ("你好", "你們好！", "你好")
    assert not change.written
    assert snapshot(project) == before
    assert nd.read_changes(project) == []


def test_example_of_another_intent_is_refused_and_nothing_written(project):
    before = snapshot(project)
    with pytest.raises(TrainerError) as refused:
        nd.add_examples(
            project, "greet", [Example("早上好呀朋友们"), Example("今天天氣怎麼樣？")], "alice"
        )
    assert "out_of_scope" in str(refused.value) and "今天天氣怎麼樣" in str(refused.value)
    assert snapshot(project) == before


def test_test_set_examples_are_refused(project):
    heldout = RasaYAMLReader().read(str(project.heldout)).intent_examples[0]
    with pytest.raises(TrainerError, match="test set"):
        nd.add_examples(project, heldout.get("intent"), [Example(heldout.get("text"))], "alice")


@pytest.mark.parametrize(
    ("example", "message"),
    [
        (Example("给王芳转五千", (Span(3, 5, "amount"),)), "extracted by rules"),
        (Example("给王芳转钱", (Span(1, 3, "nickname"),)), "unknown entity"),
        (Example("给王芳\n转钱"), "one line"),
        (Example("   "), "empty"),
        (Example("看[这个](payee)"), "ambiguous"),
    ],
)
def test_invalid_examples_are_refused(project, example, message):
    with pytest.raises(TrainerError, match=message):
        nd.add_examples(project, "transfer_money", [example], "alice")


def test_who_is_required_and_unknown_intents_are_refused(project):
    with pytest.raises(TrainerError, match="--user"):
        nd.add_examples(project, "greet", [Example("嗨嗨嗨嗨")], " ")
    with pytest.raises(TrainerError, match="add-intent"):
        nd.add_examples(project, "no_such_intent", [Example("嗨嗨嗨嗨")], "alice")
    with pytest.raises(TrainerError, match="add-faq"):
        nd.add_examples(project, "faq/no_such_topic", [Example("嗨嗨嗨嗨")], "alice")


def test_dry_run_shows_the_diff_and_writes_nothing(project):
    before = snapshot(project)
    change = nd.add_examples(project, "thank", [Example("太感谢你啦小助手")], "alice", dry_run=True)
    assert not change.written and "+    - 太感谢你啦小助手" in change.diff
    assert snapshot(project) == before and nd.read_changes(project) == []


def test_new_intent_lands_in_the_topic_nlu_and_domain_files(project):
    before = snapshot(project)
    examples = [Example("网点有停车位吗"), Example("陆家嘴支行能停车吗", (Span(0, 5, "branch"),))]
    change = nd.create_intent(project, "ask_parking", "branches", examples, "bob")

    assert change.files == ("data/nlu/branches.yml", "domain/branches.yml")
    after = snapshot(project)
    assert only_added(before["data/nlu/branches.yml"], after["data/nlu/branches.yml"]) == [
        "",
        "- intent: ask_parking",
        "  examples: |",
        "    - 网点有停车位吗",
        "    - [陆家嘴支行](branch)能停车吗",
    ]
    # domain/branches.yml had no intents: list.
    assert only_added(before["domain/branches.yml"], after["domain/branches.yml"]) == [
        "",
        "intents:",
        "  - ask_parking",
    ]
    info = nd.list_intents(project)["ask_parking"]
    assert (info.topic, info.examples, info.in_domain) == ("branches", 2, True)
    assert nd.topic_for_intent(project, "ask_parking") == "branches"

    nd.create_intent(project, "ask_wifi", "products", [Example("网点有无线网吗")], "bob")
    after_second = snapshot(project)
    # domain/products.yml has an intents: list already (ask_mortgage): appended to it.
    added = only_added(after["domain/products.yml"], after_second["domain/products.yml"])
    assert added == ["  - ask_wifi"]
    nd.create_intent(project, "ask_toilet", "accounts", [Example("网点有洗手间吗")], "bob")
    added = only_added(
        after_second["domain/accounts.yml"], snapshot(project)["domain/accounts.yml"]
    )
    assert added == ["  - ask_toilet"]
    domain = nd.read_domain(project)
    assert domain.intents["ask_toilet"] == "accounts" and domain.intents["ask_wifi"] == "products"


def test_new_intent_in_a_new_topic_gets_new_files(project):
    nd.create_intent(project, "ask_loan", "loans", [Example("我想贷款")], "bob")
    assert project.nlu_file("loans").read_text(encoding="utf-8") == (
        'version: "3.1"\n\nnlu:\n- intent: ask_loan\n  examples: |\n    - 我想贷款\n'
    )
    assert project.domain_file("loans").read_text(encoding="utf-8") == (
        'version: "3.1"\n\nintents:\n  - ask_loan\n'
    )
    assert nd.topic_for_intent(project, "ask_loan") == "loans"


@pytest.mark.parametrize(
    ("name", "topic", "message"),
    [
        ("greet", "_shared", "already exists"),
        ("Ask-Parking", "branches", "invalid name"),
        ("faq", "_shared", "reserved"),
        ("nlu_fallback", "_shared", "reserved"),
        ("ask_x", "lookups", "invalid topic"),
        ("ask_x", "faq", "invalid topic"),
        ("ask_x", "../x", "invalid topic"),
    ],
)
def test_create_intent_refusals(project, name, topic, message):
    before = snapshot(project)
    with pytest.raises(TrainerError, match=message):
        nd.create_intent(project, name, topic, [Example("网点有停车位吗")], "bob")
    assert snapshot(project) == before


def faq_questions() -> list[Example]:
    texts = [
        "存折丢了怎么办",
        "存折找不到了",
        "存折遗失怎么挂失",
        "我的存折不见了",
        "存折被偷了怎么办",
        "存折掉了能补吗",
        "补办存折要带什么",
        "存折丢失要去网点吗",
        "存折丢了钱会不会被取走",
        "存折没了怎么取钱",
        "存折弄丢了",
        "找不到存折了怎么处理",
    ]
    return [Example(t) for t in texts]


def test_new_faq_lands_in_faq_files_and_validates(project):
    from bot.trainer.checks import errors, run_checks
    from bot.validate import validate

    before = snapshot(project)
    answer = "存折遗失请本人携带身份证到开户网点办理挂失和补发。\n挂失前请先冻结账户 🔒"
    change = nd.create_faq(project, "lost_passbook", faq_questions(), answer, "carol")

    assert change.files == ("data/nlu/faq.yml", "domain/faq.yml")
    after = snapshot(project)
    assert [n for n in before if before[n] != after[n]] == ["data/nlu/faq.yml", "domain/faq.yml"]
    added = only_added(before["data/nlu/faq.yml"], after["data/nlu/faq.yml"])
    assert added[:4] == ["", "- intent: faq/lost_passbook", "  examples: |", "    - 存折丢了怎么办"]
    assert only_added(before["domain/faq.yml"], after["domain/faq.yml"]) == [
        "",
        "  utter_faq/lost_passbook:",
        '    - text: "存折遗失请本人携带身份证到开户网点办理挂失和补发。\\n挂失前请先冻结账户 🔒"',
    ]
    assert nd.read_domain(project).responses["utter_faq/lost_passbook"] == "faq"
    assert nd.load_yaml(project.domain_file("faq"))["responses"]["utter_faq/lost_passbook"] == [
        {"text": answer}
    ]
    assert len(rasa_examples(project.nlu_file("faq"), "faq/lost_passbook")) == 12
    # Rasa's validator (strict, as `make validate`) and the trainer checks accept it as is.
    assert validate(str(project.domain), str(project.data), str(project.config)) == []
    assert errors(run_checks(project)) == []


def test_faq_refusals(project):
    with pytest.raises(TrainerError, match="already exists"):
        nd.create_faq(project, "atm_limit", faq_questions(), "答案", "carol")
    with pytest.raises(TrainerError, match="placeholders"):
        nd.create_faq(project, "lost_passbook", faq_questions(), "请联系{branch}", "carol")
    with pytest.raises(TrainerError, match="empty"):
        nd.create_faq(project, "lost_passbook", faq_questions(), "  ", "carol")
    rules = project.data / "rules" / "faq.yml"
    rules.write_text('version: "3.1"\nrules: []\n', encoding="utf-8")
    assert nd.faq_wiring_problems(project) == ["no rule answers intent 'faq' with action_faq or utter_faq"]
    with pytest.raises(TrainerError, match="no rule answers"):
        nd.create_faq(project, "lost_passbook", faq_questions(), "答案", "carol")


def test_markup_parse_and_render():
    example = nd.parse_example(
        '查[尾号1234]{"entity": "card_last4", "value": "1234"}的[储蓄卡](account_type)'
    )
    assert example.text == "查尾号1234的储蓄卡"
    assert example.entities == (
        Span(1, 7, "card_last4", value="1234"),
        Span(8, 11, "account_type"),
    )
    assert (
        example.markup()
        == '查[尾号1234]{"entity": "card_last4", "value": "1234"}的[储蓄卡](account_type)'
    )
    assert nd.parse_example(example.markup()) == example


def test_tokens_follow_the_pipeline_and_map_back_to_the_original_text(project):
    tokens = nd.tokenize("我要給李娜轉帳５００元", project)
    assert [t.text for t in tokens][:4] == ["我要", "給", "李娜", "轉帳"]
    assert all("我要給李娜轉帳５００元"[t.start : t.end] == t.text for t in tokens)
    # 李娜 is in bot/nlu/jieba/userdict.txt; jieba alone splits some of these names.
    assert "人民广场支行" in [t.text for t in nd.tokenize("去人民广场支行取号", project)]


def test_annotate_snaps_spans_to_tokens_and_warns(project):
    text = "我要给李娜转账"
    clean = nd.annotate(text, [Span(3, 5, "payee")], project=project)
    assert clean.warnings == () and clean.example.entities == (Span(3, 5, "payee"),)

    snapped = nd.annotate(text, [Span(4, 5, "payee")], project=project)
    assert snapped.example.entities == (Span(3, 5, "payee"),)
    assert len(snapped.warnings) == 1 and "李娜" in snapped.warnings[0]
    assert [t.text for t in snapped.tokens] == ["我要", "给", "李娜", "转账"]

    trimmed = nd.annotate("给 李娜 转账", [Span(1, 5, "payee")], project=project)
    assert trimmed.example.entities == (Span(2, 4, "payee"),) and trimmed.warnings == ()

    overlapping = nd.annotate(text, [Span(3, 5, "payee"), Span(4, 7, "txn_kind")], project=project)
    assert overlapping.example.entities == (Span(3, 5, "payee"),)
    assert any("overlaps" in w for w in overlapping.warnings)

    empty = nd.annotate(text, [Span(2, 2, "payee")], project=project)
    assert empty.example.entities == () and len(empty.warnings) == 1


def test_topics_and_intents(project):
    assert project.topics() == [
        "_shared",
        "accounts",
        "branches",
        "cards",
        "faq",
        "products",
        "support",
    ]
    intents = nd.list_intents(project)
    assert intents["greet"].topic == "_shared" and intents["greet"].examples >= 30
    assert intents["faq/atm_limit"].path == project.nlu_file("faq")
    assert "nlu_fallback" not in intents
    assert nd.topic_for_intent(project, "human_handoff") == "_shared"  # where its examples are
    assert nd.topic_for_intent(project, "brand_new", "cards") == "cards"
    assert nd.topic_for_intent(project, "brand_new") == "_shared"
    assert nd.topic_for_intent(project, "faq/brand_new") == "faq"
