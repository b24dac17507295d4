"""Signatures, body cap, safe XML parsing and freshness."""

from __future__ import annotations

import time
import tracemalloc

import pytest

from bot.channels.wechat.security import (
    BadSignature,
    BadXML,
    BodyTooLarge,
    Forbidden,
    FreshnessGuard,
    check_msg_signature,
    check_url_signature,
    parse_xml,
    sign,
    signature_ok,
)

LIMIT = 64 * 1024

BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<xml><ToUserName>gh</ToUserName><FromUserName>o1</FromUserName><CreateTime>1</CreateTime><MsgType>text</MsgType><Content>&lol9;</Content><MsgId>1</MsgId></xml>"""

XXE = """<?xml version="1.0"?>
<!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<xml><Content>&xxe;</Content></xml>"""


def test_sign_is_sha1_of_the_sorted_parts() -> None:
    assert sign("b", "a", "c") == sign("c", "b", "a")
    assert signature_ok(("t", "1", "n"), sign("t", "1", "n"))
    assert signature_ok(("t", "1", "n"), sign("t", "1", "n").upper())
    assert not signature_ok(("t", "1", "n"), None)
    assert not signature_ok(("t", "1", "n"), "")


def test_checks_raise_bad_signature() -> None:
    with pytest.raises(BadSignature):
        check_url_signature("t", sign("t", "1", "n") + "0", "1", "n")
    with pytest.raises(BadSignature):
        check_url_signature("", sign("", "1", "n"), "1", "n")  # no token configured
    check_msg_signature("t", sign("t", "1", "n", "enc"), "1", "n", "enc")
    with pytest.raises(BadSignature):
        check_msg_signature("t", sign("t", "1", "n", "enc"), "1", "n", "enc2")


def test_parse_xml_returns_the_root_dict() -> None:
    root = parse_xml(b"<xml><A><![CDATA[x]]></A><B>2</B></xml>", LIMIT)
    assert root == {"A": "x", "B": "2"}


def test_entity_expansion_bomb_is_rejected_fast_and_memory_stays_flat() -> None:
    tracemalloc.start()
    started = time.perf_counter()
    with pytest.raises(BadXML):
        parse_xml(BILLION_LAUGHS.encode(), LIMIT)
    elapsed = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert elapsed < 1.0  # rejected before any expansion (well under 1 ms when not descheduled)
    assert peak < 256 * 1024


@pytest.mark.parametrize(
    "doc",
    [
        XXE,
        "<!doctype xml><xml><A>1</A></xml>",
        "<?xml version='1.0'?><!DOCTYPE xml SYSTEM 'http://evil/x.dtd'><xml/>",
        "<xml><A>1</A></xml><!ENTITY x 'y'>",
    ],
)
def test_any_doctype_or_entity_is_rejected(doc: str) -> None:
    with pytest.raises(BadXML):
        parse_xml(doc.encode(), LIMIT)


@pytest.mark.parametrize(
    "doc",
    [b"", b"not xml", b"<xml><A>1</A>", b"<root><A>1</A></root>", b"<xml>text</xml>"],
)
def test_malformed_or_foreign_documents_are_bad_xml(doc: bytes) -> None:
    with pytest.raises(BadXML):
        parse_xml(doc, LIMIT)


def test_deep_nesting_is_rejected() -> None:
    doc = "<xml>" + "<a>" * 50 + "x" + "</a>" * 50 + "</xml>"
    with pytest.raises(BadXML):
        parse_xml(doc.encode(), LIMIT)


def test_body_cap() -> None:
    body = b"<xml><A>" + b"x" * LIMIT + b"</A></xml>"
    with pytest.raises(BodyTooLarge) as info:
        parse_xml(body, LIMIT)
    assert info.value.status == 413


def test_freshness_guard_with_an_injected_clock() -> None:
    guard = FreshnessGuard(300, clock=lambda: 1_000_000.0)
    guard.check("1000000")
    guard.check("999701")
    guard.check("1000299")
    for stale in ("999699", "1000301", "abc", ""):
        with pytest.raises(Forbidden):
            guard.check(stale)
    FreshnessGuard(0, clock=lambda: 0.0).check("1")  # 0 switches the check off
