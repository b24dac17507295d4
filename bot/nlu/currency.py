"""The names customers give currencies, in one table: the NLU's guard, the entity
extractor's context words and the exchange action all read it."""

from __future__ import annotations

import re
from typing import Any

# Name as written (after the normalizer: simplified, half-width) -> ISO code.
CODES: dict[str, str] = {
    "人民币": "CNY", "软妹币": "CNY", "rmb": "CNY", "cny": "CNY",
    "美元": "USD", "美金": "USD", "美刀": "USD", "刀": "USD", "usd": "USD",
    "dollar": "USD", "dollars": "USD", "us dollar": "USD",
    "欧元": "EUR", "欧": "EUR", "eur": "EUR", "euro": "EUR", "euros": "EUR",
    "港币": "HKD", "港元": "HKD", "港纸": "HKD", "hkd": "HKD", "hk dollar": "HKD",
    "日元": "JPY", "日币": "JPY", "日圆": "JPY", "jpy": "JPY", "yen": "JPY",
    "英镑": "GBP", "英磅": "GBP", "gbp": "GBP", "pound": "GBP", "pounds": "GBP",
}
# Names of foreign currencies long enough to find in free text (not 刀 or 欧 alone).
_FOREIGN = sorted(
    (name for name, code in CODES.items() if code != "CNY" and len(name) > 1),
    key=len, reverse=True,
)
CNY_PATTERN = "(?i:" + "|".join(
    re.escape(name) for name, code in CODES.items() if code == "CNY"
) + ")"
_ALL = sorted((name for name in CODES if len(name) > 1), key=len, reverse=True)
FOREIGN_PATTERN = "(?i:" + "|".join(re.escape(name) for name in _FOREIGN) + ")"
_ANY = re.compile(
    r"(?<![a-z])(?:" + "|".join(re.escape(name) for name in _ALL) + r")(?![a-z])", re.IGNORECASE
)


def code_of(value: Any) -> str:
    """ISO code of a currency name ("美刀" -> "USD"); an unknown name upper-cased."""
    text = str(value).strip()
    return CODES.get(text.lower(), text.upper())


# 刀 and 欧 alone are currencies only right after an amount ("500刀", "能换多少刀").
_SHORT = re.compile(r"(?:多少|几|[0-9一二两三四五六七八九十百千万])\s*(刀|欧)(?![元洲美])")


def currencies_in(text: str) -> list[str]:
    """ISO codes of the currencies named in ``text``, in order."""
    found = [(m.start(), CODES[m.group(0).lower()]) for m in _ANY.finditer(text)]
    found += [(m.start(1), CODES[m.group(1)]) for m in _SHORT.finditer(text)]
    return [code for _, code in sorted(found)]
