"""Request checks for WeChat callbacks: signatures, size cap, safe XML, freshness.

Nothing here trusts wechatpy's own checks: signatures are compared with
``hmac.compare_digest`` (wechatpy uses ``!=``), and XML is screened before
``xmltodict`` (wechatpy's parser) ever sees it.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections.abc import Callable
from typing import Any

import xmltodict

Clock = Callable[[], float]

# A DOCTYPE (internal subset, external DTD) or an ENTITY declaration is never
# part of a WeChat message; rejecting them before parsing stops entity-expansion
# bombs and external entities without spending CPU or memory on them.
_FORBIDDEN_XML = re.compile(rb"<!\s*(DOCTYPE|ENTITY)|<\?xml-stylesheet", re.IGNORECASE)
_MAX_DEPTH = 8


class RequestRejected(Exception):
    """A request that must be refused; ``status`` is the HTTP status to answer."""

    status = 400

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class BadSignature(RequestRejected):
    status = 403


class Forbidden(RequestRejected):
    """Wrong AppID, stale timestamp, replayed nonce, undecryptable payload."""

    status = 403


class BodyTooLarge(RequestRejected):
    status = 413


class BadXML(RequestRejected):
    status = 400


def sign(*parts: str) -> str:
    """WeChat's signature: SHA-1 of the sorted parts, concatenated."""
    return hashlib.sha1("".join(sorted(str(p) for p in parts)).encode("utf-8")).hexdigest()


def signature_ok(expected_parts: tuple[str, ...], signature: str | None) -> bool:
    """Constant-time comparison of ``signature`` against ``sign(*expected_parts)``."""
    if not signature:
        return False
    return hmac.compare_digest(sign(*expected_parts).encode(), signature.lower().encode())


def check_url_signature(token: str, signature: str | None, timestamp: str, nonce: str) -> None:
    """``signature = sha1(sorted([token, timestamp, nonce]))`` or :class:`BadSignature`."""
    if not token or not signature_ok((token, timestamp, nonce), signature):
        raise BadSignature("bad signature")


def check_msg_signature(
    token: str, msg_signature: str | None, timestamp: str, nonce: str, encrypt: str
) -> None:
    """``msg_signature = sha1(sorted([token, timestamp, nonce, Encrypt]))``."""
    if not token or not signature_ok((token, timestamp, nonce, encrypt), msg_signature):
        raise BadSignature("bad msg_signature")


def check_body_size(body: bytes, limit: int) -> None:
    if len(body) > limit:
        raise BodyTooLarge(f"body of {len(body)} bytes exceeds {limit}")


def _depth(value: Any, level: int = 0) -> int:
    if level > _MAX_DEPTH:
        return level
    if isinstance(value, dict):
        return max((_depth(v, level + 1) for v in value.values()), default=level)
    if isinstance(value, list):
        return max((_depth(v, level + 1) for v in value), default=level)
    return level


def parse_xml(body: bytes | str, limit: int) -> dict[str, Any]:
    """Parse a WeChat XML document into the dict under ``<xml>``, safely.

    Rejects oversized bodies, any DOCTYPE/ENTITY declaration (checked on the raw
    bytes, before the parser runs), entities declared anyway (xmltodict's
    ``disable_entities``), deep nesting and documents without an ``<xml>`` root.
    """
    raw = body.encode("utf-8") if isinstance(body, str) else body
    check_body_size(raw, limit)
    if _FORBIDDEN_XML.search(raw):
        raise BadXML("DOCTYPE/ENTITY declarations are not allowed")
    try:
        parsed = xmltodict.parse(raw, disable_entities=True)
    except Exception as exc:  # expat errors, ValueError from disable_entities
        raise BadXML(f"malformed XML: {exc.__class__.__name__}") from exc
    root = parsed.get("xml") if isinstance(parsed, dict) else None
    if not isinstance(root, dict):
        raise BadXML("no <xml> root element")
    if _depth(root) > _MAX_DEPTH:
        raise BadXML("XML nested too deeply")
    return root


class FreshnessGuard:
    """Rejects stale timestamps. The clock is injectable (the vectors date from 2014)."""

    def __init__(self, tolerance_seconds: int, clock: Clock = time.time) -> None:
        self.tolerance = tolerance_seconds
        self.clock = clock

    def check(self, timestamp: str) -> None:
        if self.tolerance <= 0:
            return
        try:
            ts = int(timestamp)
        except (TypeError, ValueError) as exc:
            raise Forbidden("timestamp is not an integer") from exc
        if abs(self.clock() - ts) > self.tolerance:
            raise Forbidden("stale timestamp")
