"""Bot texts as markdown that rasa-webchat shows as written (bot/channels/socketio.py).

The browser tests (tests/browser/test_webchat_widget.py) check the widget's own
renderer; here a CommonMark renderer (markdown-it-py, installed with Rasa) checks
the structure, and the output channel is checked for what it emits.
"""

from __future__ import annotations

import re
from typing import Any

import markdown_it  # pinned in requirements.lock: a missing one must fail, not skip
import pytest

from bot.channels.socketio import WebChatOutput, list_item, webchat_markdown

STATEMENT = "最近 10 笔交易：\n" + "\n".join(
    f"11-{day:02d} 美团外卖 -¥{day * 3}.50" for day in range(18, 8, -1)
)
CONFIRM = "请确认转账：\n收款人：李娜（尾号8888）\n金额：¥500.00\n手续费：¥0.00\n确认转账吗？"
MENU = (
    "我可以帮您办理：\n1. 账户：查余额、查交易明细、转账\n2. 银行卡：挂失、冻结\n"
    "3. 网点：找网点、看排队\n直接告诉我您想办什么就可以。"
)


def html(text: str) -> str:
    return markdown_it.MarkdownIt("commonmark").render(webchat_markdown(text))


def text_of(rendered: str) -> str:
    """Visible text of rendered HTML, one line per line box (br, p, li); no-break
    spaces read as spaces."""
    rendered = re.sub(r"<br\s*/?>\n?|</p>|</li>", "\n", rendered)
    rendered = re.sub(r"<[^>]+>", "", rendered)
    for entity, char in (("&lt;", "<"), ("&gt;", ">"), ("&quot;", '"'), ("&amp;", "&")):
        rendered = rendered.replace(entity, char)
    lines = (line.replace("\u00a0", " ").rstrip(" ") for line in rendered.split("\n"))
    return "\n".join(line for line in lines if line.strip(" "))


def test_every_line_of_a_statement_stays_a_line() -> None:
    rendered = html(STATEMENT)
    assert rendered.count("<br />") == 10
    assert text_of(rendered) == STATEMENT
    assert "<ul>" not in rendered and "<ol>" not in rendered


def test_transfer_confirmation_keeps_its_lines_and_amounts() -> None:
    assert text_of(html(CONFIRM)) == CONFIRM
    assert html(CONFIRM).count("<br />") == 4


def test_numbered_menu_is_an_ordered_list_between_its_lines() -> None:
    rendered = html(MENU)
    assert rendered.count("<ol>") == 1 and rendered.count("<li>") == 3
    assert rendered.index("我可以帮您办理") < rendered.index("<ol>")
    assert rendered.index("</ol>") < rendered.index("直接告诉我")
    assert text_of(rendered).splitlines() == [
        "我可以帮您办理：",
        "账户：查余额、查交易明细、转账",
        "银行卡：挂失、冻结",
        "网点：找网点、看排队",
        "直接告诉我您想办什么就可以。",
    ]


def test_bullets_of_every_kind_are_one_list() -> None:
    rendered = html("开户请带：\n• 身份证\n- 银行卡\n▪ 手机")
    assert rendered.count("<ul>") == 1 and rendered.count("<li>") == 3
    assert text_of(rendered).splitlines() == ["开户请带：", "身份证", "银行卡", "手机"]


def test_numbered_list_keeps_its_first_number() -> None:
    rendered = html("3. 第三项\n4. 第四项")
    assert '<ol start="3">' in rendered


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("1. 账户", ("ol", 1, "账户")),
        ("12. 第十二", ("ol", 12, "第十二")),
        ("• 身份证", ("ul", None, "身份证")),
        ("- 银行卡", ("ul", None, "银行卡")),
        ("▪ 稳盈180天", ("ul", None, "稳盈180天")),
        ("1.5万元", None),
        ("-¥35.00 美团", None),
        ("•没有空格", None),
        ("2026-11-18 美团", None),
    ],
)
def test_list_lines(line: str, expected: Any) -> None:
    assert list_item(line) == expected


@pytest.mark.parametrize(
    "hostile",
    [
        "<img src=x onerror=alert(1)>",
        "<script>alert(1)</script>",
        "[点我领奖](javascript:alert(1))",
        "![x](https://evil.example/x.png)",
        "<https://evil.example>",
        "https://evil.example/login",
        "**粗体** _斜体_ `代码` ~~删除~~",
        "# 标题",
        "> 引用",
        "    四个空格",
        "a | b\n--|--\nc | d",
        "&lt;b&gt; &amp; &#60;",
        "结尾反斜杠\\\n下一行",
        "标题\n===",
        "---",
    ],
)
def test_customer_or_bot_text_stays_text(hostile: str) -> None:
    rendered = html(f"回声：{hostile}")
    tags = set(re.findall(r"<\s*([a-z0-9]+)", rendered))
    assert tags <= {"p", "br"}, rendered
    assert text_of(rendered) == f"回声：{hostile}"


def test_spaces_are_kept() -> None:
    text = "两个  空格\n  缩进\n\t制表"
    assert text_of(html(text)) == "两个  空格\n  缩进\n    制表"


class RecordingServer:
    def __init__(self) -> None:
        self.emitted: list[Any] = []

    async def emit(self, event: str, data: Any = None, **kwargs: Any) -> None:
        self.emitted.append(data)


async def test_output_sends_paragraphs_as_messages_in_markdown() -> None:
    server = RecordingServer()
    output = WebChatOutput(server, "bot_uttered")  # type: ignore[arg-type]
    await output.send_text_message("abc", f"{CONFIRM}\n\n\n\n第二段")
    assert server.emitted == [{"text": webchat_markdown(CONFIRM)}, {"text": "第二段"}]


async def test_output_buttons_go_with_the_last_paragraph() -> None:
    server = RecordingServer()
    output = WebChatOutput(server, "bot_uttered")  # type: ignore[arg-type]
    buttons = [
        {"title": "查余额", "payload": "/check_balance"},
        {"title": "官网", "type": "web_url", "url": "https://bank.example.cn"},
    ]
    await output.send_text_with_buttons("abc", f"第一段\n\n{MENU}", buttons)
    assert server.emitted == [
        {"text": "第一段"},
        {
            "text": webchat_markdown(MENU),
            "quick_replies": [
                {"content_type": "text", "title": "查余额", "payload": "/check_balance"},
                {
                    "content_type": "text",
                    "type": "web_url",
                    "title": "官网",
                    "url": "https://bank.example.cn",
                },
            ],
        },
    ]
