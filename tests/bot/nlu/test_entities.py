"""Tests for bot.nlu.entities (amount, card_last4, phone, otp_code)."""

from decimal import Decimal

import pytest
from rasa.shared.nlu.training_data.message import Message

from bot.nlu.entities import (
    ChineseEntityExtractor,
    NumeralAnalyzer,
    format_amount,
    parse_number,
)
from bot.nlu.normalizer import ChineseNormalizer


@pytest.fixture(scope="module")
def analyzer():
    return NumeralAnalyzer()


def found(analyzer, text):
    """(entity, value) pairs, after checking that every span is inside the text."""
    entities = analyzer.analyze(text)
    for entity in entities:
        assert 0 <= entity["start"] < entity["end"] <= len(text)
    return [(e["entity"], e["value"]) for e in entities]


@pytest.mark.parametrize(
    "text, value",
    [
        ("五千", "5000"),
        ("1.5万", "15000"),
        ("两千三", "2300"),
        ("三千五百元", "3500"),
        ("¥3,500.50", "3500.50"),
        ("5k", "5000"),
        ("5K", "5000"),
        ("500块", "500"),
        ("一万二", "12000"),
        ("两百", "200"),
        ("3000.5元", "3000.50"),
        ("三万五", "35000"),
        ("两千三百五", "2350"),
        ("1万5", "15000"),
        ("2千", "2000"),
        ("1.2w", "12000"),
        ("3,000块", "3000"),
        ("两块五", "2.50"),
        ("一百二十三块四", "123.40"),
        ("十块", "10"),
        ("二十万", "200000"),
        ("五百元整", "500"),
        ("100美元", "100"),
        ("人民币8000", "8000"),
        ("$ 99.9", "99.90"),
        ("123456元", "123456"),
        ("¥123456", "123456"),
        ("12.345元", "12.35"),
    ],
)
def test_amount_alone(analyzer, text, value):
    assert found(analyzer, text) == [("amount", value)]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("转账五千给李娜", [("amount", "5000")]),
        ("给王芳转1.5万", [("amount", "15000")]),
        ("转三万五给王芳", [("amount", "35000")]),
        ("不对，是五千", [("amount", "5000")]),
        ("转给小周500", [("amount", "500")]),
        ("周三转了五千", [("amount", "5000")]),
        ("用尾号1234的卡转5000给李娜", [("card_last4", "1234"), ("amount", "5000")]),
        ("最近一周花了200多", [("amount", "200")]),
        ("500 123456", [("amount", "500"), ("otp_code", "123456")]),
        ("给老婆转520", [("amount", "520")]),
        ("转88块给李娜", [("amount", "88")]),
    ],
)
def test_amount_in_context(analyzer, text, expected):
    assert found(analyzer, text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "最近30天的流水",
        "三月份的",
        "查一下",
        "千万别转",
        "三个月",
        "第一张卡",
        "十分感谢",
        "2024-03-01的交易",
        "6222 0000 1234 5678",
        "最近7天",
        "3月5号",
        "万一转错了怎么办",
        "88",
        "886",
        "88啦",
        "一周",
        "你好",
        "",
    ],
)
def test_no_amount(analyzer, text):
    assert [e for e in found(analyzer, text) if e[0] == "amount"] == []


@pytest.mark.parametrize(
    "text",
    [
        "尾号1234",
        "尾号为1234的卡",
        "卡号后四位是1234",
        "末四位 1234",
        "后4位1234",
        "尾号：1234",
        "1234的那张卡",
        "尾号1234的那张",
    ],
)
def test_card_last4(analyzer, text):
    assert found(analyzer, text) == [("card_last4", "1234")]


def test_number_after_tail_marker_is_never_an_amount(analyzer):
    assert found(analyzer, "尾号123456") == []
    assert found(analyzer, "尾号88元") == []


@pytest.mark.parametrize(
    "text",
    [
        "13800138000",
        "手机号13800138000",
        "138 0013 8000",
        "138-0013-8000",
        "+86 13800138000",
        "+86-138-0013-8000",
        "+8613800138000",
        "我的手机是13800138000，帮我绑定",
    ],
)
def test_phone(analyzer, text):
    assert found(analyzer, text) == [("phone", "13800138000")]


@pytest.mark.parametrize(
    "text",
    ["12800138000", "1380013800", "138001380001", "13800138000元"],
)
def test_phone_lookalikes_are_not_amounts(analyzer, text):
    assert [e for e in found(analyzer, text) if e[0] == "amount"] == []


def test_phone_with_currency_marker_is_still_no_amount(analyzer):
    assert found(analyzer, "13800138000元") == [("phone", "13800138000")]


@pytest.mark.parametrize(
    "text",
    [
        "123456",
        "验证码是123456",
        "验证码：123456",
        "验证码 123456",
        "code: 123456",
        "Code 123456",
        "动态码为123456",
        "收到的是123456",
    ],
)
def test_otp_code(analyzer, text):
    assert found(analyzer, text) == [("otp_code", "123456")]


def test_short_code_needs_explicit_marker(analyzer):
    assert found(analyzer, "验证码1234") == [("otp_code", "1234")]
    assert found(analyzer, "1234") == [("amount", "1234")]


def test_entities_come_in_text_order(analyzer):
    assert found(analyzer, "验证码123456，手机13800138000，转五千") == [
        ("otp_code", "123456"),
        ("phone", "13800138000"),
        ("amount", "5000"),
    ]


def test_spans_point_at_the_numbers(analyzer):
    text = "给李娜转¥3,500.50，尾号1234，验证码654321"
    spans = {e["entity"]: text[e["start"] : e["end"]] for e in analyzer.analyze(text)}
    assert spans == {
        "amount": "3,500.50",
        "card_last4": "1234",
        "otp_code": "654321",
    }


@pytest.mark.parametrize(
    "text, value",
    [
        ("两千三", Decimal(2300)),
        ("一万二", Decimal(12000)),
        ("三万五", Decimal(35000)),
        ("3,500.50", Decimal("3500.50")),
        ("五", Decimal(5)),
        ("abc", None),
        ("", None),
    ],
)
def test_parse_number(text, value):
    assert parse_number(text) == value


@pytest.mark.parametrize(
    "value, text",
    [
        (Decimal("5000"), "5000"),
        (Decimal("5000.0"), "5000"),
        (Decimal("3000.5"), "3000.50"),
        (Decimal("0.005"), "0.01"),
    ],
)
def test_format_amount(value, text):
    assert format_amount(value) == text


def _extractor(**config):
    return ChineseEntityExtractor.create(
        {**ChineseEntityExtractor.get_default_config(), **config}, None, None, None
    )


def test_component_adds_entities_with_extractor_name():
    message = Message(data={"text": "给李娜转五千，尾号1234"})
    _extractor().process([message])
    entities = message.get("entities")
    assert {(e["entity"], e["value"]) for e in entities} == {
        ("amount", "5000"),
        ("card_last4", "1234"),
    }
    assert {e["extractor"] for e in entities} == {"ChineseEntityExtractor"}


def test_component_keeps_other_entities_and_drops_overlaps():
    message = Message(
        data={
            "text": "给李娜转五千",
            "entities": [
                {
                    "entity": "payee",
                    "start": 1,
                    "end": 3,
                    "value": "李娜",
                    "extractor": "DIETClassifier",
                },
                {
                    "entity": "payee",
                    "start": 4,
                    "end": 6,
                    "value": "五千",
                    "extractor": "DIETClassifier",
                },
            ],
        }
    )
    _extractor().process([message])
    assert [(e["entity"], e["value"]) for e in message.get("entities")] == [
        ("payee", "李娜"),
        ("amount", "5000"),
    ]


def test_component_dimensions_limit_the_output():
    message = Message(data={"text": "五千，验证码123456"})
    _extractor(dimensions=["otp_code"]).process([message])
    assert [e["entity"] for e in message.get("entities")] == ["otp_code"]


def test_spacy_pipeline_is_created_lazily_once():
    extractor = _extractor()
    assert extractor._analyzer._nlp is None
    extractor.extract("你好")  # no digits: nothing to analyse
    assert extractor._analyzer._nlp is None
    extractor.extract("五千")
    nlp = extractor._analyzer._nlp
    extractor.extract("六千")
    assert nlp is not None and extractor._analyzer._nlp is nlp


def test_traditional_input_end_to_end():
    message = Message(data={"text": "轉帳五千給李娜"})
    ChineseNormalizer.create({}, None, None, None).process([message])
    _extractor().process([message])
    assert message.get("text") == "转账五千给李娜"
    assert [(e["entity"], e["value"]) for e in message.get("entities")] == [("amount", "5000")]


def test_full_width_input_end_to_end():
    message = Message(data={"text": "转账￥３，５００给王芳，尾号１２３４"})
    ChineseNormalizer.create({}, None, None, None).process([message])
    _extractor().process([message])
    assert [(e["entity"], e["value"]) for e in message.get("entities")] == [
        ("amount", "3500"),
        ("card_last4", "1234"),
    ]


def test_component_joins_time_range_split_around_a_number():
    diet = {"entity": "time_range", "extractor": "DIETClassifier"}
    message = Message(
        data={
            "text": "近7天的流水",
            "entities": [
                {**diet, "start": 0, "end": 1, "value": "近"},
                {**diet, "start": 2, "end": 3, "value": "天"},
            ],
        }
    )
    _extractor().process([message])
    [entity] = message.get("entities")
    assert (entity["start"], entity["end"], entity["value"]) == (0, 3, "近7天")
    assert entity["processors"] == ["ChineseEntityExtractor"]


def test_component_leaves_separate_time_ranges_alone():
    diet = {"entity": "time_range", "extractor": "DIETClassifier"}
    entities = [
        {**diet, "start": 0, "end": 2, "value": "今天"},
        {**diet, "start": 3, "end": 5, "value": "昨天"},
    ]
    message = Message(data={"text": "今天和昨天", "entities": [dict(e) for e in entities]})
    _extractor().process([message])
    assert message.get("entities") == entities


# --- products, FX and queues ------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        ("1000美元是多少人民币", [("amount", "1000")]),
        ("换5000港币要多少钱", [("amount", "5000")]),
        ("我有5万闲钱买什么好", [("amount", "50000")]),
        ("20万存三年期大额存单一年利息多少", [("amount", "200000")]),
        ("20万两年不用，怎么安排", [("amount", "200000")]),
        ("5万一年利息多少", [("amount", "50000")]),
        ("2万日元大概多少钱", [("amount", "20000")]),
        ("转五百,一会儿到", [("amount", "500")]),
        ("转1,000,一会儿", [("amount", "1000")]),
        ("转Tom500", [("amount", "500")]),
        ("在五角场取5000元", [("amount", "5000")]),
    ],
)
def test_amounts_around_terms_and_currencies(analyzer, text, expected):
    assert found(analyzer, text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "稳盈180天和睿远一年持有有啥区别",
        "有没有3个月的理财",
        "一年内不用的钱放哪",
        "三年期大额存单利率",
        "钱要放180天,买什么合适",
        "十二个月的定期",
        "排队两个小时没人管",
        "我是C3,可以买什么",
        "R2的理财有哪些",
        "我的号A018前面几个人",
        "五角场附近有网点吗",
        "五角场支行几点关门",
        "八佰伴那边有支行吗",
    ],
)
def test_terms_risk_levels_and_ticket_numbers_are_not_amounts(analyzer, text):
    assert found(analyzer, text) == []


@pytest.mark.parametrize(
    "text, expected",
    [
        ("6222 0212 3456 7890 123", [("account_number", "6222021234567890123")]),
        ("6222-0212-3456-7890", [("account_number", "6222021234567890")]),
        (
            "转2万到6222021234567890123 收款人叫陈明",
            [("amount", "20000"), ("account_number", "6222021234567890123")],
        ),
        (
            "给6216610200000561234转五千",
            [("account_number", "6216610200000561234"), ("amount", "5000")],
        ),
    ],
)
def test_full_account_numbers(analyzer, text, expected):
    assert found(analyzer, text) == expected


def test_fifteen_digits_are_no_account_number(analyzer):
    assert ("account_number", "622202123456789") not in found(analyzer, "622202123456789")
