"""Conversation list filters, keyset pagination, counts, query plans, transcripts, tags, notes."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker

from bot.console import queries as q
from bot.console import search
from bot.console.models import Conversation, Note, Tag
from tests.bot.console.convdata import add_conversation, at, ensure_user, open_db, postgres_database

NOW = at("2026-03-10", "12:00:00")
IDLE = 3600


@pytest.fixture(params=["sqlite", "postgresql"])
def factory(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sessionmaker]:
    if request.param == "sqlite":
        engine, made = open_db(f"sqlite:///{tmp_path / 'console.db'}")
        yield made
        engine.dispose()
        return
    with postgres_database() as url:
        engine, made = open_db(url)
        yield made
        engine.dispose()


@pytest.fixture
def sqlite_factory(tmp_path: Path) -> Iterator[sessionmaker]:
    engine, made = open_db(f"sqlite:///{tmp_path / 'console.db'}")
    yield made
    engine.dispose()


def fill(session: Session) -> dict[str, int]:
    """A known set of conversations, named for what makes each one match."""
    specs = {
        # live bot conversation (last message 10 minutes ago) on the web
        "live_web": dict(last_at=NOW - 600, channel="web", intent="check_balance",
                         messages=[("user", "查询余额"), ("bot", "您的余额是 5,000.00 元")]),
        # idle bot conversation -> closed
        "idle_wechat": dict(last_at=NOW - 2 * 86400, intent="transfer_money", fallback=True,
                            messages=[("user", "我要转账"), ("bot", "请问转给谁？")]),
        "waiting": dict(last_at=NOW - 300, status="waiting", intent="human_handoff", complaint=True,
                        tags=("投诉跟进",), messages=[("user", "我要投诉，转人工")]),
        "staff": dict(last_at=NOW - 120, status="staff", intent="human_handoff",
                      messages=[("user", "人工客服"), ("staff", "您好，我是小王")]),
        "explicit_closed": dict(last_at=NOW - 1800, status="closed", intent="goodbye",
                                low_confidence=True, tags=("误识别", "需培训"),
                                messages=[("user", "再见啦")]),
        # 2026-03-01 23:30 China time is still 1 March in China (15:30 UTC).
        "late_march1": dict(last_at=at("2026-03-01", "23:30:00"), channel="web",
                            intent="credit_card_bill", messages=[("user", "信用卡账单")]),
        # 2026-03-02 00:10 China time is 1 March 16:10 UTC, but 2 March in China.
        "early_march2": dict(last_at=at("2026-03-02", "00:10:00"), intent="credit_card_bill",
                             messages=[("user", "信用卡还款")]),
    }
    ids = {}
    for name, spec in specs.items():
        ids[name] = add_conversation(session, sender=name, **spec).id
    session.commit()
    return ids


def names(page: q.Page, ids: dict[str, int]) -> list[str]:
    by_id = {v: k for k, v in ids.items()}
    return [by_id[row.id] for row in page.items]


def listing(factory: sessionmaker, **kwargs: object) -> q.Page:
    with factory() as session:
        return q.list_conversations(
            session, q.ConversationFilter(**kwargs), now=NOW, idle_seconds=IDLE  # type: ignore[arg-type]
        )


@pytest.fixture
def known(factory: sessionmaker) -> dict[str, int]:
    with factory() as session:
        return fill(session)


def test_no_filter_lists_everything_newest_first(factory, known) -> None:
    page = listing(factory)
    assert names(page, known) == [
        "staff", "waiting", "live_web", "explicit_closed", "idle_wechat", "early_march2",
        "late_march1",
    ]
    assert page.total == 7 and not page.total_capped
    assert page.next_cursor is None


def test_filter_by_channel(factory, known) -> None:
    assert names(listing(factory, channel="web"), known) == ["live_web", "late_march1"]


def test_filter_by_intent(factory, known) -> None:
    assert names(listing(factory, intent="credit_card_bill"), known) == [
        "early_march2", "late_march1"
    ]


def test_filter_by_china_dates(factory, known) -> None:
    assert names(listing(factory, date_from=date(2026, 3, 1), date_to=date(2026, 3, 1)), known) == [
        "late_march1"
    ]
    assert names(listing(factory, date_from=date(2026, 3, 2), date_to=date(2026, 3, 2)), known) == [
        "early_march2"
    ]
    assert set(names(listing(factory, date_from=date(2026, 3, 10)), known)) == {
        "staff", "waiting", "live_web", "explicit_closed"
    }


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("bot", ["live_web"]),
        ("waiting", ["waiting"]),
        ("staff", ["staff"]),
        ("closed", ["explicit_closed", "idle_wechat", "early_march2", "late_march1"]),
    ],
)
def test_filter_by_status(factory, known, status: str, expected: list[str]) -> None:
    page = listing(factory, status=status)
    assert names(page, known) == expected
    assert {row.status for row in page.items} == {status}


def test_filter_by_tag(factory, known) -> None:
    assert names(listing(factory, tag="误识别"), known) == ["explicit_closed"]
    assert names(listing(factory, tag="投诉跟进"), known) == ["waiting"]
    assert names(listing(factory, tag="没有"), known) == []


@pytest.mark.parametrize(
    ("flag", "expected"),
    [
        ("any", ["waiting", "explicit_closed", "idle_wechat"]),
        ("fallback", ["idle_wechat"]),
        ("complaint", ["waiting"]),
        ("low_confidence", ["explicit_closed"]),
    ],
)
def test_filter_by_flag(factory, known, flag: str, expected: list[str]) -> None:
    assert names(listing(factory, flagged=flag), known) == expected


def test_filter_by_text_and_combined(factory, known) -> None:
    assert names(listing(factory, q="信用卡"), known) == ["early_march2", "late_march1"]
    assert names(listing(factory, q="信用卡", channel="web"), known) == ["late_march1"]
    assert names(listing(factory, q="小王"), known) == ["staff"]  # staff text too
    assert names(listing(factory, q="。"), known) == []  # nothing searchable: no match
    page = listing(factory, q="余额", status="bot", channel="web", intent="check_balance")
    assert names(page, known) == ["live_web"] and page.total == 1


def test_rows_carry_labels_and_tags(factory, known) -> None:
    row = next(r for r in listing(factory).items if r.id == known["explicit_closed"])
    assert row.tags == sorted(["误识别", "需培训"])
    assert row.status_label == "已结束"
    assert row.flag_labels == [("low_confidence", "低置信度")]
    assert row.customer == "访客"
    assert row.last == "2026-03-10 11:30:00"  # China time
    data = row.to_json()
    assert data["last_at"] == "2026-03-10T11:30:00+08:00"
    assert data["status"] == "closed" and data["flags"] == ["low_confidence"]


def test_filter_params_round_trip_and_errors() -> None:
    flt = q.ConversationFilter.from_params(
        {"channel": "web", "date_from": "2026-03-01", "date_to": "2026-03-02", "status": "closed",
         "flagged": "1", "q": " 转账 ", "tag": "", "intent": "x"}
    )
    assert flt == q.ConversationFilter(
        channel="web", date_from=date(2026, 3, 1), date_to=date(2026, 3, 2), status="closed",
        flagged="any", q="转账", intent="x",
    )
    assert q.ConversationFilter.from_params(flt.to_params()) == flt
    for bad in ({"status": "nope"}, {"flagged": "x"}, {"date_from": "03/01/2026"},
                {"date_from": "2026-03-05", "date_to": "2026-03-01"}):
        with pytest.raises(q.FilterError):
            q.ConversationFilter.from_params(bad)


def test_cursor_is_opaque_and_checked() -> None:
    cursor = q.encode_cursor(1_700_000_000.25, 42)
    assert q.decode_cursor(cursor) == (1_700_000_000.25, 42)
    for bad in ("x", "!!!", q.encode_cursor(1.0, 1)[:-3] + "%%%"):
        with pytest.raises(q.FilterError):
            q.decode_cursor(bad)


def test_pages_have_no_duplicates_or_gaps_while_conversations_arrive(factory) -> None:
    with factory() as session:
        # 130 conversations, many sharing a last_at (ties are broken by id).
        for i in range(130):
            add_conversation(session, last_at=NOW - 1000 + (i // 4), messages=[("user", f"问题{i}")])
        session.commit()
        initial = set(session.execute(select(Conversation.id)).scalars())
    seen: list[int] = []
    cursor = None
    pages = 0
    while True:
        with factory() as session:
            page = q.list_conversations(
                session, q.ConversationFilter(), cursor=cursor, limit=25, now=NOW, idle_seconds=IDLE
            )
            # New conversations keep arriving between page loads (newer than everything).
            add_conversation(session, last_at=NOW + pages, messages=[("user", "新消息")])
            session.commit()
        seen.extend(r.id for r in page.items)
        pages += 1
        keys = [(r.last_at, r.id) for r in page.items]
        assert keys == sorted(keys, reverse=True)
        cursor = page.next_cursor
        if cursor is None:
            break
    assert len(seen) == len(set(seen)), "a conversation appeared on two pages"
    assert set(seen) == initial, "a conversation was skipped"
    assert pages == 6  # 130 / 25


def test_cursor_pages_with_filters(factory, known) -> None:
    with factory() as session:
        flt = q.ConversationFilter(status="closed")
        first = q.list_conversations(session, flt, limit=3, now=NOW, idle_seconds=IDLE)
        second = q.list_conversations(
            session, flt, cursor=first.next_cursor, limit=3, now=NOW, idle_seconds=IDLE
        )
    assert names(first, known) == ["explicit_closed", "idle_wechat", "early_march2"]
    assert names(second, known) == ["late_march1"] and second.next_cursor is None


def test_count_is_capped(factory) -> None:
    with factory() as session:
        for i in range(12):
            add_conversation(session, last_at=NOW - i, messages=[("user", "转账")])
        session.commit()
        flt = q.ConversationFilter()
        assert q.count_matches(session, flt, cap=10, now=NOW) == (10, True)
        assert q.count_matches(session, flt, cap=12, now=NOW) == (12, False)
        assert q.count_matches(session, q.ConversationFilter(q="转账"), cap=5, now=NOW) == (5, True)
        assert q.count_matches(session, q.ConversationFilter(q="转账"), now=NOW) == (12, False)


def test_slow_count_is_abandoned_and_the_session_stays_usable(factory) -> None:
    with factory() as session:
        dialect = session.get_bind().dialect.name
        if dialect == "sqlite":
            slow = text(
                "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 50000000)"
                " SELECT count(*) FROM c"
            )
        else:
            slow = text("SELECT count(*) FROM generate_series(1, 500000000)")
        start = time.perf_counter()
        assert q._within_budget(session, 0.05, lambda: session.execute(slow).scalar_one()) is None
        assert time.perf_counter() - start < 5
        assert q._within_budget(session, 5, lambda: session.execute(text("SELECT 7")).scalar_one()) == 7
        if dialect == "postgresql":
            assert session.execute(text("SHOW statement_timeout")).scalar_one() == "0"
        add_conversation(session, last_at=NOW, messages=[("user", "还能写")])
        session.commit()


def _plan(
    session: Session,
    flt: q.ConversationFilter,
    after: tuple[float, int] | None = None,
    *,
    walk: bool = False,
    hit_ids: list[int] | None = None,
) -> str:
    stmt = q.list_statement(
        session, flt, after=after, limit=51, now=NOW, idle_seconds=IDLE, walk_order=walk,
        hit_ids=hit_ids,
    )
    assert stmt is not None
    sql = str(stmt.compile(session.get_bind(), compile_kwargs={"literal_binds": True}))
    return "\n".join(row[3] for row in session.execute(text("EXPLAIN QUERY PLAN " + sql)))


@pytest.mark.parametrize(
    ("kwargs", "index"),
    [
        ({}, "ix_conv_last"),
        ({"channel": "web"}, "ix_conv_channel_last"),
        ({"status": "waiting"}, "ix_conv_status_last"),
        ({"status": "bot"}, "ix_conv_status_last"),
        ({"status": "closed"}, "ix_conv_last"),
        ({"intent": "transfer_money"}, "ix_conv_intent_last"),
        ({"flagged": "any"}, "ix_conv_flagged_last"),
        ({"flagged": "complaint"}, "ix_conv_flagged_last"),
        ({"date_from": date(2026, 3, 1), "date_to": date(2026, 3, 5)}, "ix_conv_last"),
    ],
)
def test_list_query_walks_an_index_without_sorting(sqlite_factory, kwargs, index: str) -> None:
    with sqlite_factory() as session:
        fill(session)
        for after in (None, (NOW, 10)):
            plan = _plan(session, q.ConversationFilter(**kwargs), after)
            assert f"USING INDEX {index}" in plan or f"USING COVERING INDEX {index}" in plan, plan
            assert "TEMP B-TREE" not in plan, plan
            assert "SCAN conversations\n" not in plan + "\n", plan  # never a bare table scan


def test_search_and_tag_filters_use_their_indexes(sqlite_factory) -> None:
    with sqlite_factory() as session:
        fill(session)
        plan = _plan(session, q.ConversationFilter(q="信用卡"))
        assert "VIRTUAL TABLE INDEX" in plan and "USING INTEGER PRIMARY KEY" in plan, plan
        plan = _plan(session, q.ConversationFilter(tag="误识别"))
        assert "USING COVERING INDEX ix_tags_tag" in plan, plan
        plan = _plan(session, q.ConversationFilter(q="信用卡", channel="web"))
        assert "VIRTUAL TABLE INDEX" in plan and "ix_conv_channel_last" in plan, plan


def test_common_terms_walk_the_list_order(sqlite_factory, monkeypatch) -> None:
    with sqlite_factory() as session:
        ids = [
            add_conversation(session, last_at=NOW - i, messages=[("user", "转账"), ("bot", "好")]).id
            for i in range(8)
        ]
        add_conversation(session, last_at=NOW + 5, messages=[("user", "别的")])
        session.commit()
        flt = q.ConversationFilter(q="转账")
        walk = _plan(session, flt, walk=True)
        assert "SCAN conversations USING INDEX ix_conv_last" in walk and "TEMP B-TREE" not in walk
        rare_ids = search.rare_hits(session, "转账", 100)
        assert rare_ids == sorted(ids)
        assert search.rare_hits(session, "转账", 5) is None  # common
        rare_plan = _plan(session, flt, hit_ids=rare_ids)  # rare: fetch the few by id, sort
        assert "USING INTEGER PRIMARY KEY" in rare_plan and "VIRTUAL TABLE" not in rare_plan
        rare = q.list_conversations(session, flt, limit=3, now=NOW)
        monkeypatch.setattr(q, "COMMON_TERM_HITS", 2)
        common = q.list_conversations(session, flt, limit=3, now=NOW)
        assert [r.id for r in rare.items] == [r.id for r in common.items] == ids[:3]
        assert (common.total, common.total_capped) == (8, False)
        more = q.list_conversations(session, flt, cursor=common.next_cursor, limit=10, now=NOW)
        assert [r.id for r in more.items] == ids[3:]


def test_totals_without_a_count_query(sqlite_factory) -> None:
    with sqlite_factory() as session:
        for i in range(3):
            add_conversation(session, last_at=NOW - i, messages=[("user", "卡片")])
        session.commit()
        # Everything fits on the page: the total is the page.
        assert q.list_conversations(session, q.ConversationFilter(q="卡"), now=NOW).total == 3
        # A one-character search over several pages is not counted.
        page = q.list_conversations(session, q.ConversationFilter(q="卡"), limit=2, now=NOW)
        assert page.total is None and page.next_cursor
        assert q.count_matches(session, q.ConversationFilter(q="!!"), now=NOW) == (0, False)


def test_effective_status() -> None:
    assert q.effective_status("bot", NOW - 10, NOW, IDLE) == "bot"
    assert q.effective_status("bot", NOW - IDLE - 1, NOW, IDLE) == "closed"
    assert q.effective_status("waiting", NOW - 10 * IDLE, NOW, IDLE) == "waiting"


# --- transcripts -------------------------------------------------------------------


def transcript_conversation(session: Session) -> int:
    ensure_user(session, "wang", "support", display_name="王小二")
    conv = add_conversation(
        session,
        last_at=NOW,
        messages=[
            {"kind": "user", "text": "我的卡号是6222020200112341234，手机13800138000",
             "intent": "report_card_lost", "confidence": 0.91,
             "data": {"entities": [{"entity": "card_number", "value": "6222020200112341234",
                                    "extractor": "RegexEntityExtractor"},
                                   {"entity": "otp_code", "value": "1234"}]}},
            {"kind": "action", "text": None,
             "data": {"name": "action_report_card_lost", "policy": "RulePolicy"}},
            {"kind": "slot", "text": None, "data": {"name": "phone", "value": "13800138000"}},
            {"kind": "slot", "text": None, "data": {"name": "otp_code", "value": "4821"}},
            {"kind": "bot", "text": "已为尾号1234的卡挂失"},
            {"kind": "staff", "text": "您好，我是人工客服", "author": "wang"},
            {"kind": "event", "text": None, "data": {"event": "session_started"}},
        ],
    )
    session.add(Note(conversation_id=conv.id, author="wang", text="客户留了电话13900139000",
                     created_at=NOW))
    session.commit()
    return conv.id


def test_transcript_in_order_and_masked(factory) -> None:
    with factory() as session:
        cid = transcript_conversation(session)
        tr = q.get_transcript(session, cid, now=NOW, idle_seconds=IDLE)
    kinds = [m.kind for m in tr.messages]
    assert kinds == ["user", "action", "slot", "slot", "bot", "staff", "event"]
    user = tr.messages[0]
    assert "6222020200112341234" not in user.text and "尾号1234" in user.text
    assert "138****8000" in user.text
    assert user.intent == "report_card_lost" and user.confidence == 0.91
    assert user.entities[0] == {"entity": "card_number", "value": "尾号1234",
                                "extractor": "RegexEntityExtractor"}
    assert user.entities[1]["value"] == "****"  # a code, whatever it looks like
    assert user.has_pii
    assert tr.messages[1].name == "action_report_card_lost" and tr.messages[1].is_detail
    assert tr.messages[2].name == "phone" and tr.messages[2].value == "138****8000"
    assert tr.messages[3].value == "****"
    assert tr.messages[5].author_name == "王小二"
    assert tr.messages[6].name == "session_started"
    assert tr.notes[0].text == "客户留了电话139****9000"
    dumped = str(tr.to_json())
    for raw in ("6222020200112341234", "13800138000", "13900139000", "4821"):
        assert raw not in dumped


def test_transcript_unmasked_and_raw_message(factory) -> None:
    with factory() as session:
        cid = transcript_conversation(session)
        tr = q.get_transcript(session, cid, masked=False)
        assert "6222020200112341234" in tr.messages[0].text
        assert tr.messages[0].entities[0]["value"] == "6222020200112341234"
        raw = q.raw_message(session, cid, tr.messages[2].id)
        assert raw.value == "13800138000"
        with pytest.raises(q.NotFound):
            q.raw_message(session, cid + 1, tr.messages[0].id)
        with pytest.raises(q.NotFound):
            q.get_transcript(session, cid + 100)


def test_tags_notes_and_review(factory) -> None:
    with factory() as session:
        cid = add_conversation(session, last_at=NOW, messages=[("user", "你好")]).id
        assert q.add_tag(session, cid, " 投诉跟进 ") == "投诉跟进"
        assert q.add_tag(session, cid, "投诉跟进") == "投诉跟进"  # once only
        for bad in ("", "有 空格", "<b>", "x" * 33):
            with pytest.raises(q.FilterError):
                q.add_tag(session, cid, bad)
        with pytest.raises(q.NotFound):
            q.add_tag(session, cid + 1, "x")
        session.commit()
        assert session.execute(select(Tag.tag).where(Tag.conversation_id == cid)).scalars().all() == [
            "投诉跟进"
        ]
        assert q.remove_tag(session, cid, "投诉跟进") is True
        assert q.remove_tag(session, cid, "投诉跟进") is False
        note = q.add_note(session, cid, "wang", "  已回电  ")
        assert note.text == "已回电" and note.author == "wang"
        for bad in ("   ", "长" * 2001):
            with pytest.raises(q.FilterError):
                q.add_note(session, cid, "wang", bad)
        q.mark_reviewed(session, cid, "wang")
        session.commit()
        conv = session.get(Conversation, cid)
        session.refresh(conv)
        assert conv.reviewed and conv.reviewed_by == "wang"
        q.mark_reviewed(session, cid, "wang", reviewed=False)
        session.commit()
        session.refresh(conv)
        assert not conv.reviewed and conv.reviewed_by is None


def test_filter_options_list_values_in_use(factory, known) -> None:
    with factory() as session:
        options = q.filter_options(session)
    assert options["channels"] == ["web", "wechat"]
    assert options["intents"] == sorted(
        ["check_balance", "transfer_money", "human_handoff", "goodbye", "credit_card_bill"]
    )
    assert options["tags"] == sorted(["投诉跟进", "误识别", "需培训"])
