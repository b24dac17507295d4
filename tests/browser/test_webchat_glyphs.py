"""Every character of every customer text in domain/ is one the web chat can show.

Headless Chromium with fonts-noto-cjk showed 🤖 as an empty box: the chat page has
no emoji font and loads no web font (bot/console/static/css/webchat.css, ``--font``).
Customer texts may therefore use only the characters below, which every font of
that stack has (PingFang SC on Apple systems, Microsoft YaHei on Windows, Noto Sans
CJK SC / Source Han Sans SC on Linux and Android all cover GBK's Chinese characters
and punctuation plus Latin-1):

* printable ASCII, and line breaks;
* CJK Unified Ideographs U+4E00-U+9FA5 (the ones in GBK; later additions at the
  end of the block are missing from older fonts);
* full-width forms U+FF01-U+FF5E (，：（）！？ and full-width letters and digits)
  and ￠￡￢￣￤￥;
* the symbols in ``SYMBOLS``: Chinese punctuation and the common signs of GB 2312
  (¥ · × ° — “” … ※ → ① ...), plus • and ▪ for lists.

Not allowed: emoji and pictographs (🤖 📍 😊 ✅), dingbats (✔ ❤), private-use
characters. The browser test renders each allowed symbol, and every character the
domain uses, in Chromium with the page's font stack, and fails on an empty box,
so the list is checked against real fonts, not only against itself.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DOMAIN = ROOT / "domain"
WEBCHAT_CSS = ROOT / "bot" / "console" / "static" / "css" / "webchat.css"

SYMBOLS = (
    "　、。〃々〈〉《》「」『』【】〔〕〖〗〝〞"  # CJK punctuation (GB 2312 row 1)
    "¥·×÷°±§‰′″※–—‘’“”…"  # Latin-1 and general punctuation
    "•▪■□▲△▼▽◆◇○●◎★☆"  # list markers and shapes
    "→←↑↓≈≠≤≥√∞∑℃№"  # arrows, maths, units
    "①②③④⑤⑥⑦⑧⑨⑩ⅠⅡⅢⅣⅤⅥⅦⅧⅨⅩ"  # numbered items
)


def allowed(char: str) -> bool:
    """True for a character the chat page shows with the fonts it relies on."""
    code = ord(char)
    return (
        char == "\n"
        or 0x20 <= code <= 0x7E
        or 0x4E00 <= code <= 0x9FA5
        or 0xFF01 <= code <= 0xFF5E
        or 0xFFE0 <= code <= 0xFFE5
        or char in SYMBOLS
    )


def domain_texts(domain: Path = DOMAIN) -> Iterator[tuple[str, str]]:
    """``(where, text)`` for every text a customer can see in domain/*.yml:
    response texts (every variant) and button titles."""
    for path in sorted(domain.rglob("*.yml")):
        data = yaml.safe_load(path.read_text("utf-8")) or {}
        responses = data.get("responses") if isinstance(data, dict) else None
        for name, variants in (responses or {}).items():
            for index, variant in enumerate(variants or []):
                if not isinstance(variant, dict):
                    continue
                where = f"{path.relative_to(domain.parent)}: {name}[{index}]"
                if isinstance(variant.get("text"), str):
                    yield where, variant["text"]
                for button in variant.get("buttons") or []:
                    if isinstance(button, dict) and isinstance(button.get("title"), str):
                        yield f"{where} button", button["title"]
                custom = variant.get("custom")
                if isinstance(custom, dict) and isinstance(custom.get("text"), str):
                    yield f"{where} custom", custom["text"]


def describe(char: str) -> str:
    return f"{char!r} U+{ord(char):04X} {unicodedata.name(char, '?')}"


def test_the_domain_has_texts_to_check() -> None:
    assert sum(1 for _ in domain_texts()) > 100


def unshowable(domain: Path = DOMAIN) -> list[str]:
    """Where the domain uses a character the chat cannot show, and which."""
    return [
        f"{where}: {describe(char)}"
        for where, text in domain_texts(domain)
        for char in dict.fromkeys(text)
        if not allowed(char)
    ]


def test_domain_texts_use_only_characters_the_chat_can_show() -> None:
    problems = unshowable()
    assert problems == [], "characters the web chat cannot show:\n" + "\n".join(problems)


def test_the_scan_finds_a_robot_in_a_text_or_a_button(tmp_path: Path) -> None:
    domain = tmp_path / "domain"
    domain.mkdir()
    (domain / "x.yml").write_text(
        'responses:\n  utter_x:\n    - text: "您好 🤖"\n      buttons:\n'
        '        - title: "查余额 ✅"\n          payload: /check_balance\n',
        "utf-8",
    )
    assert unshowable(domain) == [
        "domain/x.yml: utter_x[0]: '🤖' U+1F916 ROBOT FACE",
        "domain/x.yml: utter_x[0] button: '✅' U+2705 WHITE HEAVY CHECK MARK",
    ]


def test_the_allow_list_refuses_what_showed_as_boxes() -> None:
    for char in "🤖📍😊✅🎫✔❤\ue000":
        assert not allowed(char), describe(char)
    for char in "余额，。：（）¥￥•▪…“”—A1":
        assert allowed(char), describe(char)


# A line that holds two or more list items: "办理： 1. 账户 2. 银行卡" (what a folded
# YAML scalar makes of a menu written on several lines).
_RUN_TOGETHER = re.compile(r"(?:^|\s)(?:\d{1,2}\.|[•▪])\s\S.*\s(?:\d{1,2}\.|[•▪])\s\S")


def test_domain_lists_have_one_item_per_line() -> None:
    problems = [
        f"{where}: {line[:60]}…"
        for where, text in domain_texts()
        for line in text.split("\n")
        if _RUN_TOGETHER.search(line)
    ]
    assert problems == [], "list items run together on one line:\n" + "\n".join(problems)


# -- rendered in Chromium ------------------------------------------------------


def page_font_stack() -> str:
    match = re.search(r"--font:\s*([^;]+);", WEBCHAT_CSS.read_text("utf-8"))
    assert match, "webchat.css declares no --font"
    return " ".join(match.group(1).split())


# Draws each character on a canvas with the page's font stack and compares its
# pixels with those of characters no font has (private use, plane 16): equal
# pixels mean Chromium drew the empty box.
MISSING_GLYPHS = """([font, chars]) => {
    const canvas = document.createElement("canvas");
    canvas.width = 64; canvas.height = 64;
    const ctx = canvas.getContext("2d", { willReadFrequently: true });
    ctx.font = "40px " + font;
    ctx.textBaseline = "top";
    const pixels = (ch) => {
        ctx.clearRect(0, 0, 64, 64);
        ctx.fillText(ch, 4, 4);
        return Array.from(ctx.getImageData(0, 0, 64, 64).data).join(",");
    };
    const boxes = new Set(["\\ue000", "\\u{10fffd}", "\\u{f0000}"].map(pixels));
    const blank = pixels(" ");
    return chars.filter((ch) => boxes.has(pixels(ch)) || pixels(ch) === blank);
}"""


@pytest.fixture(scope="module")
def font_page(chromium: Any) -> Iterator[Any]:
    context = chromium.new_context(locale="zh-CN")
    page = context.new_page()
    page.set_content("<!doctype html><html lang='zh-CN'><body>字</body></html>")
    yield page
    context.close()


def missing_glyphs(page: Any, chars: list[str]) -> list[str]:
    return page.evaluate(MISSING_GLYPHS, [page_font_stack(), chars])


def test_the_font_stack_is_explicit() -> None:
    stack = page_font_stack()
    for family in ('"PingFang SC"', '"Microsoft YaHei"', '"Noto Sans CJK SC"'):
        assert family in stack
    assert stack.endswith("sans-serif")
    assert "emoji" not in stack.lower()


@pytest.mark.browser
def test_the_check_sees_empty_boxes(font_page: Any) -> None:
    """The renderer check can fail: pictographs without an emoji font are boxes."""
    assert missing_glyphs(font_page, ["🤖", "📍", "\ue001", "字"]) == ["🤖", "📍", "\ue001"]


@pytest.mark.browser
def test_every_allowed_symbol_renders(font_page: Any) -> None:
    chars = [*SYMBOLS.replace("　", ""), *map(chr, range(0xFF01, 0xFF5F)), "￥"]
    chars += [chr(c) for c in range(0x21, 0x7F)]
    missing = missing_glyphs(font_page, chars)
    assert missing == [], [describe(c) for c in missing]


@pytest.mark.browser
def test_every_character_of_the_domain_renders(font_page: Any) -> None:
    chars = sorted({c for _, text in domain_texts() for c in text if not c.isspace()})
    missing = missing_glyphs(font_page, chars)
    assert missing == [], [describe(c) for c in missing]
