"""Tests for bot.nlu.normalizer."""

import pytest
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.nlu.normalizer import (
    ChineseNormalizer,
    normalize_message,
    normalize_text,
    normalize_with_spans,
)


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("轉帳五千給李娜", "转账五千给李娜"),
        ("查詢餘額", "查询余额"),
        ("信用卡帳單", "信用卡帐单"),
        ("掛失銀行卡", "挂失银行卡"),
        ("凍結我的卡", "冻结我的卡"),
        ("你是機器人嗎", "你是机器人吗"),
        ("查询余额", "查询余额"),  # simplified input is unchanged
        ("１２３４５６", "123456"),
        ("ＯＫ", "OK"),
        ("尾号１２３４", "尾号1234"),
        ("不对，是五千", "不对,是五千"),
        ("￥３５００", "¥3500"),
        ("查\u200b余\u200d额", "查余额"),
        ("\ufeff你好", "你好"),
        ("  转账   给  李娜 ", "转账 给 李娜"),
        ("转账\t\n给李娜", "转账 给李娜"),
        ("转账\u3000给李娜", "转账 给李娜"),
        ("card丢了💳😭", "card丢了💳😭"),
        ("", ""),
    ],
)
def test_normalize_text(raw, expected):
    assert normalize_text(raw) == expected


@pytest.mark.parametrize(
    "raw, spans, expected_text, expected_values",
    [
        ("轉帳給李娜五千", [(3, 5)], "转账给李娜五千", ["李娜"]),
        ("查詢上個月的流水", [(2, 5)], "查询上个月的流水", ["上个月"]),
        ("  给　　李娜  转 ", [(5, 7)], "给 李娜 转", ["李娜"]),
        ("给\u200b\u200b王芳转５００", [(3, 5)], "给王芳转500", ["王芳"]),
        ("轉給媽媽，用信用卡", [(2, 4), (6, 9)], "转给妈妈,用信用卡", ["妈妈", "信用卡"]),
    ],
)
def test_spans_follow_the_text(raw, spans, expected_text, expected_values):
    text, new_spans = normalize_with_spans(raw, spans)
    assert text == expected_text
    assert [text[s:e] for s, e in new_spans] == expected_values


def test_length_changing_conversion_does_not_shift_spans(monkeypatch):
    """If t2s ever maps a phrase to a different length, later spans stay right."""
    import bot.nlu.text as text_module

    monkeypatch.setattr(text_module, "to_simplified", lambda s: s.replace("長長", "长"))
    text, spans = normalize_with_spans("長長的給李娜", [(4, 6)])
    assert text == "长的給李娜"
    assert text[spans[0][0] : spans[0][1]] == "李娜"


def _message(text, entities=None):
    data = {"text": text, "intent": "transfer_money"}
    if entities is not None:
        data["entities"] = entities
    return Message(data=data)


def test_normalize_message_updates_entities():
    message = _message(
        "轉帳　給媽媽",
        [{"start": 4, "end": 6, "value": "媽媽", "entity": "payee"}],
    )
    normalize_message(message)
    entity = message.get("entities")[0]
    assert message.get("text") == "转账 给妈妈"
    assert (entity["start"], entity["end"], entity["value"]) == (4, 6, "妈妈")


def test_normalize_message_keeps_synonym_values():
    message = _message(
        "用借記卡",
        [{"start": 1, "end": 4, "value": "储蓄卡", "entity": "account_type"}],
    )
    normalize_message(message)
    entity = message.get("entities")[0]
    assert message.get("text") == "用借记卡"
    assert message.get("text")[entity["start"] : entity["end"]] == "借记卡"
    assert entity["value"] == "储蓄卡"


def test_component_processes_training_data_and_messages():
    component = ChineseNormalizer.create({}, None, None, None)
    training = TrainingData(
        [
            _message("查詢餘額"),
            _message("轉給李娜", [{"start": 2, "end": 4, "value": "李娜", "entity": "payee"}]),
        ]
    )
    component.process_training_data(training)
    assert [m.get("text") for m in training.training_examples] == ["查询余额", "转给李娜"]
    messages = component.process([Message(data={"text": "轉帳五千給李娜"})])
    assert messages[0].get("text") == "转账五千给李娜"


def test_fingerprint_follows_the_jieba_dictionary(tmp_path, monkeypatch):
    import bot.nlu.normalizer as normalizer

    (tmp_path / "userdict.txt").write_text("李娜 100 nr\n", encoding="utf-8")
    monkeypatch.setattr(normalizer, "JIEBA_DICT_DIR", tmp_path)
    before = ChineseNormalizer.fingerprint_addon({})
    (tmp_path / "userdict.txt").write_text("李娜 100 nr\n王芳 100 nr\n", encoding="utf-8")
    assert ChineseNormalizer.fingerprint_addon({}) != before


def test_a_greeting_in_front_of_a_request_is_dropped_and_alone_it_stays() -> None:
    from bot.nlu.text import normalize_text, normalize_with_spans

    assert normalize_text("您好，请问怎么转账") == "请问怎么转账"
    assert normalize_text("喂喂 我要挂失") == "我要挂失"
    assert normalize_text("Hello，查下余额") == "查下余额"
    assert normalize_text("你好啊") == "你好啊"
    assert normalize_text("你好 在吗") == "你好 在吗"
    # Courtesy after the greeting is no request: the greeting stays.
    assert normalize_text("你好小助手") == "你好小助手"
    assert normalize_text("晚上好 有人在吗") == "晚上好 有人在吗"
    # Entity offsets follow the text.
    assert normalize_with_spans("你好，给李娜转500", [(4, 6)]) == ("给李娜转500", [(1, 3)])


def test_pinyin_homophones_of_banking_words_are_corrected() -> None:
    from bot.nlu.text import normalize_text, normalize_with_spans

    assert normalize_text("卡找到了 帮我解动一下") == "卡找到了 帮我解冻一下"
    assert normalize_text("查一下余颌和明系") == "查一下余额和明细"
    text, spans = normalize_with_spans("转帐给王芳", [(3, 5)])
    assert text == "转账给王芳" and text[spans[0][0]:spans[0][1]] == "王芳"
