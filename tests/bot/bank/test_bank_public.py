"""Public groups: branches and queues, products and FX, support tickets, meta."""

from __future__ import annotations

import pytest

from bot.bank.clock import CST


async def get_json(bank, path, **params):
    resp = await bank.client.get(path, params=params)
    assert resp.status == 200, await resp.text()
    return await resp.json()


async def test_health(bank):
    assert await get_json(bank, "/health") == {"status": "ok"}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("人广", "人民广场支行"),
        ("人民广场", "人民广场支行"),
        ("人民广场附近的网点", "人民广场支行"),
        ("陆家嘴", "陆家嘴支行"),
        ("上海徐家汇支行", "徐家汇支行"),
        ("静安", "静安寺支行"),
        ("五角场那个", "五角场支行"),
    ],
)
async def test_branch_fuzzy_search(bank, query, expected):
    branches = await get_json(bank, "/branches", q=query)
    assert [b["name"] for b in branches] == [expected]


async def test_branches_by_area_and_distance(bank):
    assert [b["name"] for b in await get_json(bank, "/branches", area="浦东")] == ["陆家嘴支行"]
    assert [b["name"] for b in await get_json(bank, "/branches", area="黄浦区")] == ["人民广场支行"]
    # standing at Jing'an Temple metro station
    near = await get_json(bank, "/branches", lat="31.2237", lng="121.4460")
    assert near[0]["name"] == "静安寺支行"
    assert near[0]["distance_km"] < 0.2
    distances = [b["distance_km"] for b in near]
    assert distances == sorted(distances) and len(near) == 5
    assert near[-1]["name"] == "五角场支行"


async def test_branch_detail_queues_and_opening(bank, clock):
    branch = await get_json(bank, "/branches/SH001")
    assert branch["name"] == "人民广场支行"
    assert branch["open_now"] is True and branch["closes_at"].endswith("17:00:00+08:00")
    personal = next(q for q in branch["queues"] if q["service_type"] == "个人业务")
    assert personal == {
        **personal,
        "waiting": 18,
        "counters_open": 3,
        "avg_service_minutes": 8,
        "estimated_wait_minutes": 48,
    }
    queues = await get_json(bank, "/branches/SH001/queues")
    assert queues == branch["queues"]
    # Saturday 08:00: closed, opens at 09:00; 静安寺 is closed at weekends until Monday
    clock.set(clock().replace(day=21, hour=8))
    branch = await get_json(bank, "/branches/SH001")
    assert branch["open_now"] is False and branch["opens_at"] == "2026-11-21T09:00:00+08:00"
    jingan = await get_json(bank, "/branches/SH004")
    assert jingan["hours"]["weekend"] is None
    assert jingan["opens_at"] == "2026-11-23T09:00:00+08:00"
    assert clock().tzinfo == CST


async def test_branch_errors(bank, error):
    resp = await bank.client.get("/branches/SH999")
    assert resp.status == 404
    assert (await error(resp))["code"] == "not_found"
    for params in ({"lat": "31.2"}, {"lat": "abc", "lng": "121"}, {"lat": "91", "lng": "121"}):
        resp = await bank.client.get("/branches", params=params)
        assert resp.status == 400, params
        await error(resp)


async def test_products_filters_and_disclosure(bank, error):
    wealth = await get_json(bank, "/products", type="理财")
    assert wealth and all(p["type"] == "wealth" for p in wealth)
    assert all(p["disclosure"] == "理财非存款，产品有风险，投资须谨慎" for p in wealth)
    c3 = await get_json(bank, "/products", max_risk="C3")
    assert c3 and all(p["risk_level"] in ("R1", "R2", "R3") for p in c3)
    assert {p["type"] for p in c3} == {"deposit", "wealth"}
    deposits = await get_json(bank, "/products", type="deposit")
    assert all(p["disclosure"] is None for p in deposits)
    cd = next(p for p in deposits if p["category"] == "大额存单")
    assert cd["min_amount"] == "200000.00"
    product = await get_json(bank, f"/products/{cd['code']}")
    assert product == cd
    resp = await bank.client.get("/products/NOPE")
    assert resp.status == 404
    for params in ({"type": "股票"}, {"max_risk": "R9"}):
        resp = await bank.client.get("/products", params=params)
        assert resp.status == 400
        await error(resp)


async def test_fx_rates(bank):
    rates = {r["currency"]: r for r in await get_json(bank, "/fx-rates")}
    assert rates["USD"]["name"] == "美元"
    assert rates["USD"]["buy"] == "711.20"


async def test_support_tickets(bank, clock, error):
    # Friday afternoon: the complaint reply is due on Tuesday (2 working days)
    clock.set(clock().replace(day=20, hour=15))
    resp = await bank.client.post(
        "/support/tickets",
        json={
            "kind": "complaint",
            "channel": "wechat",
            "channel_user_id": "o-zhang",
            "category": "服务态度",
            "text": "柜员态度不好",
            "summary": "投诉柜台服务",
        },
    )
    assert resp.status == 201
    complaint = await resp.json()
    assert complaint["ticket_id"] == "C20261120-0001"
    assert complaint["reply_due"] == "2026-11-24"
    assert complaint["created_at"] == "2026-11-20T15:00:00+08:00"

    await bank.bind()  # a bound user's ticket carries the customer id
    resp = await bank.client.post(
        "/support/tickets",
        json={"kind": "handoff", "channel": "wechat", "channel_user_id": "o-zhang"},
    )
    handoff = await resp.json()
    assert handoff["ticket_id"] == "H20261120-0001"
    assert handoff["reply_due"] is None and handoff["customer_id"] == "C100001"
    resp = await bank.client.post(
        "/support/tickets", json={"kind": "complaint", "channel": "web", "channel_user_id": "s-1"}
    )
    assert (await resp.json())["ticket_id"] == "C20261120-0002"

    tickets = await get_json(bank, "/support/tickets", channel_user_id="o-zhang")
    assert [t["ticket_id"] for t in tickets] == ["H20261120-0001", "C20261120-0001"]

    for body in (
        {"kind": "praise", "channel": "web", "channel_user_id": "s-1"},
        {"kind": "handoff", "channel": "web"},
        {"kind": "handoff", "channel": "web", "channel_user_id": "s-1", "text": "x" * 2001},
        {"kind": "handoff", "channel": "web", "channel_user_id": "s-1", "priority": "high"},
    ):
        resp = await bank.client.post("/support/tickets", json=body)
        assert resp.status == 400, body
        await error(resp)
    resp = await bank.client.get("/support/tickets")
    assert resp.status == 400


async def test_unknown_route_and_method_are_json(bank, error):
    resp = await bank.client.get("/nope")
    assert resp.status == 404
    assert (await error(resp))["code"] == "not_found"
    resp = await bank.client.delete("/accounts")
    assert resp.status == 405
    assert (await error(resp))["code"] == "method_not_allowed"
    resp = await bank.client.post("/support/tickets", data=b"x" * (70 * 1024))
    assert resp.status == 413
    assert (await error(resp))["code"] == "payload_too_large"


GARBAGE_BODIES = [
    b"",
    b"null",
    b"[]",
    b"\xff\xfe\x00",
    b"[" * 5000 + b"]" * 5000,
    b'{"amount": NaN}',
    b'{"amount": Infinity, "payee": "x", "channel": "web", "idempotency_key": "k-garbage-01"}',
    b'{"amount": "1e999999999", "payee": "x", "channel": "web", "idempotency_key": "k-garbage-01"}',
    b'{"amount": 1e-999999999, "payee": "x", "channel": "web", "idempotency_key": "k-garbage-01"}',
    b'{"amount": ' + b"9" * 5000 + b', "payee": "x", "channel": "web"}',
    b'{"payee": {"nested": 1}, "amount": "1", "channel": "web", "idempotency_key": "k-garbage-01"}',
    b'{"channel": "wechat", "channel_user_id": "' + b"x" * 500 + b'", "phone": "13800138000"}',
    b'{"channel": "wechat", "channel_user_id": "a b", "code": "123456"}',
    b'{"kind": ["handoff"], "channel": "web", "channel_user_id": "x"}',
]


async def test_garbage_never_causes_a_server_error(bank, error):
    token = await bank.token()
    paths = [
        "/auth/otp",
        "/auth/otp/verify",
        "/transfers",
        "/transfers/quote",
        "/support/tickets",
        "/cards/1234/freeze",
    ]
    for path in paths:
        for body in GARBAGE_BODIES:
            resp = await bank.client.post(path, data=body, headers=bank.auth(token))
            assert 400 <= resp.status < 500 or resp.status == 200, (path, body[:40], resp.status)
            if resp.status != 200:
                await error(resp)
            elif path.startswith("/cards"):  # the card route takes no body
                await bank.client.post("/cards/1234/unfreeze", headers=bank.auth(token))
    for path, params in (
        ("/transactions", {"limit": "9" * 30}),
        ("/transactions", {"start": "0000-00-00"}),
        ("/transactions", {"merchant": "%" * 300}),
        ("/branches", {"lat": "nan", "lng": "inf"}),
        ("/branches", {"q": "'; drop table branches; --"}),
        ("/products", {"max_risk": "C"}),
        ("/sandbox/sms-outbox", {"phone": "abc"}),
        ("/support/tickets", {"channel_user_id": "a b"}),
    ):
        resp = await bank.client.get(path, params=params, headers=bank.auth(token))
        assert resp.status < 500, (path, params)
        await resp.read()
    assert await bank.balance(token) == "52380.15"
