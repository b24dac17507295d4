"""Full-text search: Chinese substrings of any length through an index, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker

from bot.console import search
from bot.console.models import Conversation
from tests.bot.console.convdata import add_conversation, open_db, postgres_database

DOCS = {
    "transfer": ["我要转账给我妈妈", "好的，请问转账金额是多少？"],
    "history": ["帮我查一下转账记录"],
    "apart": ["我要转出", "账户余额是多少"],  # 转 and 账 in different messages
    "scattered": ["转出到另一个账户"],  # 转 … 账 in one message, not adjacent
    "credit": ["信用卡账单什么时候出"],
    "balance": ["请帮我查询余额吧"],
    "reversed": ["余额查询在哪里"],
    "card": ["我的卡片丢了"],
    "atm": ["ATM机取款限额是多少"],
    "phone": ["我的手机号13800138000，卡号6222020200112341234"],
    "html": ["<script>alert(1)</script> 你好"],
    "staff": [("staff", "您好，我是人工客服小王")],
}


def fill(session: Session) -> dict[str, int]:
    ids = {}
    for i, (name, texts) in enumerate(DOCS.items()):
        messages = [t if isinstance(t, tuple) else ("user", t) for t in texts]
        conv = add_conversation(session, last_at=1_700_000_000 + i, messages=messages)
        ids[name] = conv.id
    session.commit()
    return ids


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, sessionmaker]]:
    if request.param == "sqlite":
        engine, factory = open_db(f"sqlite:///{tmp_path / 'console.db'}")
        yield "sqlite", factory
        engine.dispose()
        return
    with postgres_database() as url:
        engine, factory = open_db(url)
        yield "postgresql", factory
        engine.dispose()


@pytest.fixture
def docs(backend: tuple[str, sessionmaker]) -> dict[str, int]:
    with backend[1]() as session:
        return fill(session)


def found(backend: tuple[str, sessionmaker], query: str, ids: dict[str, int]) -> set[str]:
    """Names of the conversations whose messages contain ``query``."""
    dialect, factory = backend
    matching = search.matching_conversations(dialect, query)
    assert matching is not None
    with factory() as session:
        hits = set(
            session.execute(select(Conversation.id).where(Conversation.id.in_(matching))).scalars()
        )
    return {name for name, cid in ids.items() if cid in hits}


def test_tokens_are_bigrams_plus_the_last_character() -> None:
    assert search.document_tokens("转账记录") == ["转账", "账记", "记录", "录"]
    assert search.document_tokens("好") == ["好"]
    # Punctuation splits runs; Latin is lower-cased; full-width becomes half-width.
    assert search.document_tokens("转账，ＡＴＭ") == ["转账", "账", "at", "tm", "m"]
    assert search.document_tokens("!!!") == []


def test_pii_is_masked_before_indexing() -> None:
    tokens = search.document_tokens("手机号13800138000")
    joined = "".join(tokens)
    assert "13800138000" not in joined
    assert "0013" not in tokens and "00" in tokens  # 138****8000: runs 138 and 8000


def test_query_expressions() -> None:
    assert search.fts5_query("转账记录") == '"转账 账记 记录"'
    assert search.fts5_query("卡") == '"卡" *'
    assert search.fts5_query("转账 卡") == '"转账" AND "卡" *'
    assert search.fts5_query(' "*) ') is None
    assert search.pg_tsquery("转账记录") == "('转账' <-> '账记' <-> '记录')"
    assert search.pg_tsquery("卡") == "'卡':*"
    assert search.pg_tsquery("--") is None
    assert search.matching_conversations("sqlite", "。。") is None


def test_two_characters(backend, docs) -> None:
    assert found(backend, "转账", docs) == {"transfer", "history"}


def test_one_character(backend, docs) -> None:
    assert found(backend, "卡", docs) == {"credit", "card", "phone"}
    assert found(backend, "录", docs) == {"history"}  # the last character of a message


def test_three_and_more_characters(backend, docs) -> None:
    assert found(backend, "信用卡", docs) == {"credit"}
    assert found(backend, "用信卡", docs) == set()
    assert found(backend, "查询余额", docs) == {"balance"}
    assert found(backend, "帮我查询余额吧", docs) == {"balance"}
    assert found(backend, "转账记录", docs) == {"history"}


def test_only_substrings_match(backend, docs) -> None:
    # Both characters present but not adjacent, or in two different messages.
    assert "apart" not in found(backend, "转账", docs)
    assert "scattered" not in found(backend, "转账", docs)
    assert found(backend, "余额查询", docs) == {"reversed"}
    assert found(backend, "量子计算", docs) == set()


def test_latin_case_and_width(backend, docs) -> None:
    assert found(backend, "atm", docs) == {"atm"}
    assert found(backend, "ＡＴＭ机", docs) == {"atm"}


def test_staff_messages_are_searchable(backend, docs) -> None:
    assert found(backend, "人工客服小王", docs) == {"staff"}


def test_pii_cannot_be_searched(backend, docs) -> None:
    assert found(backend, "13800138000", docs) == set()
    assert found(backend, "6222020200112341234", docs) == set()
    assert found(backend, "尾号1234", docs) == {"phone"}


def test_markup_is_plain_text(backend, docs) -> None:
    assert found(backend, "script", docs) == {"html"}
    assert found(backend, "alert(1)", docs) == {"html"}


def test_several_words_are_anded(backend, docs) -> None:
    assert found(backend, "转账 妈妈", docs) == {"transfer"}
    assert found(backend, "转账 信用卡", docs) == set()


def test_indexing_twice_is_harmless(backend, docs) -> None:
    dialect, factory = backend
    with factory() as session:
        for _ in range(2):
            search.index_message(session, docs["credit"], 999_999, "信用卡还款日")
        session.commit()
    assert found(backend, "还款日", docs) == {"credit"}
    with factory() as session:
        if dialect == "sqlite":
            count = session.execute(
                text("SELECT count(*) FROM conversation_fts_done WHERE rowid = :r"),
                {"r": search.sqlite_rowid(docs["credit"], 999_999)},
            ).scalar_one()
        else:
            count = session.execute(
                text("SELECT count(*) FROM conversation_fts WHERE message_id = 999999")
            ).scalar_one()
    assert count == 1


def search_objects(session: Session, dialect: str) -> list[tuple[str, str]]:
    """(kind, name) of every table and index of the search index, repeats included."""
    if dialect == "sqlite":
        rows = session.execute(
            text(
                "SELECT type, name FROM sqlite_master "
                "WHERE name LIKE 'conversation_fts%' OR tbl_name LIKE 'conversation_fts%'"
            )
        ).all()
    else:
        rows = session.execute(
            text(
                "SELECT CASE c.relkind WHEN 'i' THEN 'index' ELSE 'table' END, c.relname "
                "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'i') "
                "AND (c.relname LIKE 'conversation_fts%' OR c.relname LIKE 'ix_conversation_fts%')"
            )
        ).all()
    return sorted((kind, name) for kind, name in rows)


def test_create_search_index_is_idempotent(backend, docs) -> None:
    dialect, factory = backend
    # open_db (ensure_schema) already created the index once and fill() indexed DOCS.
    with factory() as session:
        before = search_objects(session, dialect)
    if dialect == "sqlite":
        assert ("table", "conversation_fts") in before
        assert ("table", "conversation_fts_done") in before
    else:
        assert ("table", "conversation_fts") in before
        assert ("index", "ix_conversation_fts_doc") in before
        assert ("index", "ix_conversation_fts_conv") in before
    with factory() as session:
        search.create_search_index(session.get_bind())
        search.create_search_index(session.get_bind())
    with factory() as session:
        after = search_objects(session, dialect)
    # Exactly the same objects, each once: nothing duplicated, dropped or renamed.
    assert after == before, (before, after)
    assert len(after) == len(set(after))
    # What was indexed before is still found, and indexing still works afterwards.
    assert found(backend, "转账", docs) == {"transfer", "history"}
    assert found(backend, "信用卡", docs) == {"credit"}
    with factory() as session:
        search.index_message(session, docs["card"], 999_998, "挂失以后补卡")
        session.commit()
    assert found(backend, "补卡", docs) == {"card"}
    assert found(backend, "卡片", docs) == {"card"}


def test_lookup_uses_the_index(backend, docs) -> None:
    dialect, factory = backend
    matching = search.matching_conversations(dialect, "转账")
    assert matching is not None
    with factory() as session:
        sql = str(matching.compile(session.get_bind(), compile_kwargs={"literal_binds": True}))
        if dialect == "sqlite":
            plan = " ".join(r[3] for r in session.execute(text("EXPLAIN QUERY PLAN " + sql)))
            assert "VIRTUAL TABLE INDEX" in plan and ":M" in plan, plan
        else:
            # Tiny tables favour a sequential scan; with it disallowed the GIN index must serve.
            session.execute(text("SET LOCAL enable_seqscan = off"))
            plan = " ".join(r[0] for r in session.execute(text("EXPLAIN " + sql)))
            assert "ix_conversation_fts_doc" in plan, plan


def test_rowid_packs_conversation_and_message() -> None:
    rowid = search.sqlite_rowid(7, 123)
    assert rowid >> search.ROWID_SHIFT == 7
    assert rowid & ((1 << search.ROWID_SHIFT) - 1) == 123
    with pytest.raises(ValueError):
        search.sqlite_rowid(1, 1 << 40)


def test_rare_hits_and_counts(backend, docs) -> None:
    dialect, factory = backend
    with factory() as session:
        assert search.rare_hits(session, "转账", 100) == sorted([docs["transfer"], docs["history"]])
        # Three messages contain 转账: with a threshold of 3 the term counts as common.
        assert search.rare_hits(session, "转账", 3) is None
        assert search.rare_hits(session, "卡", 100) is None  # one character: always common
        assert search.rare_hits(session, "？！", 100) == []
        assert search.count_conversations(session, "转账", 100) == 2
        assert search.count_conversations(session, "转账", 1) == 1  # stops at the cap


def test_unindex_conversation(backend, docs) -> None:
    dialect, factory = backend
    with factory() as session:
        search.unindex_conversation(session, docs["credit"])
        search.unindex_conversation(session, docs["credit"])  # twice is harmless
        session.commit()
    assert found(backend, "信用卡", docs) == set()
    assert found(backend, "转账", docs) == {"transfer", "history"}  # others untouched
    with factory() as session:
        messages = session.execute(
            text("SELECT id, text FROM messages WHERE conversation_id = :c"), {"c": docs["credit"]}
        ).all()
        for message_id, message_text in messages:
            search.index_message(session, docs["credit"], message_id, message_text)
        session.commit()
    assert found(backend, "信用卡", docs) == {"credit"}
