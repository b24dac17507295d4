"""domain/labels.yml: every name staff may read has a Chinese label; unknown names never fail.

When you add an intent, a form, a custom action (domain/*.yml) or a faq/<topic>
(data/nlu/faq.yml), add its label to domain/labels.yml: these tests fail until then.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from rasa.shared.core.domain import Domain
from ruamel.yaml import YAML

from bot.console.labels import (
    LABELS_FILE,
    Labels,
    button_title,
    get_labels,
    parse_payload,
    payload_text,
)
from bot.settings import PROJECT_ROOT

DOMAIN_DIR = PROJECT_ROOT / "domain"
FAQ_NLU = PROJECT_ROOT / "data" / "nlu" / "faq.yml"


def _names(items: Any) -> list[str]:
    names = []
    for item in items or []:
        names.append(str(next(iter(item))) if isinstance(item, dict) else str(item))
    return names


def domain_names() -> dict[str, set[str]]:
    """Intents, actions, forms, slots and entities declared in domain/*.yml."""
    found: dict[str, set[str]] = {
        "intents": set(), "actions": set(), "forms": set(), "slots": set(), "entities": set()
    }
    yaml = YAML(typ="safe")
    for path in sorted(DOMAIN_DIR.glob("*.yml")):
        if path == LABELS_FILE:
            continue
        document = yaml.load(path.read_text(encoding="utf-8")) or {}
        for key in ("intents", "actions", "entities"):
            found[key].update(_names(document.get(key)))
        found["forms"].update(document.get("forms") or {})
        found["slots"].update(document.get("slots") or {})
    return found


def faq_topics() -> set[str]:
    document = YAML(typ="safe").load(FAQ_NLU.read_text(encoding="utf-8")) or {}
    return {
        str(block["intent"])
        for block in document.get("nlu") or []
        if isinstance(block, dict) and str(block.get("intent", "")).startswith("faq/")
    }


@pytest.fixture(scope="module")
def table() -> Labels:
    return Labels.load(LABELS_FILE)


def test_rasa_skips_the_labels_file() -> None:
    document = YAML(typ="safe").load(LABELS_FILE.read_text(encoding="utf-8"))
    assert list(document) == ["labels"]
    assert not Domain.is_domain_file(str(LABELS_FILE))
    assert Domain.is_domain_file(str(DOMAIN_DIR / "_shared.yml"))  # the check itself works


def test_every_intent_has_a_label(table: Labels) -> None:
    missing = sorted(i for i in domain_names()["intents"] if not table.has("intents", i))
    assert not missing, f"add these intents to domain/labels.yml (labels.intents): {missing}"


def test_every_faq_topic_has_a_label(table: Labels) -> None:
    topics = faq_topics()
    assert len(topics) >= 15
    missing = sorted(t for t in topics if not table.has("intents", t))
    assert not missing, f"add these FAQ topics to domain/labels.yml (labels.intents): {missing}"


def test_every_form_and_custom_action_has_a_label(table: Labels) -> None:
    names = domain_names()
    missing_forms = sorted(f for f in names["forms"] if not table.has("forms", f))
    assert not missing_forms, f"add these forms to domain/labels.yml (labels.forms): {missing_forms}"
    custom = {a for a in names["actions"] if not a.startswith("utter_")}
    missing = sorted(a for a in custom if not table.has("actions", a))
    assert not missing, f"add these actions to domain/labels.yml (labels.actions): {missing}"


def test_every_slot_and_entity_has_a_label(table: Labels) -> None:
    names = domain_names()
    missing = sorted(s for s in names["slots"] if not table.has("slots", s))
    assert not missing, f"add these slots to domain/labels.yml (labels.slots): {missing}"
    unlabelled = sorted(
        e for e in names["entities"] if not (table.has("entities", e) or table.has("slots", e))
    )
    assert not unlabelled, f"add these entities to domain/labels.yml: {unlabelled}"


def test_the_handoff_contract_is_labelled(table: Labels) -> None:
    assert table.urgent_reason("fraud") == "疑似诈骗受害"
    assert table.urgent_reason("stolen_card") == "银行卡被盗/被抢"
    assert table.urgent_reason("disputed_transfer") == "转账争议/转错账"
    for reason in ("human_handoff", "complaint", "fallback", "proactive"):
        assert table.has("handoff_reasons", reason)
    for slot in ("urgent_reason", "handoff_ticket_id", "complaint_ticket_id"):
        assert table.has("slots", slot)
    for intent in ("nlu_fallback", "out_of_scope", "faq"):
        assert table.has("intents", intent)


def test_lookups_and_fallbacks(table: Labels) -> None:
    assert table.intent("transfer_money") == "转账"
    assert table.intent("faq/open_account_materials") == "常见问题·开户材料"
    assert table.intent("faq/no_such_topic") == "faq/no_such_topic"
    assert table.intent("no_such_intent") == "no_such_intent"
    assert table.intent(None) == "" and table.intent("") == ""
    assert table.action("action_human_handoff") == "登记转人工"
    assert table.action("transfer_form") == "转账表单"  # a form runs as an action
    assert table.action("utter_anything_new") == "机器人回复"  # generic by prefix
    assert table.action("validate_new_form") == "校验表单信息"
    assert table.action("action_brand_new") == "action_brand_new"
    assert table.slot("payee") == "收款人" and table.slot("nope") == "nope"
    assert table.entity("card_last4") == "卡号尾号"  # from the slot of the same name
    assert table.task("transfer_money") == "转账" and table.task("verify_form") == "身份验证"
    assert table.slot_value("pending_request", "check_balance") == "查询余额"
    assert table.slot_value("card_operation", "freeze_card") == "临时冻结银行卡"
    assert table.slot_value("requested_slot", "amount") == "金额"
    assert table.slot_value("urgent_reason", "fraud") == "疑似诈骗受害"
    assert table.slot_value("vip", True) == "是" and table.slot_value("x", None) == "（空）"
    assert table.slot_value("amount", 5000) == "5000"
    assert table.handoff_reason("odd") == "odd" and table.urgent_reason(None) == ""


def test_a_broken_or_missing_file_gives_names_not_errors(tmp_path: Path) -> None:
    broken = tmp_path / "labels.yml"
    broken.write_text("labels: [unclosed", encoding="utf-8")
    for path in (broken, tmp_path / "absent.yml"):
        table = Labels.load(path)
        assert table.intent("transfer_money") == "transfer_money"
        assert table.action("utter_x") == "utter_x"
    weird = Labels({"intents": ["not", "a", "mapping"], "slots": {"a": None}})
    assert weird.intent("greet") == "greet" and weird.slot("a") == "a"


def test_the_cached_table_follows_the_file(tmp_path: Path) -> None:
    path = tmp_path / "labels.yml"
    path.write_text("labels:\n  intents:\n    greet: 问候\n", encoding="utf-8")
    assert get_labels(path).intent("greet") == "问候"
    path.write_text("labels:\n  intents:\n    greet: 打招呼\n", encoding="utf-8")
    os.utime(path, (1, 1))  # a different mtime, as an edit gives
    assert get_labels(path).intent("greet") == "打招呼"


def test_payloads() -> None:
    assert parse_payload("/greet") == ("greet", {})
    assert parse_payload('/inform{"card_last4": "1234"}') == ("inform", {"card_last4": "1234"})
    assert parse_payload("/faq/open_account_materials") == ("faq/open_account_materials", {})
    assert parse_payload("/inform{broken") is None
    for text in ("我要转账", "", None, 42, "/ 空格"):
        assert parse_payload(text) is None
    buttons = [
        {"title": "李娜（尾号8888）", "payload": '/inform{"payee": "李娜"}'},
        {"title": "", "payload": "/deny"},
        "junk",
    ]
    # The same payload, JSON spacing aside.
    assert button_title('/inform{"payee":"李娜"}', buttons) == "李娜（尾号8888）"
    assert button_title("/deny", buttons) is None  # no title to show
    table = get_labels()
    assert payload_text('/inform{"payee": "李娜"}', buttons, table) == "李娜（尾号8888）"
    assert payload_text("/deny", buttons, table) == "否定"
    assert payload_text('/inform{"amount": "500", "currency": ""}', None, table) == "提供信息：金额 500"
    assert payload_text("你好", buttons, table) is None
