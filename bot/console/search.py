"""Full-text search over conversation text that finds Chinese substrings through an index.

Each user, bot and staff message is indexed as a document of overlapping character
bigrams plus the last character of every run of letters/digits (``转账记录`` ->
``转账 账记 记录 录``), PII-masked and normalised (NFKC, lower case) first. A query
run of two or more characters becomes a phrase of its bigrams, which matches
exactly where the run is a substring of a message; a one-character run becomes a
prefix query (every token starting with that character). Query runs are ANDed.
Punctuation and spaces only separate runs: they are neither indexed nor matched.

SQLite: a contentless FTS5 table ``conversation_fts`` with one row per message whose
rowid packs ``conversation_id << 32 | message_id``, so matches yield conversation ids
without touching any other table. PostgreSQL: a table ``conversation_fts`` with a
``tsvector`` of the same tokens (positions kept) under a GIN index, queried with a
``<->`` phrase ``tsquery``. Indexing one message is one insert on either (SQLite also
notes the rowid in ``conversation_fts_done``, so indexing a message twice is a no-op).
Call :func:`unindex_conversation` before deleting a conversation.
"""

from __future__ import annotations

import re
import unicodedata

from sqlalchemy import Integer, column, select
from sqlalchemy import text as sql_text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import TextClause
from sqlalchemy.sql.selectable import TextualSelect

from bot.nlu.pii import mask_pii

from .models import Message

TABLE = "conversation_fts"
ROWID_SHIFT = 32  # SQLite rowid = conversation_id << 32 | message_id
_MESSAGE_MASK = (1 << ROWID_SHIFT) - 1
_RUN = re.compile(r"[^\W_]+")  # letters and digits of any script
MAX_QUERY_CHARS = 64


def normalize(value: str) -> str:
    """NFKC (full-width to half-width) and lower case: the same for documents and queries."""
    return unicodedata.normalize("NFKC", value).lower()


def runs(value: str) -> list[str]:
    """Maximal runs of letters/digits of the normalised ``value``."""
    return _RUN.findall(normalize(value))


def run_tokens(run: str) -> list[str]:
    """``abcd`` -> ``[ab, bc, cd, d]``: bigrams, then the last character on its own."""
    return [run[i : i + 2] for i in range(len(run) - 1)] + [run[-1]]


def document_tokens(message_text: str) -> list[str]:
    """The indexed tokens of one message (masked first, so PII is never searchable)."""
    return [token for run in runs(mask_pii(message_text or "")) for token in run_tokens(run)]


def query_runs(query: str) -> list[str]:
    """The runs of a user's query (bounded in length), empty when nothing is searchable."""
    return runs((query or "")[:MAX_QUERY_CHARS])


def fts5_query(query: str) -> str | None:
    """FTS5 MATCH expression for ``query``, or ``None`` when it has no searchable characters."""
    parts = []
    for run in query_runs(query):
        if len(run) == 1:
            parts.append(f'"{run}" *')
        else:
            parts.append('"' + " ".join(run_tokens(run)[:-1]) + '"')
    return " AND ".join(parts) if parts else None


def _pg_lexeme(token: str) -> str:
    return "'" + token.replace("\\", "\\\\").replace("'", "''") + "'"


def pg_tsquery(query: str) -> str | None:
    """PostgreSQL ``tsquery`` literal for ``query`` (phrases with ``<->``), or ``None``."""
    parts = []
    for run in query_runs(query):
        if len(run) == 1:
            parts.append(_pg_lexeme(run) + ":*")
        else:
            parts.append("(" + " <-> ".join(_pg_lexeme(t) for t in run_tokens(run)[:-1]) + ")")
    return " & ".join(parts) if parts else None


def pg_tsvector(tokens: list[str]) -> str:
    """PostgreSQL ``tsvector`` literal with 1-based positions (capped at 16383 by PostgreSQL)."""
    return " ".join(f"{_pg_lexeme(t)}:{min(i, 16383)}" for i, t in enumerate(tokens, start=1))


def _dialect(bind: Engine | Connection | Session) -> str:
    if isinstance(bind, Session):
        return bind.get_bind().dialect.name
    return bind.dialect.name


def create_search_index(engine: Engine) -> None:
    """Create the search table and its index if they are missing (idempotent)."""
    with engine.begin() as conn:
        if engine.dialect.name == "sqlite":
            conn.exec_driver_sql(
                f"CREATE VIRTUAL TABLE IF NOT EXISTS {TABLE} USING fts5("
                "body, content='', columnsize=0, tokenize='unicode61')"
            )
            # Which messages are indexed (a contentless FTS5 table cannot be asked).
            conn.exec_driver_sql(
                f"CREATE TABLE IF NOT EXISTS {TABLE}_done (rowid INTEGER PRIMARY KEY)"
            )
        else:
            conn.exec_driver_sql(
                f"CREATE TABLE IF NOT EXISTS {TABLE} ("
                "message_id BIGINT PRIMARY KEY, "
                "conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE, "
                "doc TSVECTOR NOT NULL)"
            )
            conn.exec_driver_sql(
                f"CREATE INDEX IF NOT EXISTS ix_{TABLE}_doc ON {TABLE} USING gin (doc)"
            )
            conn.exec_driver_sql(
                f"CREATE INDEX IF NOT EXISTS ix_{TABLE}_conv ON {TABLE} (conversation_id)"
            )


def sqlite_rowid(conversation_id: int, message_id: int) -> int:
    """The FTS5 rowid of one message."""
    if not 0 < message_id <= _MESSAGE_MASK:
        raise ValueError(f"message id out of range: {message_id}")
    return (int(conversation_id) << ROWID_SHIFT) | int(message_id)


def index_message(session: Session, conversation_id: int, message_id: int, text: str | None) -> None:
    """Add one message's text to the index, in the caller's transaction (repeats are no-ops)."""
    tokens = document_tokens(text or "")
    if not tokens:
        return
    if _dialect(session) == "sqlite":
        rowid = sqlite_rowid(conversation_id, message_id)
        done = session.execute(
            sql_text(f"INSERT OR IGNORE INTO {TABLE}_done (rowid) VALUES (:rowid)"), {"rowid": rowid}
        )
        if done.rowcount == 1:
            session.execute(
                sql_text(f"INSERT INTO {TABLE} (rowid, body) VALUES (:rowid, :body)"),
                {"rowid": rowid, "body": " ".join(tokens)},
            )
    else:
        session.execute(
            sql_text(
                f"INSERT INTO {TABLE} (message_id, conversation_id, doc) "
                "VALUES (:mid, :cid, CAST(:doc AS tsvector)) ON CONFLICT (message_id) DO NOTHING"
            ),
            {"mid": message_id, "cid": conversation_id, "doc": pg_tsvector(tokens)},
        )


def _match_sql(dialect: str, query: str) -> tuple[str, str] | None:
    """(``FROM ... WHERE ...`` over the search table, its query parameter) or ``None``."""
    if dialect == "sqlite":
        expression = fts5_query(query)
        where = f"{TABLE} WHERE {TABLE} MATCH :fts_query"
    else:
        expression = pg_tsquery(query)
        where = f"{TABLE} WHERE doc @@ CAST(:fts_query AS tsquery)"
    return None if expression is None else (where, expression)


def rare_hits(session: Session, query: str, threshold: int) -> list[int] | None:
    """Ids of the conversations matching ``query`` when fewer than ``threshold`` messages
    contain it; ``None`` when the term is common (at least ``threshold`` messages).

    One-character queries are taken as common without asking (a prefix query's cost is
    in expanding it, which asking would pay twice). An unsearchable query has no hits.
    """
    runs_ = query_runs(query)
    if runs_ and all(len(run) == 1 for run in runs_):
        return None
    dialect = _dialect(session)
    match = _match_sql(dialect, query)
    if match is None:
        return []
    id_expr = f"rowid >> {ROWID_SHIFT}" if dialect == "sqlite" else "conversation_id"
    sql = f"SELECT {id_expr} FROM {match[0]} LIMIT :n"
    ids = session.execute(sql_text(sql), {"fts_query": match[1], "n": threshold}).scalars().all()
    if len(ids) >= threshold:
        return None
    return sorted(set(ids))


def count_conversations(session: Session, query: str, cap: int) -> int:
    """Conversations with a message containing ``query``, counted up to ``cap`` (may include
    deleted conversations, whose index rows are left behind)."""
    match = _match_sql(_dialect(session), query)
    if match is None:
        return 0
    id_expr = f"rowid >> {ROWID_SHIFT}" if _dialect(session) == "sqlite" else "conversation_id"
    sql = f"SELECT count(*) FROM (SELECT DISTINCT {id_expr} FROM {match[0]} LIMIT :n) AS hits"
    return int(session.execute(sql_text(sql), {"fts_query": match[1], "n": cap}).scalar_one())


def unindex_conversation(session: Session, conversation_id: int) -> None:
    """Remove a conversation's messages from the index (before the conversation is deleted)."""
    if _dialect(session) != "sqlite":
        session.execute(
            sql_text(f"DELETE FROM {TABLE} WHERE conversation_id = :cid"), {"cid": conversation_id}
        )
        return
    messages = session.execute(
        select(Message.id, Message.text).where(
            Message.conversation_id == conversation_id,
            Message.kind.in_(("user", "bot", "staff")),
        )
    ).all()
    for message_id, message_text in messages:
        rowid = sqlite_rowid(conversation_id, message_id)
        done = session.execute(
            sql_text(f"DELETE FROM {TABLE}_done WHERE rowid = :rowid"), {"rowid": rowid}
        )
        if done.rowcount == 1:
            # A contentless table forgets a row given the exact tokens it was indexed with.
            session.execute(
                sql_text(f"INSERT INTO {TABLE} ({TABLE}, rowid, body) VALUES ('delete', :rowid, :body)"),
                {"rowid": rowid, "body": " ".join(document_tokens(message_text or ""))},
            )


def matching_conversations(dialect: str, query: str) -> TextualSelect | None:
    """A ``SELECT`` of the ids (column ``conversation_id``) of conversations with a message
    containing ``query``, for ``Conversation.id.in_(...)``; ``None`` when ``query`` has no
    searchable characters. The ids may repeat and include deleted conversations."""
    match = _match_sql(dialect, query)
    if match is None:
        return None
    id_expr = f"rowid >> {ROWID_SHIFT}" if dialect == "sqlite" else "conversation_id"
    clause: TextClause = sql_text(
        f"SELECT {id_expr} AS conversation_id FROM {match[0]}"
    ).bindparams(fts_query=match[1])
    return clause.columns(column("conversation_id", Integer))
