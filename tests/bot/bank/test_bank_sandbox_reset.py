"""POST /sandbox/reset: every customer's state back to the seeded demo data, in place."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from bot.bank.db import make_engine
from bot.bank.models import Base
from bot.bank.testing import ZHANG_PHONE, sqlite_url


def dump(db_path) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, sorted (autoincrement ids left out)."""
    engine = make_engine(sqlite_url(db_path))
    try:
        with engine.connect() as conn:
            tables = {}
            for table in Base.metadata.sorted_tables:
                columns = [
                    c for c in table.columns
                    if not (c.primary_key and c.autoincrement is True and len(table.primary_key) == 1
                            and c.type.python_type is int)
                ]
                rows = conn.execute(select(*columns)).all()
                tables[table.name] = sorted(tuple(map(repr, row)) for row in rows)
            return tables
    finally:
        engine.dispose()


async def test_reset_restores_the_seeded_state_without_moving_the_clock(bank, db_path, clock):
    fresh = dump(db_path)
    token = await bank.token()  # codes, SMS, binding, token
    auth = bank.auth(token)
    client = bank.client
    resp = await client.post(
        "/transfers",
        headers=auth,
        json={"payee": "李娜", "amount": "1000", "channel": "web", "idempotency_key": "reset-0001"},
    )
    assert resp.status == 201
    assert (await client.post("/cards/1234/freeze", headers=auth)).status == 200
    assert (await client.post("/cards/5678/report-lost", headers=auth)).status == 200
    assert (await client.post("/offers/decline", headers=auth, json={})).status == 200
    form = await (await client.get("/risk-assessment/questions")).json()
    answers = {q["id"]: q["options"][0]["id"] for q in form["questions"]}
    resp = await client.post("/risk-assessment", headers=auth, json={"answers": answers})
    assert resp.status == 201
    who = {"channel": "wechat", "channel_user_id": "o-zhang"}
    assert (await client.post("/support/tickets", json={**who, "kind": "handoff"})).status == 201
    assert (await client.post("/support/tickets", json={**who, "kind": "complaint"})).status == 201
    resp = await client.post(
        "/queue/tickets", json={**who, "branch_id": "SH001", "service_type": "个人业务"}
    )
    assert resp.status == 201
    for _ in range(5):  # a locked one-time code
        await client.post("/auth/otp", json={**who, "channel_user_id": "o-x", "phone": ZHANG_PHONE})
    clock.advance(minutes=30)
    assert dump(db_path) != fresh

    resp = await client.post("/sandbox/reset")
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    assert body == {
        "reset": True,
        "seeded_at": "2026-11-18T10:00:00+08:00",
        "now": "2026-11-18T10:30:00+08:00",
    }
    assert dump(db_path) == fresh
    assert (await (await client.get("/time")).json())["now"] == "2026-11-18T10:30:00+08:00"
    # old tokens are gone; the demo works again from the start
    assert (await client.get("/accounts", headers=auth)).status == 401
    outbox = await (await client.get("/sandbox/sms-outbox", params={"phone": ZHANG_PHONE})).json()
    assert outbox == []
    token = await bank.token()
    assert await bank.balance(token) == "52380.15"
    cards = {c["last4"]: c["state"] for c in await bank.get("/cards", token)}
    assert cards == {"1234": "active", "5678": "active"}
    assert (await bank.get("/offers/next", token))["offer"] is not None
    tickets = await (await client.get("/support/tickets", params={"channel_user_id": "o-zhang"})).json()
    assert tickets == []
    queues = {q["service_type"]: q for q in await (await client.get("/branches/SH001/queues")).json()}
    assert queues["个人业务"]["waiting"] > 0


async def test_reset_takes_no_body_fields(bank, error):
    resp = await bank.client.post("/sandbox/reset", json={"everything": True})
    assert resp.status == 400
    await error(resp)
    assert (await bank.client.post("/sandbox/reset", json={})).status == 200
