"""Pure text normalisation of customer messages: traditional -> simplified Chinese,
full-width ASCII -> half-width, zero-width characters removed, whitespace squeezed,
pinyin homophones of banking words corrected, a greeting in front of a request dropped.

No Rasa import here, so the action server and tools can use it cheaply; the Rasa
component in :mod:`bot.nlu.normalizer` applies the same functions to messages.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

ZERO_WIDTH = frozenset("\u200b\u200c\u200d\u200e\u200f\u2060\ufeff\u00ad")
_FULLWIDTH_FIRST, _FULLWIDTH_LAST, _FULLWIDTH_OFFSET = 0xFF01, 0xFF5E, 0xFEE0
_EXTRA_FOLDS = {"\u3000": " ", "\uffe5": "\u00a5"}  # ideographic space, ￥ -> ¥

Span = tuple[int, int]


@lru_cache(maxsize=1)
def _t2s():
    """The OpenCC traditional -> simplified converter, built once on first use."""
    from opencc import OpenCC

    return OpenCC("t2s")


def to_simplified(text: str) -> str:
    """Converts traditional Chinese characters to simplified ones."""
    return _t2s().convert(text) if text else text


def _fold_char(ch: str) -> str:
    """Maps one full-width ASCII character (and ￥, U+3000) to its half-width form."""
    code = ord(ch)
    if _FULLWIDTH_FIRST <= code <= _FULLWIDTH_LAST:
        return chr(code - _FULLWIDTH_OFFSET)
    return _EXTRA_FOLDS.get(ch, ch)


def _fold_with_map(text: str) -> tuple[str, list[int]]:
    """Character-level pass: fold widths, drop zero-width chars, squeeze spaces.

    Returns the new text and ``pos`` with ``pos[i]`` = index in the new text
    where original index ``i`` lands (``len(pos) == len(text) + 1``).
    """
    out: list[str] = []
    pos: list[int] = []
    for ch in text:
        pos.append(len(out))
        if ch in ZERO_WIDTH:
            continue
        ch = _fold_char(ch)
        if ch.isspace():
            if out and out[-1] != " ":
                out.append(" ")
            continue
        out.append(ch)
    pos.append(len(out))
    if out and out[-1] == " ":
        out.pop()
        pos = [min(p, len(out)) for p in pos]
    return "".join(out), pos


# Homophones that pinyin input puts in place of a banking word; same length, so that
# entity offsets stay where they are.
TYPOS = {
    "解动": "解冻", "冻洁": "冻结", "动结": "冻结", "挂矢": "挂失", "挂湿": "挂失",
    "余颌": "余额", "于额": "余额", "明系": "明细", "转帐": "转账", "汇律": "汇率",
    "利律": "利率", "理材": "理财", "验正码": "验证码", "信用咔": "信用卡", "银行咔": "银行卡",
    "储畜卡": "储蓄卡", "到帐": "到账", "帐户": "账户", "帐号": "账号",
}
_TYPO_RE = re.compile("|".join(map(re.escape, sorted(TYPOS, key=len, reverse=True))))

# A greeting in front of a request ("您好，请问怎么转账") says nothing about the request
# and pulls the classifier towards greet; a greeting alone stays.
_GREETING_PREFIX = re.compile(
    r"^(?:(?:你好|您好|妳好|hi|hello|hey|喂|在吗|在不在|哈喽|哈啰|早上好|上午好|中午好|下午好|晚上好|早安)"
    r"[啊呀呢哈吗嘛]?(?:[\s,，!！。.~～、]+|(?=[\u4e00-\u9fff])))+",
    re.IGNORECASE,
)
MIN_REQUEST_AFTER_GREETING = 3


def fix_typos(text: str) -> str:
    return _TYPO_RE.sub(lambda m: TYPOS[m.group(0)], text)


# What follows a greeting without being a request ("你好小助手", "您好 打扰一下").
_COURTESY = re.compile(
    r"^(?:(?:小助手|助手|智能助手|客服|机器人|亲|打扰了|打扰一下|打扰|在吗|在不在|有人在吗|有人吗|请问|"
    r"你好|您好|hello|hi)[\s,，!！。.~～、?？啊呀呢哈吗嘛]*)+$",
    re.IGNORECASE,
)


def greeting_prefix(text: str) -> int:
    """Length of a greeting opening a longer message ("你好 我要挂失" -> 3), else 0."""
    match = _GREETING_PREFIX.match(text)
    if not match or len(text) - match.end() < MIN_REQUEST_AFTER_GREETING:
        return 0
    if _COURTESY.match(text[match.end():]):
        return 0
    return match.end()


def normalize_text(text: str) -> str:
    """Normalises one message text (no entity spans to keep)."""
    folded, _ = _fold_with_map(text or "")
    simplified = fix_typos(to_simplified(folded))
    return simplified[greeting_prefix(simplified):]


def normalize_with_spans(text: str, spans: Sequence[Span]) -> tuple[str, list[Span]]:
    """Normalises ``text`` and maps the character ``spans`` onto the result.

    Traditional -> simplified conversion is done piecewise between span
    boundaries, so a conversion that changes a length never shifts a span.
    """
    folded, pos = _fold_with_map(text or "")
    mapped: list[Span] = []
    for start, end in spans:
        new_start, new_end = pos[start], pos[end]
        while new_start < new_end and folded[new_start] == " ":
            new_start += 1
        while new_end > new_start and folded[new_end - 1] == " ":
            new_end -= 1
        mapped.append((new_start, new_end))

    cuts = sorted({0, len(folded), *(p for span in mapped for p in span)})
    pieces: list[str] = []
    new_offset: dict[int, int] = {}
    length = 0
    for left, right in zip(cuts, cuts[1:], strict=False):
        new_offset[left] = length
        piece = to_simplified(folded[left:right])
        pieces.append(piece)
        length += len(piece)
    new_offset[cuts[-1]] = length
    result = fix_typos("".join(pieces))
    spans_out = [(new_offset[s], new_offset[e]) for s, e in mapped]
    cut = greeting_prefix(result)
    if cut and all(start >= cut for start, _ in spans_out):
        result = result[cut:]
        spans_out = [(start - cut, end - cut) for start, end in spans_out]
    return result, spans_out
