"""Masking of phone, card and account numbers for logs and replies."""

from __future__ import annotations

import re

_PHONE = re.compile(r"(?<!\d)(1\d{2})\d{4}(\d{4})(?!\d)")
_LONG_NUMBER = re.compile(r"(?<![\dA-Za-z])\d{11,25}[\dXx](?![\dA-Za-z])")


def mask_phone(phone: str) -> str:
    """``13800138000`` -> ``138****8000``."""
    digits = re.sub(r"\D", "", phone or "")
    if len(digits) < 7:
        return "*" * len(digits)
    return f"{digits[:3]}****{digits[-4:]}"


def tail(number: str) -> str:
    """``6222020200112341234`` -> ``尾号1234``."""
    digits = re.sub(r"\D", "", number or "")
    return f"尾号{digits[-4:]}" if digits else "尾号????"


def mask_name(name: str) -> str:
    """Hide a person's surname the way bank receipts do: ``李娜`` -> ``*娜``."""
    if not name:
        return name
    if len(name) == 1:
        return "*"
    return "*" + name[1:]


def mask_text(text: str) -> str:
    """Mask phone numbers and long card/account/ID numbers anywhere in free text."""
    text = _PHONE.sub(lambda m: f"{m.group(1)}****{m.group(2)}", text)

    return _LONG_NUMBER.sub(lambda m: f"尾号{m.group(0)[-4:]}", text)
