"""A database from before tickets had priorities and FX rates a cash selling rate."""

from __future__ import annotations

from sqlalchemy import inspect, text

from bot.bank.app import create_app
from bot.bank.db import make_engine
from bot.bank.seed import seed_database
from bot.bank.testing import TEST_START, make_settings, seed_file, sqlite_url

LEGACY_TICKETS = """
CREATE TABLE support_tickets (
    id VARCHAR(32) NOT NULL PRIMARY KEY,
    kind VARCHAR(16) NOT NULL,
    channel VARCHAR(32) NOT NULL,
    channel_user_id VARCHAR(128) NOT NULL,
    customer_id VARCHAR(32) REFERENCES customers (id),
    category VARCHAR(50),
    text TEXT,
    summary TEXT,
    status VARCHAR(16) NOT NULL,
    created_at DATETIME NOT NULL,
    reply_due DATE
)
"""


async def test_an_older_database_is_upgraded_in_place(tmp_path, aiohttp_client, clock):
    db_path = tmp_path / "legacy.db"
    seed_file(db_path)
    engine = make_engine(sqlite_url(db_path))
    try:
        with engine.begin() as conn:
            conn.execute(text("DROP TABLE support_tickets"))
            conn.execute(text(LEGACY_TICKETS))
            conn.execute(
                text(
                    "INSERT INTO support_tickets (id, kind, channel, channel_user_id, status,"
                    " created_at) VALUES ('H20261118-0001', 'handoff', 'wechat', 'o-old', 'open',"
                    " '2026-11-18 09:00:00')"
                )
            )
            conn.execute(text("ALTER TABLE fx_rates DROP COLUMN cash_sell"))
            for table in ("bank_contacts", "mortgage_rates", "mortgage_prepayment_rules"):
                conn.execute(text(f"DROP TABLE {table}"))
    finally:
        engine.dispose()

    client = await aiohttp_client(create_app(make_settings(db_path), clock=clock))
    engine = make_engine(sqlite_url(db_path))
    try:
        inspector = inspect(engine)
        columns = {c["name"] for c in inspector.get_columns("support_tickets")}
        assert {"priority", "reason", "active_key", "details", "closed_at"} <= columns
        indexes = {i["name"]: i for i in inspector.get_indexes("support_tickets")}
        assert indexes["ux_support_tickets_active_key"]["unique"]
        assert "cash_sell" in {c["name"] for c in inspector.get_columns("fx_rates")}
    finally:
        engine.dispose()

    # the old open hand-off is the user's hand-off; an urgent request upgrades it
    resp = await client.post(
        "/support/tickets",
        json={"kind": "handoff", "channel": "wechat", "channel_user_id": "o-old",
              "reason": "stolen_card"},
    )
    assert resp.status == 200, await resp.text()
    ticket = await resp.json()
    assert (ticket["ticket_id"], ticket["priority"], ticket["existing"]) == (
        "H20261118-0001",
        "urgent",
        True,
    )
    assert ticket["hours"] == "每天 8:00-22:00"  # the default until the contacts are seeded
    assert (await (await client.get("/info/contacts")).json()) == []
    resp = await client.get(
        "/fx/convert", params={"amount": "100", "from": "CNY", "to": "USD", "cash": "true",
                               "amount_currency": "to"}
    )
    assert (await resp.json())["rate"]["price"] == "714.20"

    engine = make_engine(sqlite_url(db_path))
    try:
        seed_database(engine, TEST_START)  # re-seeding fills the new reference data
    finally:
        engine.dispose()
    assert len(await (await client.get("/info/contacts")).json()) == 8
    assert (await client.get("/loans/mortgage-rates")).status == 200
