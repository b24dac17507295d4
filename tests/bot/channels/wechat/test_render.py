"""Merging, numbered options, msgmenu, UTF-8 splitting, CDATA escaping, option memory."""

from __future__ import annotations

import xmltodict

from bot.channels.wechat.dedupe import MemoryStore, UserMemory
from bot.channels.wechat.render import (
    TEXT_LIMIT_BYTES,
    Option,
    OptionMemory,
    as_text_payload,
    escape_cdata,
    render_kf,
    render_passive,
    split_utf8,
    truncate_utf8,
    utf8_len,
)

HINT = "请回复序号选择："
GREETING = {
    "text": "您好，请问有什么可以帮您？",
    "buttons": [
        {"title": "查余额", "payload": "/check_balance"},
        {"title": "转账", "payload": "/transfer_money"},
    ],
}


def test_split_utf8_respects_bytes_and_characters() -> None:
    text = "余额" * 2000  # 12000 bytes, no separators
    pieces = split_utf8(text)
    assert all(utf8_len(p) <= TEXT_LIMIT_BYTES for p in pieces)
    assert "".join(pieces) == text
    assert len(pieces) == 6


def test_split_utf8_prefers_paragraphs() -> None:
    para = "一" * 600  # 1800 bytes
    pieces = split_utf8(f"{para}\n\n{para}\n\n{para}")
    assert pieces == [para, para, para]
    assert split_utf8("   ") == []
    assert split_utf8("短") == ["短"]


def test_split_utf8_with_emoji() -> None:
    text = "😀" * 1000  # 4 bytes each
    pieces = split_utf8(text, 2048)
    assert [utf8_len(p) for p in pieces] == [2048, 1952]


def test_truncate_utf8() -> None:
    assert truncate_utf8("abc", 10) == "abc"
    cut = truncate_utf8("余" * 100, 30)
    assert utf8_len(cut) <= 30 and cut.endswith("…")


def test_escape_cdata_keeps_the_xml_well_formed() -> None:
    content = "a]]>b<c>&d\x00\x07"
    xml = f"<xml><Content><![CDATA[{escape_cdata(content)}]]></Content></xml>"
    assert xmltodict.parse(xml)["xml"]["Content"] == "a]]>b<c>&d"


def test_passive_reply_merges_and_numbers_options() -> None:
    rendered = render_passive([{"text": "第一条"}, GREETING, {"image": "https://x/y.png"}], HINT)
    assert rendered.text == (
        "第一条\n\n您好，请问有什么可以帮您？\n请回复序号选择：\n1. 查余额\n2. 转账\n\n图片：https://x/y.png"
    )
    assert rendered.options == [
        Option("查余额", "/check_balance"),
        Option("转账", "/transfer_money"),
    ]


def test_options_are_numbered_across_messages() -> None:
    second = {"text": "或者", "buttons": [{"title": "转人工", "payload": "/human_handoff"}]}
    rendered = render_passive([GREETING, second], HINT)
    assert "3. 转人工" in rendered.text
    assert [o.payload for o in rendered.options][-1] == "/human_handoff"


def test_kf_uses_msgmenu_with_the_text_before_it_as_head() -> None:
    rendered = render_kf("o1", [{"text": "前情"}, GREETING, {"text": "之后"}], hint=HINT)
    assert [p["msgtype"] for p in rendered.payloads] == ["msgmenu", "text"]
    menu = rendered.payloads[0]["msgmenu"]
    assert menu["head_content"] == "前情\n\n您好，请问有什么可以帮您？"
    assert menu["list"] == [{"id": "1", "content": "查余额"}, {"id": "2", "content": "转账"}]
    assert rendered.payloads[1]["text"]["content"] == "之后"
    assert all(p["touser"] == "o1" for p in rendered.payloads)


def test_kf_merges_texts_into_one_send() -> None:
    rendered = render_kf("o1", [{"text": f"第{i}条"} for i in range(8)], hint=HINT)
    assert len(rendered.payloads) == 1
    assert rendered.payloads[0]["text"]["content"].count("条") == 8


def test_kf_without_msgmenu_numbers_options() -> None:
    rendered = render_kf("o1", [GREETING], hint=HINT, use_msgmenu=False)
    assert rendered.payloads == [
        {
            "touser": "o1",
            "msgtype": "text",
            "text": {"content": "您好，请问有什么可以帮您？\n请回复序号选择：\n1. 查余额\n2. 转账"},
        }
    ]


def test_kf_respects_the_quota() -> None:
    many = [GREETING, {"text": "x"}, GREETING, {"text": "y"}, GREETING, {"text": "z"}]
    rendered = render_kf("o1", many, hint=HINT, quota=2)
    assert len(rendered.payloads) <= 2
    assert all(p["msgtype"] == "text" for p in rendered.payloads)
    huge = [{"text": "长" * 3000} for _ in range(5)]  # 45000 bytes
    rendered = render_kf("o1", huge, hint=HINT, quota=5)
    assert len(rendered.payloads) == 5
    assert all(utf8_len(p["text"]["content"]) <= TEXT_LIMIT_BYTES for p in rendered.payloads)
    assert rendered.payloads[-1]["text"]["content"].endswith("…")


def test_msgmenu_as_text_fallback() -> None:
    rendered = render_kf("o1", [GREETING], hint=HINT)
    text = as_text_payload(rendered.payloads[0], HINT)
    assert text["msgtype"] == "text"
    assert text["text"]["content"].endswith("1. 查余额\n2. 转账")


async def test_option_memory_maps_numbers_titles_and_menu_ids() -> None:
    memory = OptionMemory(UserMemory(MemoryStore()), ttl=60)
    options = render_passive([GREETING], HINT).options
    for answer, expected in [
        ("1", "/check_balance"),
        ("２", "/transfer_money"),
        ("2.", "/transfer_money"),
        ("第1个", "/check_balance"),
        ("转账", "/transfer_money"),
        ("3", None),
        ("123456", None),
        ("我要查余额", None),
    ]:
        await memory.remember("o1", options)
        assert await memory.resolve("o1", answer) == expected, answer
    await memory.remember("o1", options)
    assert await memory.resolve("o1", "查余额", menu_id="2") == "/transfer_money"
    # used up after one answer, and per user
    await memory.remember("o1", options)
    assert await memory.resolve("o2", "1") is None
    assert await memory.resolve("o1", "你好") is None
    assert await memory.resolve("o1", "1") is None


# -- line breaks and lists -----------------------------------------------------

STATEMENT = "最近 10 笔交易：\n" + "\n".join(
    f"11-{day:02d} 美团外卖 -¥{day * 3}.50" for day in range(18, 8, -1)
)
CONFIRM = "请确认转账：\n收款人：李娜（尾号8888）\n金额：¥500.00\n手续费：¥0.00\n确认转账吗？"
HELP = {
    "text": "我可以帮您办理：\n1. 账户：查余额、转账\n2. 银行卡：挂失、冻结\n直接告诉我您想办什么就可以。",
    "buttons": [
        {"title": "查余额", "payload": "/check_balance"},
        {"title": "转人工", "payload": "/human_handoff"},
    ],
}


def test_passive_reply_keeps_every_line() -> None:
    rendered = render_passive([{"text": STATEMENT}, {"text": CONFIRM}], HINT)
    assert rendered.text == f"{STATEMENT}\n\n{CONFIRM}"
    assert rendered.text.count("\n") == 10 + 2 + 4


def test_windows_line_breaks_and_trailing_spaces_are_normalised() -> None:
    rendered = render_passive([{"text": "第一行  \r\n第二行\r第三行"}], HINT)
    assert rendered.text == "第一行\n第二行\n第三行"


def test_kf_text_keeps_every_line() -> None:
    rendered = render_kf("o1", [{"text": STATEMENT}], hint=HINT)
    assert rendered.payloads[0]["text"]["content"] == STATEMENT


def test_numbered_lines_without_options_stay_numbered() -> None:
    text = "开户材料：\n1. 身份证\n2. 银行卡"
    assert render_passive([{"text": text}], HINT).text == text


def test_menu_text_is_bulleted_when_the_options_are_numbered() -> None:
    """ "1" means the first option, not the first line of the menu text."""
    rendered = render_passive([HELP], HINT)
    assert rendered.text == (
        "我可以帮您办理：\n• 账户：查余额、转账\n• 银行卡：挂失、冻结\n直接告诉我您想办什么就可以。\n"
        "请回复序号选择：\n1. 查余额\n2. 转人工"
    )
    kf = render_kf("o1", [HELP], hint=HINT, use_msgmenu=False)
    assert kf.payloads[0]["text"]["content"] == rendered.text


def test_msgmenu_head_keeps_the_numbered_menu_and_its_text_fallback_bullets_it() -> None:
    rendered = render_kf("o1", [HELP], hint=HINT)
    menu = rendered.payloads[0]["msgmenu"]
    assert menu["head_content"] == HELP["text"]  # msgmenu items carry no numbers
    fallback = as_text_payload(rendered.payloads[0], HINT)["text"]["content"]
    assert fallback.splitlines() == [
        "我可以帮您办理：",
        "• 账户：查余额、转账",
        "• 银行卡：挂失、冻结",
        "直接告诉我您想办什么就可以。",
        "请回复序号选择：",
        "1. 查余额",
        "2. 转人工",
    ]


def test_list_items_sent_one_message_each_stay_one_list() -> None:
    products = [{"text": "以下产品适合您："}] + [
        {"text": f"▪ 产品{i}（R2）：期限 {i * 30} 天"} for i in range(1, 4)
    ]
    rendered = render_passive([*products, {"text": "理财非存款，产品有风险，投资须谨慎。"}], HINT)
    assert rendered.text == (
        "以下产品适合您：\n\n▪ 产品1（R2）：期限 30 天\n▪ 产品2（R2）：期限 60 天\n"
        "▪ 产品3（R2）：期限 90 天\n\n理财非存款，产品有风险，投资须谨慎。"
    )
    kf = render_kf("o1", products, hint=HINT)
    assert kf.payloads[0]["text"]["content"].count("天\n▪ ") == 2


def test_split_utf8_cuts_only_between_lines() -> None:
    lines = [f"{i:02d}. 11-18 美团外卖 -¥35.50 余额 ¥52,380.15" for i in range(1, 101)]
    text = "\n".join(lines)
    assert utf8_len(text) > 2 * TEXT_LIMIT_BYTES
    pieces = split_utf8(text)
    assert all(utf8_len(p) <= TEXT_LIMIT_BYTES for p in pieces)
    assert [line for p in pieces for line in p.split("\n")] == lines
    assert len(pieces) == -(-utf8_len(text) // TEXT_LIMIT_BYTES)  # no piece wasted


def test_split_utf8_prefers_an_early_line_break_to_cutting_a_line() -> None:
    first = "您的交易明细如下："
    long_line = "，".join(f"第{i}笔消费{i}元" for i in range(200)) + "。"
    pieces = split_utf8(f"{first}\n{long_line}\n结束")
    assert pieces[0] == first
    assert all(utf8_len(p) <= TEXT_LIMIT_BYTES for p in pieces)
    assert "".join(pieces[1:-1]) + pieces[-1].removesuffix("\n结束") == long_line
