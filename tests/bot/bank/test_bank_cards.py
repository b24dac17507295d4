"""Card state machine and the transaction filters."""

from __future__ import annotations

import pytest


async def change(bank, token, last4, action):
    return await bank.client.post(f"/cards/{last4}/{action}", headers=bank.auth(token))


async def test_cards_list(bank):
    token = await bank.token()
    cards = await bank.get("/cards", token)
    assert [(c["card_type"], c["last4"], c["state"]) for c in cards] == [
        ("储蓄卡", "1234", "active"),
        ("信用卡", "5678", "active"),
    ]


async def test_freeze_unfreeze_and_report_lost(bank, error):
    token = await bank.token()
    resp = await change(bank, token, "1234", "freeze")
    assert resp.status == 200
    assert (await resp.json())["state"] == "frozen"

    resp = await change(bank, token, "1234", "freeze")
    assert resp.status == 409
    err = await error(resp)
    assert (err["code"], err["details"]["state"]) == ("invalid_card_state", "frozen")

    resp = await change(bank, token, "1234", "unfreeze")
    assert (await resp.json())["state"] == "active"
    resp = await change(bank, token, "1234", "unfreeze")
    assert resp.status == 409

    # a frozen card can be reported lost; lost is permanent
    assert (await change(bank, token, "5678", "freeze")).status == 200
    resp = await change(bank, token, "5678", "report-lost")
    assert (await resp.json())["state"] == "lost"
    for action in ("report-lost", "freeze", "unfreeze"):
        resp = await change(bank, token, "5678", action)
        assert resp.status == 409, action
        assert (await error(resp))["details"]["state"] == "lost"
    cards = {c["last4"]: c["state"] for c in await bank.get("/cards", token)}
    assert cards == {"1234": "active", "5678": "lost"}


@pytest.mark.parametrize("last4", ["9999", "8888", "12", "abcd"])
async def test_unknown_card(bank, error, last4):
    token = await bank.token()
    resp = await change(bank, token, last4, "freeze")
    assert resp.status == 404
    assert (await error(resp))["code"] == "card_not_found"


async def test_credit_card_bill_errors(bank, error):
    token = await bank.token()
    resp = await bank.client.get(
        "/credit-card/bill", params={"last4": "1234"}, headers=bank.auth(token)
    )
    assert resp.status == 404
    assert (await error(resp))["code"] == "card_not_found"
    resp = await bank.client.get(
        "/credit-card/bill", params={"last4": "12x4"}, headers=bank.auth(token)
    )
    assert resp.status == 400


async def test_transaction_filters(bank, clock, error):
    token = await bank.token()

    async def get(path, token, **params):
        return (await bank.get(path, token, **params))["items"]

    assert len(await get("/transactions", token)) == 10  # default limit
    spending = await get("/transactions", token, kind="消费", limit=100)
    assert spending and all(t["kind"] == "消费" for t in spending)
    meituan = await get("/transactions", token, merchant="美团", limit=100)
    assert meituan and all(t["merchant"] == "美团" for t in meituan)
    assert [t["posted_at"] for t in meituan] == sorted(
        (t["posted_at"] for t in meituan), reverse=True
    )
    salary = await get("/transactions", token, kind="收入", merchant="工资", limit=100)
    assert len(salary) == 2
    week = await get("/transactions", token, start="2026-11-11", end="2026-11-17", limit=100)
    assert week and all("2026-11-11" <= t["posted_at"][:10] <= "2026-11-17" for t in week)
    assert await get("/transactions", token, account_last4="5678") == []
    assert await get("/transactions", token, merchant="100%_x") == []

    for params, status in (
        ({"kind": "赌博"}, 400),
        ({"start": "2026-13-01"}, 400),
        ({"start": "2026-11-10", "end": "2026-11-01"}, 400),
        ({"limit": "0"}, 400),
        ({"limit": "abc"}, 400),
        ({"account_last4": "9999"}, 404),
        ({"unknown": "1"}, 400),
    ):
        resp = await bank.client.get("/transactions", params=params, headers=bank.auth(token))
        assert resp.status == status, params
        await error(resp)
