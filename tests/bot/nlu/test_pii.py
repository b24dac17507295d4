"""PII masking of chat text: what must be masked, and what must stay readable."""

from __future__ import annotations

import pytest

from bot.nlu.pii import find_pii, mask_pii, mask_value

MASKED = [
    # card / account numbers
    ("我的卡号是6222020200112341234", "我的卡号是尾号1234"),
    ("卡号 6222 0202 0011 2341 234 谢谢", "卡号 尾号1234 谢谢"),
    ("6222-0202-0011-2341", "尾号2341"),
    ("信用卡 4392 2600 1234 5678", "信用卡 尾号5678"),
    ("3782 822463 10005", "尾号0005"),
    ("账号6217000010001234567，户名李娜", "账号尾号4567，户名李娜"),
    ("转5000到6222020200112341234", "转5000到尾号1234"),
    ("6222 0202 0011 2341 5000元", "尾号2341 5000元"),
    # mobile numbers
    ("手机13800138000", "手机138****8000"),
    ("我的手机号是 138 0013 8000", "我的手机号是 138****8000"),
    ("138-0013-8000", "138****8000"),
    ("+86 13800138000", "+86 138****8000"),
    ("+8613800138000", "+86138****8000"),
    ("电话19912345678。", "电话199****5678。"),
    # ID numbers
    ("身份证号11010519491231002X", "身份证号**************002X"),
    ("身份证 11010519491231002x", "身份证 **************002x"),
    ("证件号码110105194912310021", "证件号码**************0021"),
    ("110105 19491231 002X 是我的", "**************002X 是我的"),
    # one-time codes in context, and a bare 6-digit answer
    ("验证码是123456", "验证码是******"),
    ("我的验证码：654321", "我的验证码：******"),
    ("动态码 8842", "动态码 ****"),
    ("短信收到的是 12345", "短信收到的是 *****"),
    ("code: 8842", "code: ****"),
    ("My OTP is 246810", "My OTP is ******"),
    ("123456是验证码", "******是验证码"),
    ("123456", "******"),
    (" 654321。", " ******。"),
    ("123 456", "******"),
    # several kinds in one message
    ("手机13800138000 验证码123456", "手机138****8000 验证码******"),
    ("卡6222020200112341234，手机13800138000", "卡尾号1234，手机138****8000"),
    # e-mail
    ("邮箱 zhang.san@example.com", "邮箱 z***@example.com"),
]

UNCHANGED = [
    "5000",
    "转账5000元给张三",
    "¥52,380.15",
    "余额 ￥1,234,567.89",
    "1.5万",
    "3,500.50元",
    "100000元",
    "转 20000 块",
    "2026-11-18",
    "2026/11/18",
    "20261118",
    "11月18日",
    "10:30",
    "2026-11-18 10:30",
    "明天下午3点",
    "尾号1234",
    "尾号1234的卡挂失",
    "验证码已发送至尾号8000的手机",
    "A023",
    "A023号还要等多久",
    "您的排队号是B105",
    "短信里说转账5000",
    "验证码 2026年",
    "验证码5分钟内有效",
    "年化收益率3.85%",
    "流水号T2026111812345678901",
    "客服电话95588",
    "12345",
    "1234567",
    "",
]


@pytest.mark.parametrize(("text", "expected"), MASKED)
def test_masks_personal_data(text: str, expected: str) -> None:
    assert mask_pii(text) == expected


@pytest.mark.parametrize("text", UNCHANGED)
def test_leaves_amounts_dates_tails_and_queue_numbers_alone(text: str) -> None:
    assert find_pii(text) == []
    assert mask_pii(text) == text


@pytest.mark.parametrize(
    ("text", "kinds"),
    [
        ("6222020200112341234", ["card"]),
        ("13800138000", ["phone"]),
        ("11010519491231002X", ["id"]),
        ("验证码123456", ["otp"]),
        ("a@b.cn", ["email"]),
        ("卡6222020200112341234 手机13800138000 验证码123456", ["card", "phone", "otp"]),
    ],
)
def test_find_pii_reports_kinds_in_order(text: str, kinds: list[str]) -> None:
    spans = find_pii(text)
    assert [kind for _, _, kind in spans] == kinds
    starts = [start for start, _, _ in spans]
    assert starts == sorted(starts)


def test_spans_cover_the_whole_number() -> None:
    text = "卡号 6222 0202 0011 2341 234 谢谢"
    [(start, end, kind)] = find_pii(text)
    assert text[start:end] == "6222 0202 0011 2341 234"
    assert kind == "card"


def test_masking_is_idempotent() -> None:
    for text, expected in MASKED:
        assert mask_pii(expected) == expected, text


def test_masked_text_keeps_no_full_number() -> None:
    masked = mask_pii("卡6222020200112341234 手机13800138000 身份证11010519491231002X")
    for secret in ("62220202", "0013", "19491231"):
        assert secret not in masked


def test_mask_value_rejects_unknown_kind() -> None:
    with pytest.raises(ValueError):
        mask_value("passport", "E12345678")


def test_amount_before_a_code_keyword_is_not_a_code() -> None:
    assert mask_pii("转5000 验证码123456") == "转5000 验证码******"
