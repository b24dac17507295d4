"""Find and mask personal data in chat text: card/account, mobile, ID numbers, one-time codes.

Masked forms (one per kind, readable in Chinese transcripts):

- card / account number (13-19 digits, optionally in groups): ``尾号1234``, the form the
  bot's own replies use;
- mainland mobile number: ``138****8000`` (a ``+86`` prefix is kept as written);
- resident ID number (18 characters, last may be X): ``**************123X``;
- one-time code (4-6 digits next to 验证码/动态码/code..., or a bare 6-digit message):
  one ``*`` per digit;
- e-mail address: ``z***@example.com``.

Amounts (``5000``, ``¥52,380.15``, ``1.5万``), dates and times (``2026-11-18``,
``20261118``, ``11月18日``, ``10:30``), card tails (``尾号1234``) and queue numbers
(``A023``) are left alone.
"""

from __future__ import annotations

import re
from collections.abc import Callable

CARD = "card"
PHONE = "phone"
ID_NUMBER = "id"
OTP = "otp"
EMAIL = "email"

KINDS = (CARD, PHONE, ID_NUMBER, OTP, EMAIL)
# When two candidates cover exactly the same text, the more specific kind wins.
_PRIORITY = {EMAIL: 0, ID_NUMBER: 1, PHONE: 2, CARD: 3, OTP: 4}

# A number glued to letters is an identifier (A023, QT3F9A..., T20261118...), not PII.
_NOT_AFTER = r"(?<![0-9A-Za-z])"
_NOT_BEFORE = r"(?![0-9A-Za-z])"

_EMAIL_RE = re.compile(
    r"(?<![\w.%+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"
)
_ID_RE = re.compile(
    _NOT_AFTER + r"([1-8]\d{5})[ -]?((?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01]))"
    r"[ -]?(\d{3}[0-9Xx])" + _NOT_BEFORE
)
_PHONE_RE = re.compile(
    r"(?<![0-9A-Za-z+])(?P<prefix>(?:\+|00)?86[ -]?)?"
    r"(?P<a>1[3-9]\d)(?P<sep>[ -]?)(?P<b>\d{4})(?P=sep)(?P<c>\d{4})(?!\d)"
)
_CARD_RE = re.compile(_NOT_AFTER + r"\d{13,19}" + _NOT_BEFORE)
# Groups of digits with one consistent separator: 6222 0202 0011 2341 234, 3782-822463-10005.
_GROUPED_CARD_RE = re.compile(
    _NOT_AFTER + r"\d{4,6}(?P<sep>[ -])\d{3,6}(?:(?P=sep)\d{1,6}){1,4}" + _NOT_BEFORE
)
# Not after "*": the visible tail of an already masked number (138****8000).
_SHORT_NUMBER_RE = re.compile(r"(?<![0-9A-Za-z*])\d{4,6}" + _NOT_BEFORE)
_BARE_OTP_RE = re.compile(r"\s*(\d{3}\s?\d{3})\s*[。.!！]?\s*")

# Context of a one-time code: the keyword, then a short bridge ("是", "：", "为") to the digits.
_OTP_KEYWORDS = r"(?:验证码|校验码|动态码|动态密码|短信码|短信|口令|密码|passcode|code|otp|pin)"
_OTP_BEFORE_RE = re.compile(
    _OTP_KEYWORDS + r"(?:\s|[:：=,，]|是|为|就是|号码|码|is|was|收到的?)*$", re.IGNORECASE
)
# After the digits a copula is needed ("123456是验证码"): "转5000 验证码..." is an amount.
_OTP_AFTER_RE = re.compile(
    r"^\s*(?:就是|是|为)(?:\s|我的|这个|那个|的)*" + _OTP_KEYWORDS, re.IGNORECASE
)
_OTP_LOOKBEHIND = 16
_OTP_LOOKAHEAD = 8

# What makes a digit run an amount, a date/time or a card tail rather than PII.
_AMOUNT_PREFIX_RE = re.compile(r"(?:[¥￥$€£]|RMB|CNY|USD|人民币)\s*$", re.IGNORECASE)
_UNIT_SUFFIX_RE = re.compile(
    r"^\s*(?:元|块|圆|角|分钟|万|千|百|亿|%|％|美元|欧元|港币|港元|日元|英镑|人民币|"
    r"年|月|日|号|时|点|秒|天|周|个|笔|次|位|RMB|CNY|USD)",
    re.IGNORECASE,
)
_TAIL_PREFIX_RE = re.compile(r"(?:尾号|尾数|末四位|后四位|末尾|卡尾)\s*$")


def _continues_number(text: str, start: int, end: int) -> bool:
    """True when the run is part of 52,380.15 / 10:30 / 2026-11-18-like notation."""
    before = text[max(0, start - 2) : start]
    after = text[end : end + 2]
    return bool(re.fullmatch(r"\d[.,:：/-]", before) or re.fullmatch(r"[.,:：/-]\d", after))


def _amount_or_date(text: str, start: int, end: int) -> bool:
    """True when the digits at ``text[start:end]`` read as an amount, date or time."""
    return bool(
        _continues_number(text, start, end)
        or _AMOUNT_PREFIX_RE.search(text[max(0, start - 8) : start])
        or _UNIT_SUFFIX_RE.match(text[end : end + 6])
    )


def _digits(value: str) -> str:
    return re.sub(r"\D", "", value)


def _card_candidates(text: str) -> list[tuple[int, int, str]]:
    found = []
    for match in _CARD_RE.finditer(text):
        if not _amount_or_date(text, match.start(), match.end()):
            found.append((match.start(), match.end(), CARD))
    for match in _GROUPED_CARD_RE.finditer(text):
        start, end = match.start(), match.end()
        groups = match.group(0).split(match.group("sep"))
        # Too long: the trailing groups are another number (an amount after the card).
        while len(groups) > 3 and sum(map(len, groups)) > 19:
            dropped = groups.pop()
            end -= len(dropped) + 1
        if 13 <= sum(map(len, groups)) <= 19 and not _amount_or_date(text, start, end):
            found.append((start, end, CARD))
    return found


def _id_candidates(text: str) -> list[tuple[int, int, str]]:
    return [(m.start(), m.end(), ID_NUMBER) for m in _ID_RE.finditer(text)]


def _phone_candidates(text: str) -> list[tuple[int, int, str]]:
    found = []
    for match in _PHONE_RE.finditer(text):
        if _continues_number(text, match.start(), match.end()):
            continue
        if _UNIT_SUFFIX_RE.match(text[match.end() : match.end() + 6]):
            continue
        found.append((match.start(), match.end(), PHONE))
    return found


def _is_otp_in_context(text: str, start: int, end: int) -> bool:
    before = text[max(0, start - _OTP_LOOKBEHIND) : start]
    after = text[end : end + _OTP_LOOKAHEAD]
    return bool(_OTP_BEFORE_RE.search(before) or _OTP_AFTER_RE.match(after))


def _otp_candidates(text: str) -> list[tuple[int, int, str]]:
    bare = _BARE_OTP_RE.fullmatch(text)
    if bare:
        return [(bare.start(1), bare.end(1), OTP)]
    found = []
    for match in _SHORT_NUMBER_RE.finditer(text):
        start, end = match.start(), match.end()
        if _amount_or_date(text, start, end):
            continue
        if _TAIL_PREFIX_RE.search(text[max(0, start - 6) : start]):
            continue
        if _is_otp_in_context(text, start, end):
            found.append((start, end, OTP))
    return found


def _email_candidates(text: str) -> list[tuple[int, int, str]]:
    return [(m.start(), m.end(), EMAIL) for m in _EMAIL_RE.finditer(text)]


_FINDERS: tuple[Callable[[str], list[tuple[int, int, str]]], ...] = (
    _email_candidates,
    _id_candidates,
    _phone_candidates,
    _card_candidates,
    _otp_candidates,
)


def find_pii(text: str) -> list[tuple[int, int, str]]:
    """Non-overlapping ``(start, end, kind)`` spans of personal data in ``text``, in order."""
    if not text:
        return []
    candidates = [span for finder in _FINDERS for span in finder(text)]
    # Leftmost first; at the same start the longest; then the more specific kind.
    candidates.sort(key=lambda s: (s[0], -(s[1] - s[0]), _PRIORITY[s[2]]))
    chosen: list[tuple[int, int, str]] = []
    for span in candidates:
        if chosen and span[0] < chosen[-1][1]:
            continue
        chosen.append(span)
    return chosen


def mask_value(kind: str, raw: str) -> str:
    """The masked form of one piece of personal data of ``kind``."""
    if kind == CARD:
        return f"尾号{_digits(raw)[-4:]}"
    if kind == PHONE:
        match = _PHONE_RE.fullmatch(raw)
        digits = _digits(raw)[-11:]
        prefix = (match.group("prefix") or "") if match else ""
        return f"{prefix}{digits[:3]}****{digits[-4:]}"
    if kind == ID_NUMBER:
        compact = re.sub(r"[ -]", "", raw)
        return "*" * (len(compact) - 4) + compact[-4:]
    if kind == OTP:
        return "*" * len(_digits(raw))
    if kind == EMAIL:
        local, _, domain = raw.partition("@")
        return f"{local[:1]}***@{domain}"
    raise ValueError(f"unknown PII kind {kind!r}")


def mask_pii(text: str) -> str:
    """``text`` with every card/account, mobile and ID number, one-time code and e-mail masked."""
    if not text:
        return text
    parts = []
    position = 0
    for start, end, kind in find_pii(text):
        parts.append(text[position:start])
        parts.append(mask_value(kind, text[start:end]))
        position = end
    parts.append(text[position:])
    return "".join(parts)
