"""Staff console list and search latency with 100k conversations.

Generates 100,000 synthetic conversations (about 8 user/bot messages each, Chinese
texts drawn from the NLU examples in data/nlu and the bot's responses in domain/,
several channels, intents, statuses, tags and flags over 90 days) straight into a
console SQLite database with bulk inserts, indexed for search exactly as the ingest
does (bot.console.search). The database is cached under var/bench/ keyed by a
version and the size, so reruns skip generation.

Then it starts the real console app on a loopback port, logs in as a support user
through the real login form, and times each case (median and p95 over --requests
requests, after warm-up): the list page, filtered lists, the 3rd page, the JSON API,
and search with 1-, 2-, 3- and 4+-character Chinese queries (common and rare terms).
Target: every case's median under 300 ms.

    python benchmarks/console_list.py [--conversations 100000] [--requests 50]
    python benchmarks/console_list.py --postgres [--drop-postgres]

--postgres loads the same data into a PostgreSQL database on the local server
(BANKBOT_TEST_PG_URL, default postgres@127.0.0.1:5432), named by version and size and
kept for the next run unless --drop-postgres. --regenerate rebuilds both caches.
Exit code 0 when every median is under 300 ms, 1 otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import secrets
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import yaml
from aiohttp.test_utils import TestServer
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))

from bot.console import search  # noqa: E402
from bot.console.db import ensure_schema, make_engine, make_sessionmaker  # noqa: E402
from bot.console.users import create_user, make_hasher  # noqa: E402
from bot.settings import Settings  # noqa: E402

VERSION = "3"  # bump when the generated data or the schema changes
TARGET_MS = 300.0
DAY = 86400.0
PG_ADMIN_URL = os.environ.get(
    "BANKBOT_TEST_PG_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
)

CHANNELS = [("wechat", 0.6), ("web", 0.35), ("rest", 0.05)]
TAGS = ["投诉跟进", "误识别", "需培训", "已回访", "高价值客户", "疑似诈骗"]
SURNAMES = "张王李赵刘陈杨黄周吴徐孙马朱胡郭何林高罗"
STAFF_LINES = [
    "您好，我是人工客服小王，请问有什么可以帮您？",
    "已为您查询，请稍等片刻。",
    "这个问题我已经记录，会有专人跟进处理。",
    "感谢您的耐心等待，还有其他问题吗？",
]
# Injected into a few conversations so that "rare" searches have a known answer.
RARE_LINES = ["我想咨询一下保管箱租赁业务", "保管箱租赁需要带什么材料"]
RARE_SHARE = 0.0004
PII_LINES = [
    "我的卡号是6222020200112341234",
    "手机号13800138000，帮我查一下",
    "身份证号110101199003071234",
    "验证码是 482913",
]
_ENTITY_MARKUP = re.compile(r"\[([^\]]+)\]\(([^)]+)\)|\[([^\]]+)\]\{[^}]*\"entity\":\s*\"([^\"]+)\"[^}]*\}")
_PLACEHOLDER = re.compile(r"\{[a-z_]+\}")

SEARCHES = [
    ("search 1 char (卡)", "卡"),
    ("search 2 chars common (转账)", "转账"),
    ("search 2 chars rare (保管)", "保管"),
    ("search 3 chars common (信用卡)", "信用卡"),
    ("search 3 chars rare (保管箱)", "保管箱"),
    ("search 4 chars common (查询余额)", "查询余额"),
    ("search 6 chars rare (保管箱租赁业)", "保管箱租赁业"),
    ("search no match (量子计算机)", "量子计算机"),
]


# --- corpus ------------------------------------------------------------------------


def _plain_example(example: str) -> tuple[str, list[dict[str, Any]]]:
    """An NLU example without entity markup, and its entities."""
    entities: list[dict[str, Any]] = []
    out = ""
    pos = 0
    for match in _ENTITY_MARKUP.finditer(example):
        out += example[pos : match.start()]
        value = match.group(1) or match.group(3)
        name = match.group(2) or match.group(4)
        entities.append(
            {"entity": name, "value": value, "start": len(out), "end": len(out) + len(value)}
        )
        out += value
        pos = match.end()
    return out + example[pos:], entities


def load_corpus() -> tuple[dict[str, list[tuple[str, list[dict[str, Any]]]]], list[str]]:
    """User examples by intent (data/nlu) and bot response texts (domain/)."""
    by_intent: dict[str, list[tuple[str, list[dict[str, Any]]]]] = {}
    for path in sorted((PROJECT_ROOT / "data" / "nlu").glob("*.yml")):
        doc = yaml.safe_load(path.read_text("utf-8")) or {}
        for block in doc.get("nlu") or []:
            intent = block.get("intent")
            if not intent:
                continue
            lines = [line[2:].strip() for line in str(block.get("examples", "")).splitlines()]
            examples = [_plain_example(line) for line in lines if line]
            by_intent.setdefault(intent.split("/")[0], []).extend(e for e in examples if e[0])
    responses: list[str] = []
    for path in sorted((PROJECT_ROOT / "domain").glob("*.yml")):
        doc = yaml.safe_load(path.read_text("utf-8")) or {}
        for variants in (doc.get("responses") or {}).values():
            for variant in variants or []:
                if isinstance(variant, dict) and variant.get("text"):
                    responses.append(_PLACEHOLDER.sub("1", str(variant["text"])))
    return {k: v for k, v in by_intent.items() if v}, responses


# --- generation --------------------------------------------------------------------


def _weighted(rng: random.Random, pairs: list[tuple[str, float]]) -> str:
    return rng.choices([p[0] for p in pairs], weights=[p[1] for p in pairs])[0]


def generate_rows(
    count: int, now: float, seed: int = 5
) -> Iterator[tuple[tuple[Any, ...], list[tuple[Any, ...]], list[str]]]:
    """(conversation row, message rows, tags) per conversation, deterministic for ``seed``."""
    rng = random.Random(seed)
    by_intent, responses = load_corpus()
    intents = sorted(by_intent)
    weights = [5.0 if i in ("check_balance", "transfer_money", "faq", "greet") else 1.0 for i in intents]
    message_id = 0
    for cid in range(1, count + 1):
        channel = _weighted(rng, CHANNELS)
        age = rng.random() ** 1.3 * 90 * DAY  # more recent activity than old
        started = now - age
        turns = rng.randint(3, 5)
        ts = started
        messages: list[tuple[Any, ...]] = []
        low = fallback = complaint = False
        last_intent = None
        last_conf = None
        rare = rng.random() < RARE_SHARE
        staff_turn = rng.randint(1, turns - 1) if rng.random() < 0.05 else None
        for turn in range(turns):
            ts += rng.uniform(2, 40)
            intent = rng.choices(intents, weights=weights)[0]
            user_text, entities = rng.choice(by_intent[intent])
            if rare and turn == 1:
                user_text, entities, intent = rng.choice(RARE_LINES), [], "faq"
            elif rng.random() < 0.03:
                user_text, entities = rng.choice(PII_LINES), []
            confidence = round(rng.betavariate(8, 1.5), 4)
            if confidence < 0.3:
                intent, fallback = "nlu_fallback", True
            if confidence < 0.6:
                low = True
            if intent == "complain":
                complaint = True
            last_intent, last_conf = intent, confidence
            message_id += 1
            messages.append(
                (message_id, cid, ts, "user", user_text, intent, confidence,
                 {"entities": entities} if entities else None, None, channel)
            )
            if turn == 0:
                message_id += 1
                messages.append(
                    (message_id, cid, ts + 0.2, "action", None, None, None,
                     {"name": f"utter_{intent}", "policy": "RulePolicy", "confidence": 1.0},
                     None, channel)
                )
            if entities and turn < 2:
                message_id += 1
                messages.append(
                    (message_id, cid, ts + 0.3, "slot", None, None, None,
                     {"name": entities[0]["entity"], "value": entities[0]["value"]}, None, channel)
                )
            ts += rng.uniform(0.5, 3)
            message_id += 1
            if staff_turn is not None and turn >= staff_turn:
                messages.append(
                    (message_id, cid, ts, "staff", rng.choice(STAFF_LINES), None, None, None,
                     "support", channel)
                )
            else:
                messages.append(
                    (message_id, cid, ts, "bot", rng.choice(responses), None, None, None, None,
                     channel)
                )
        last_at = min(ts, now)
        if now - last_at < 3600:
            status = rng.choice(["bot", "bot", "waiting", "staff"])
        elif staff_turn is not None:
            status = "closed"
        else:
            status = "closed" if rng.random() < 0.3 else "bot"
        bound = rng.random() < 0.4
        label = (
            f"{rng.choice(SURNAMES)}* 1{rng.randint(30, 99)}****{rng.randint(0, 9999):04d}"
            if bound else ""
        )
        tags = rng.sample(TAGS, rng.randint(1, 2)) if rng.random() < 0.06 else []
        if complaint and rng.random() < 0.5 and "投诉跟进" not in tags:
            tags.append("投诉跟进")
        conv = (
            cid, f"bench-{cid:06d}", channel, f"C{cid:06d}" if bound else None, label,
            started, last_at, last_intent, last_conf, status,
            fallback, complaint, low, fallback or complaint or low,
            int(fallback), len(messages), rng.random() < 0.1, None, None,
        )
        yield conv, messages, tags


CONV_SQL = (
    "INSERT INTO conversations (id, sender_id, channel, customer_id, customer_label, started_at,"
    " last_at, last_intent, last_confidence, status, flag_fallback, flag_complaint,"
    " flag_low_confidence, flagged, fallback_count, message_count, reviewed, reviewed_by,"
    " assigned_to) VALUES (" + ",".join("?" * 19) + ")"
)
MSG_SQL = (
    "INSERT INTO messages (id, conversation_id, ts, kind, text, intent, confidence, data,"
    " author, channel) VALUES (?,?,?,?,?,?,?,?,?,?)"
)


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False)


def generate_sqlite(path: Path, count: int) -> None:
    """Write ``count`` conversations to a fresh SQLite console database at ``path``."""
    tmp = path.with_suffix(".part")
    for stale in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm")):
        stale.unlink(missing_ok=True)
    engine = make_engine(f"sqlite:///{tmp}")
    ensure_schema(engine)
    engine.dispose()
    conn = sqlite3.connect(tmp)
    conn.execute("PRAGMA synchronous=OFF")
    tokens_cache: dict[str, str] = {}
    start = time.perf_counter()
    now = time.time()
    batch_conv: list[tuple[Any, ...]] = []
    batch_msg: list[tuple[Any, ...]] = []
    batch_tag: list[tuple[Any, ...]] = []
    batch_fts: list[tuple[int, str]] = []

    def flush() -> None:
        conn.executemany(CONV_SQL, batch_conv)
        conn.executemany(MSG_SQL, batch_msg)
        conn.executemany("INSERT INTO tags (conversation_id, tag) VALUES (?, ?)", batch_tag)
        conn.executemany(
            f"INSERT INTO {search.TABLE} (rowid, body) VALUES (?, ?)", batch_fts
        )
        conn.executemany(
            f"INSERT INTO {search.TABLE}_done (rowid) VALUES (?)", [(r,) for r, _ in batch_fts]
        )
        conn.commit()
        for batch in (batch_conv, batch_msg, batch_tag, batch_fts):
            batch.clear()

    for conv, messages, tags in generate_rows(count, now):
        batch_conv.append(conv)
        for m in messages:
            batch_msg.append((*m[:7], _json(m[7]), *m[8:]))
            if m[3] in ("user", "bot", "staff") and m[4]:
                body = tokens_cache.get(m[4])
                if body is None:
                    body = tokens_cache[m[4]] = " ".join(search.document_tokens(m[4]))
                if body:
                    batch_fts.append((search.sqlite_rowid(m[1], m[0]), body))
        batch_tag.extend((conv[0], tag) for tag in tags)
        if len(batch_conv) >= 5000:
            flush()
            print(f"  {conv[0]:>7} conversations  {time.perf_counter() - start:6.1f} s", flush=True)
    flush()
    conn.close()
    tmp.replace(path)
    print(f"generated {count} conversations in {time.perf_counter() - start:.1f} s -> {path}")


def copy_to_postgres(sqlite_path: Path, url: str) -> None:
    """Load the generated data into the (empty) PostgreSQL database at ``url``."""
    engine = make_engine(url)
    ensure_schema(engine)
    src = sqlite3.connect(sqlite_path)
    start = time.perf_counter()
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        from psycopg2.extras import execute_values

        for table, cols, bools in (
            ("conversations", "id, sender_id, channel, customer_id, customer_label, started_at,"
             " last_at, last_intent, last_confidence, status, flag_fallback, flag_complaint,"
             " flag_low_confidence, flagged, fallback_count, message_count, reviewed,"
             " reviewed_by, assigned_to", {10, 11, 12, 13, 16}),
            ("messages", "id, conversation_id, ts, kind, text, intent, confidence, data,"
             " author, channel", set()),
            ("tags", "id, conversation_id, tag", set()),
        ):
            rows = src.execute(f"SELECT {cols} FROM {table}")
            while chunk := rows.fetchmany(20000):
                if bools:
                    chunk = [
                        tuple(bool(v) if i in bools else v for i, v in enumerate(r)) for r in chunk
                    ]
                execute_values(cur, f"INSERT INTO {table} ({cols}) VALUES %s", chunk)
        cache: dict[str, str] = {}
        rows = src.execute(
            "SELECT id, conversation_id, text FROM messages"
            " WHERE kind IN ('user','bot','staff') AND text IS NOT NULL"
        )
        while chunk := rows.fetchmany(20000):
            values = []
            for mid, cid, body in chunk:
                doc = cache.get(body)
                if doc is None:
                    doc = cache[body] = search.pg_tsvector(search.document_tokens(body))
                values.append((mid, cid, doc))
            execute_values(
                cur,
                f"INSERT INTO {search.TABLE} (message_id, conversation_id, doc) VALUES %s",
                values,
                template="(%s, %s, %s::tsvector)",
            )
        for table in ("conversations", "messages", "tags"):
            cur.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"
            )
        cur.execute("ANALYZE")
        raw.commit()
    finally:
        raw.close()
        src.close()
        engine.dispose()
    print(f"copied to PostgreSQL in {time.perf_counter() - start:.1f} s")


def postgres_cache(sqlite_path: Path, count: int, *, rebuild: bool) -> str:
    """URL of a PostgreSQL database holding the generated data, loaded once and kept
    (named by version and size, like the SQLite cache); reloaded when incomplete."""
    name = f"bankbot_bench_v{VERSION}_{count}"
    url = make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT", future=True)
    try:
        with admin.connect() as conn:
            exists = conn.execute(
                text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}
            ).first()
        loaded = False
        if exists and not rebuild:
            engine = create_engine(url, future=True)
            with engine.connect() as conn:
                has_table = conn.execute(text("SELECT to_regclass('conversations')")).scalar()
                loaded = bool(has_table) and conn.execute(
                    text("SELECT count(*) FROM conversations")
                ).scalar_one() == count
            engine.dispose()
        if loaded:
            print(f"using cached PostgreSQL database {name}")
            return url
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()
    print(f"loading PostgreSQL database {name} ...", flush=True)
    copy_to_postgres(sqlite_path, url)
    return url


def drop_postgres(url: str) -> None:
    name = make_url(url).database
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT", future=True)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


# --- measurement -------------------------------------------------------------------


def add_support_user(db_url: str, settings: Settings, password: str) -> str:
    """A fresh support account (unique name) for this run."""
    username = f"bench{uuid.uuid4().hex[:8]}"
    engine = make_engine(db_url)
    factory = make_sessionmaker(engine)
    with factory() as session:
        create_user(
            session, make_hasher(settings), username=username, role="support",
            password=password, display_name="压测客服", via="benchmark",
        )
        session.commit()
    engine.dispose()
    return username


async def login(http: aiohttp.ClientSession, base: str, username: str, password: str) -> None:
    """Log in through the real form (double-submit CSRF token from the page)."""
    async with http.get(f"{base}/login") as resp:
        page = await resp.text()
    match = re.search(r'name="_csrf" value="([^"]+)"', page)
    assert match, "login page has no CSRF field"
    form = {"_csrf": match.group(1), "username": username, "password": password,
            "next": "/console/conversations"}
    async with http.post(f"{base}/login", data=form, allow_redirects=False) as resp:
        assert resp.status == 303, f"login failed: {resp.status}"


async def timed_get(http: aiohttp.ClientSession, url: str) -> tuple[float, str]:
    start = time.perf_counter()
    async with http.get(url) as resp:
        body = await resp.text()
        elapsed = (time.perf_counter() - start) * 1000
        assert resp.status == 200, f"{url}: HTTP {resp.status}"
    return elapsed, body


def _cursor_of(body: str) -> str:
    match = re.search(r'data-next-cursor="([^"]+)"', body) or re.search(
        r'"next_cursor": ?"([^"]+)"', body
    )
    assert match, "page has no next cursor"
    return match.group(1)


async def measure(settings: Settings, requests: int) -> list[tuple[str, list[float], str]]:
    from urllib.parse import quote

    from bot.console.app import create_app

    # A fresh password per run: the benchmark user lives only in the cached bench database.
    password = secrets.token_urlsafe(16)
    username = add_support_user(settings.console_db_url, settings, password)
    app = create_app(settings)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    base = str(server.make_url("")).rstrip("/")
    results: list[tuple[str, list[float], str]] = []
    try:
        # unsafe=True: keep cookies of an IP address host (127.0.0.1).
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            await login(http, base, username, password)
            _, first = await timed_get(http, f"{base}/console/conversations")
            page2 = f"{base}/console/conversations?cursor={_cursor_of(first)}"
            _, second = await timed_get(http, page2)
            page3 = f"{base}/console/conversations?cursor={_cursor_of(second)}"
            cases = [
                ("list page 1", f"{base}/console/conversations"),
                ("list page 3 (cursor)", page3),
                ("API list (JSON)", f"{base}/api/conversations"),
                ("filter channel=web", f"{base}/console/conversations?channel=web"),
                ("filter status=closed", f"{base}/console/conversations?status=closed"),
                ("filter status=waiting", f"{base}/console/conversations?status=waiting"),
                ("filter flagged=complaint", f"{base}/console/conversations?flagged=complaint"),
                ("filter tag=疑似诈骗", f"{base}/console/conversations?tag={quote('疑似诈骗')}"),
                ("filter intent=transfer_money + channel=wechat",
                 f"{base}/console/conversations?intent=transfer_money&channel=wechat"),
                ("filter last 7 days (dates)",
                 f"{base}/console/conversations?date_from="
                 f"{time.strftime('%Y-%m-%d', time.localtime(time.time() - 7 * DAY))}"),
            ]
            cases += [
                (label, f"{base}/console/conversations?q={quote(q)}") for label, q in SEARCHES
            ]
            cases.append(
                ("search 转账 + channel=web", f"{base}/console/conversations?q={quote('转账')}&channel=web")
            )
            for label, url in cases:
                for _ in range(3):  # warm-up
                    _, body = await timed_get(http, url)
                timings = [(await timed_get(http, url))[0] for _ in range(requests)]
                total = re.search(r'data-total="([^"]*)"', body)
                results.append((label, timings, total.group(1) if total else ""))
                print(f"  {label}: median {statistics.median(timings):.1f} ms", flush=True)
    finally:
        await server.close()
    return results


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]


def report(results: list[tuple[str, list[float], str]], backend: str, count: int) -> bool:
    print()
    print(f"console list/search latency, {count} conversations, {backend}")
    print(f"{'case':<48} {'matches':>8} {'median ms':>10} {'p95 ms':>8}  result")
    ok = True
    for label, timings, total in results:
        median = statistics.median(timings)
        passed = median < TARGET_MS
        ok = ok and passed
        print(
            f"{label:<48} {total:>8} {median:>10.1f} {p95(timings):>8.1f}  "
            f"{'PASS' if passed else 'FAIL'}"
        )
    print(f"\n{'PASS' if ok else 'FAIL'}: every median under {TARGET_MS:.0f} ms" if ok else
          f"\nFAIL: some median is {TARGET_MS:.0f} ms or more")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--conversations", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--postgres", action="store_true", help="measure on PostgreSQL")
    parser.add_argument(
        "--drop-postgres", action="store_true",
        help="drop the PostgreSQL copy afterwards (it is kept for the next run by default)",
    )
    parser.add_argument("--regenerate", action="store_true", help="ignore the cached databases")
    args = parser.parse_args()

    cache_dir = PROJECT_ROOT / "var" / "bench"
    cache_dir.mkdir(parents=True, exist_ok=True)
    db_path = cache_dir / f"console-v{VERSION}-{args.conversations}.db"
    if args.regenerate or not db_path.exists():
        print(f"generating {args.conversations} conversations ...", flush=True)
        generate_sqlite(db_path, args.conversations)
    else:
        print(f"using cached {db_path}")

    with tempfile.TemporaryDirectory() as data_dir:
        env = {
            "BANKBOT_DATA_DIR": data_dir,
            "WEB_PORT": "0",
            "PASSWORD_HASH_TIME_COST": "1",
            "PASSWORD_HASH_MEMORY_KIB": "8192",
            "EVENTS_DB_URL": f"sqlite:///{Path(data_dir) / 'events.db'}",
        }
        if args.postgres:
            url = postgres_cache(db_path, args.conversations, rebuild=args.regenerate)
            try:
                settings = Settings.from_env({**env, "CONSOLE_DB_URL": url})
                results = asyncio.run(measure(settings, args.requests))
            finally:
                if args.drop_postgres:
                    drop_postgres(url)
            backend = "PostgreSQL"
        else:
            # Measure a copy, so the cached database stays as generated.
            work = Path(data_dir) / "console.db"
            src = sqlite3.connect(db_path)
            dst = sqlite3.connect(work)
            src.backup(dst)
            src.close()
            dst.close()
            settings = Settings.from_env({**env, "CONSOLE_DB_URL": f"sqlite:///{work}"})
            results = asyncio.run(measure(settings, args.requests))
            backend = "SQLite"
    return 0 if report(results, backend, args.conversations) else 1


if __name__ == "__main__":
    raise SystemExit(main())
