"""Input validation shared by the route handlers: every failure is a 400 ``bad_request``."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from .errors import BadRequest

MAX_AMOUNT = Decimal("999999999999.99")
_AMOUNT_TEXT = re.compile(r"^\d{1,12}(\.\d{1,2})?$")
CHANNEL_RE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
CHANNEL_USER_RE = re.compile(r"^[A-Za-z0-9_.:@=+-]{1,128}$")


def parse_json_object(raw: bytes, allowed: Iterable[str]) -> dict[str, Any]:
    """Parse a JSON object body (floats as Decimal) and refuse unknown fields."""
    if not raw.strip():
        raise BadRequest("A JSON object body is required.", reason="empty_body")
    try:
        body = json.loads(raw.decode("utf-8"), parse_float=Decimal)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise BadRequest("The body is not valid JSON.", reason="malformed_json") from exc
    if not isinstance(body, dict):
        raise BadRequest("The body must be a JSON object.", reason="not_an_object")
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        raise BadRequest(
            f"Unknown field(s): {', '.join(unknown)}.", reason="unknown_fields", fields=unknown
        )
    return body


def require_str(
    data: Mapping[str, Any],
    key: str,
    *,
    pattern: re.Pattern[str] | None = None,
    max_len: int = 200,
    required: bool = True,
) -> str | None:
    """A string field, stripped; ``None`` only when optional and absent or null."""
    value = data.get(key)
    if value is None:
        if required:
            raise BadRequest(f"'{key}' is required.", field=key, reason="missing")
        return None
    if not isinstance(value, str):
        raise BadRequest(f"'{key}' must be a string.", field=key, reason="wrong_type")
    value = value.strip()
    if required and not value:
        raise BadRequest(f"'{key}' must not be empty.", field=key, reason="empty")
    if len(value) > max_len:
        raise BadRequest(f"'{key}' is too long (max {max_len}).", field=key, reason="too_long")
    if pattern is not None and value and not pattern.match(value):
        raise BadRequest(f"'{key}' has an invalid format.", field=key, reason="invalid_format")
    return value


def parse_amount(value: Any, key: str = "amount") -> Decimal:
    """A positive CNY amount with at most two decimals, as a string or JSON number."""
    if value is None:
        raise BadRequest(f"'{key}' is required.", field=key, reason="missing")
    if isinstance(value, bool):
        raise BadRequest(f"'{key}' must be a string or a number.", field=key, reason="wrong_type")
    if isinstance(value, int):
        amount = Decimal(value)
    elif isinstance(value, Decimal):
        amount = value
    elif isinstance(value, str):
        text = value.strip().replace(",", "")
        if not _AMOUNT_TEXT.match(text):
            raise BadRequest(
                f"'{key}' must be a positive amount with at most two decimals, e.g. \"5000.00\".",
                field=key,
                reason="invalid_amount",
            )
        try:
            amount = Decimal(text)
        except InvalidOperation as exc:  # pragma: no cover - the regex already guards
            raise BadRequest(f"'{key}' is not a number.", field=key) from exc
    else:
        raise BadRequest(f"'{key}' must be a string or a number.", field=key, reason="wrong_type")
    if not amount.is_finite():
        raise BadRequest(f"'{key}' must be finite.", field=key, reason="invalid_amount")
    if amount <= 0:
        raise BadRequest(f"'{key}' must be greater than zero.", field=key, reason="not_positive")
    if int(amount.as_tuple().exponent) < -2:
        raise BadRequest(
            f"'{key}' has more than two decimals.", field=key, reason="too_many_decimals"
        )
    if amount > MAX_AMOUNT:
        raise BadRequest(f"'{key}' is too large.", field=key, reason="too_large")
    return amount.quantize(Decimal("0.01"))


def parse_date(value: str | None, key: str) -> date | None:
    """A ``YYYY-MM-DD`` query parameter."""
    if value is None or value == "":
        return None
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        raise BadRequest(f"'{key}' must be a date YYYY-MM-DD.", field=key, reason="invalid_date")
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise BadRequest(f"'{key}' is not a real date.", field=key, reason="invalid_date") from exc


def parse_int(value: str | None, key: str, *, default: int, minimum: int, maximum: int) -> int:
    """An integer query parameter within ``[minimum, maximum]``."""
    if value is None or value == "":
        return default
    if not re.fullmatch(r"-?\d{1,9}", value):
        raise BadRequest(f"'{key}' must be an integer.", field=key, reason="wrong_type")
    number = int(value)
    if not minimum <= number <= maximum:
        raise BadRequest(
            f"'{key}' must be between {minimum} and {maximum}.", field=key, reason="out_of_range"
        )
    return number


def parse_float(value: str | None, key: str, *, minimum: float, maximum: float) -> float | None:
    """A float query parameter (coordinates) within a range."""
    if value is None or value == "":
        return None
    try:
        number = float(value)
    except ValueError as exc:
        raise BadRequest(f"'{key}' must be a number.", field=key, reason="wrong_type") from exc
    if not (minimum <= number <= maximum):
        raise BadRequest(
            f"'{key}' must be between {minimum} and {maximum}.", field=key, reason="out_of_range"
        )
    return number


def parse_bool(value: str | None, key: str, *, default: bool) -> bool:
    """A boolean query parameter: true/false (also 1/0)."""
    if value is None or value == "":
        return default
    text = value.strip().lower()
    if text in ("true", "1"):
        return True
    if text in ("false", "0"):
        return False
    raise BadRequest(f"'{key}' must be true or false.", field=key, reason="wrong_type")
