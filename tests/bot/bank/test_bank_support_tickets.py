"""Hand-offs (one per chat user, priority, the line, hours), status changes, complaint
details and disputes."""

from __future__ import annotations

from datetime import datetime

from bot.bank.clock import CST
from bot.bank.testing import LI_PHONE


async def open_ticket(bank, *, status=201, **fields):
    body = {"kind": "handoff", "channel": "wechat", "channel_user_id": "o-zhang", **fields}
    resp = await bank.client.post("/support/tickets", json=body)
    assert resp.status == status, await resp.text()
    return await resp.json()


async def patch(bank, ticket_id, status):
    return await bank.client.patch(f"/support/tickets/{ticket_id}", json={"status": status})


async def test_one_handoff_per_chat_user(bank):
    first = await open_ticket(bank, text="转人工")
    assert first["existing"] is False and first["ticket_id"] == "H20261118-0001"
    assert (first["priority"], first["reason"], first["status"]) == ("normal", None, "open")
    again = await open_ticket(bank, status=200, text="人呢？")
    assert again["ticket_id"] == first["ticket_id"] and again["existing"] is True
    # another channel of the same id is another chat user
    other = await open_ticket(bank, channel="web")
    assert other["ticket_id"] == "H20261118-0002" and other["existing"] is False
    listed = await (
        await bank.client.get("/support/tickets", params={"channel_user_id": "o-zhang", "kind": "handoff"})
    ).json()
    assert len(listed) == 2


async def test_urgent_request_upgrades_and_jumps_the_line(bank):
    for user in ("u1", "u2", "u3"):
        await open_ticket(bank, channel_user_id=user)
    mine = await open_ticket(bank, channel_user_id="u4")
    assert (mine["position"], mine["within_hours"]) == (3, True)
    assert mine["expected_wait_minutes"] == 2 + 3 * 6
    assert (mine["hours"], mine["next_open"]) == ("每天 8:00-22:00", None)
    upgraded = await open_ticket(bank, status=200, channel_user_id="u4", reason="fraud")
    assert upgraded["ticket_id"] == mine["ticket_id"]
    assert (upgraded["priority"], upgraded["reason"], upgraded["position"]) == ("urgent", "fraud", 0)
    assert upgraded["expected_wait_minutes"] == 2  # nobody ahead: the base wait
    # a second urgent one queues behind the first urgent one, ahead of the normal ones
    second = await open_ticket(bank, channel_user_id="u5", priority="urgent", reason="stolen_card")
    assert second["position"] == 1
    tickets = await (await bank.client.get("/support/tickets", params={"channel_user_id": "u1"})).json()
    assert tickets[0]["position"] == 2  # u1 was first, now behind two urgent ones
    # a normal request does not downgrade
    again = await open_ticket(bank, status=200, channel_user_id="u4", priority="normal")
    assert again["priority"] == "urgent"


async def test_explicit_priority_wins_and_reasons_are_checked(bank, error):
    calm = await open_ticket(bank, channel_user_id="c1", reason="fraud", priority="normal")
    assert calm["priority"] == "normal"
    dispute = await open_ticket(bank, channel_user_id="c2", reason="disputed_transfer")
    assert dispute["priority"] == "normal"
    for fields in ({"reason": "bored"}, {"priority": "high"}, {"reason": "Fraud!"}):
        resp = await bank.client.post(
            "/support/tickets",
            json={"kind": "handoff", "channel": "web", "channel_user_id": "c3", **fields},
        )
        assert resp.status == 400, fields
        await error(resp)
    resp = await bank.client.post(
        "/support/tickets",
        json={"kind": "complaint", "channel": "web", "channel_user_id": "c3", "priority": "urgent"},
    )
    assert resp.status == 400


async def test_outside_hours_the_wait_is_null_and_next_open_is_given(bank, clock):
    clock.set(datetime(2026, 11, 18, 23, 30, tzinfo=CST))
    ticket = await open_ticket(bank)
    assert ticket["within_hours"] is False
    assert ticket["next_open"] == "2026-11-19T08:00:00+08:00"
    assert (ticket["position"], ticket["expected_wait_minutes"]) == (0, None)


async def test_status_transitions(bank, error):
    ticket = await open_ticket(bank)
    ticket_id = ticket["ticket_id"]
    resp = await patch(bank, ticket_id, "in_progress")
    assert resp.status == 200
    taken = await resp.json()
    assert (taken["status"], taken["taken_at"], taken["position"]) == (
        "in_progress",
        "2026-11-18T10:00:00+08:00",
        None,
    )
    # a second member of staff cannot take it too
    resp = await patch(bank, ticket_id, "in_progress")
    assert resp.status == 409
    refusal = await error(resp)
    assert refusal["code"] == "invalid_ticket_transition"
    assert refusal["details"]["status"] == "in_progress" and refusal["details"]["allowed"] == ["closed"]
    # while in progress it is still the user's hand-off
    assert (await open_ticket(bank, status=200))["ticket_id"] == ticket_id
    bank.clock.advance(minutes=5)
    resp = await patch(bank, ticket_id, "closed")
    closed = await resp.json()
    assert (closed["status"], closed["closed_at"]) == ("closed", "2026-11-18T10:05:00+08:00")
    for status in ("open", "in_progress", "closed"):
        resp = await patch(bank, ticket_id, status)
        assert resp.status == 409, status
    # closed: the next request is a new hand-off
    fresh = await open_ticket(bank)
    assert fresh["ticket_id"] != ticket_id and fresh["existing"] is False
    resp = await patch(bank, fresh["ticket_id"], "closed")  # open -> closed
    assert resp.status == 200


async def test_status_errors(bank, error):
    resp = await patch(bank, "H20261118-0999", "closed")
    assert resp.status == 404 and (await error(resp))["code"] == "support_ticket_not_found"
    resp = await patch(bank, "nope", "closed")
    assert resp.status == 404
    ticket = await open_ticket(bank)
    for body in ({"status": "done"}, {}, {"status": "closed", "by": "x"}):
        resp = await bank.client.patch(f"/support/tickets/{ticket['ticket_id']}", json=body)
        assert resp.status == 400, body
        await error(resp)
    listed = await (await bank.client.get("/support/tickets", params={"channel_user_id": "o-zhang"})).json()
    assert listed[0]["status"] == "open"


async def complaint(bank, **fields):
    body = {"kind": "complaint", "channel": "wechat", "channel_user_id": "o-zhang", **fields}
    resp = await bank.client.post("/support/tickets", json=body)
    assert resp.status == 201, await resp.text()
    return await resp.json()


async def add_details(bank, ticket_id, text, *, user="o-zhang", channel="wechat"):
    return await bank.client.post(
        f"/support/tickets/{ticket_id}/details",
        json={"channel": channel, "channel_user_id": user, "text": text},
    )


async def test_each_complaint_is_its_own_ticket_and_takes_details(bank, clock, error):
    first = await complaint(bank, text="我要投诉")
    second = await complaint(bank, text="我要投诉")
    assert first["ticket_id"] != second["ticket_id"]
    assert first["category"] == "其他" and first["reply_due"] == "2026-11-20"
    clock.advance(minutes=3)
    resp = await add_details(bank, first["ticket_id"], "在人民广场支行排队等了两个小时")
    assert resp.status == 200
    updated = await resp.json()
    assert updated["category"] == "排队等候"  # 其他 re-inferred from the new words
    assert (updated["details_count"], updated["last_detail_at"]) == (1, "2026-11-18T10:03:00+08:00")
    assert updated["reply_due"] == "2026-11-20" and "text" not in updated
    resp = await add_details(bank, first["ticket_id"], "而且柜员态度很差")
    assert (await resp.json())["category"] == "排队等候"  # a named category is kept
    listed = await (await bank.client.get("/support/tickets", params={"channel_user_id": "o-zhang"})).json()
    recall = {t["ticket_id"]: t for t in listed}[first["ticket_id"]]
    assert (recall["kind"], recall["status"], recall["reply_due"], recall["details_count"]) == (
        "complaint",
        "open",
        "2026-11-20",
        2,
    )
    assert recall["created_at"] == "2026-11-18T10:00:00+08:00"


async def test_details_errors(bank, error):
    ticket = await complaint(bank, text="手续费乱收")
    resp = await add_details(bank, ticket["ticket_id"], "补充", user="o-other")
    assert resp.status == 404  # not this chat user's ticket
    resp = await add_details(bank, ticket["ticket_id"], "   ")
    assert resp.status == 400
    resp = await add_details(bank, "C20261118-0999", "补充")
    assert resp.status == 404 and (await error(resp))["code"] == "support_ticket_not_found"
    handoff = await open_ticket(bank)
    resp = await add_details(bank, handoff["ticket_id"], "补充")
    assert resp.status == 400 and (await error(resp))["details"]["reason"] == "wrong_kind"
    assert (await patch(bank, ticket["ticket_id"], "closed")).status == 200
    resp = await add_details(bank, ticket["ticket_id"], "补充")
    assert resp.status == 409 and (await error(resp))["code"] == "ticket_closed"


async def test_disputes_name_the_customers_transactions(bank, clock, error):
    token = await bank.token()  # binds o-zhang
    items = (await bank.get("/transactions", token, merchant="美团", limit=2))["items"]
    ids = [t["transaction_id"] for t in items]
    clock.set(clock().replace(day=20, hour=16))  # Friday: due Tuesday
    resp = await bank.client.post(
        "/support/tickets",
        json={
            "kind": "dispute",
            "channel": "wechat",
            "channel_user_id": "o-zhang",
            "text": "美团同一笔扣了两次",
            "transaction_ids": ids,
        },
    )
    assert resp.status == 201, await resp.text()
    dispute = await resp.json()
    assert dispute["ticket_id"] == "D20261120-0001"
    assert (dispute["kind"], dispute["category"], dispute["reply_due"]) == (
        "dispute",
        "重复扣款",
        "2026-11-24",
    )
    assert dispute["transaction_ids"] == ids and dispute["customer_id"] == "C100001"
    resp = await add_details(bank, dispute["ticket_id"], "第二笔是12:40扣的")
    assert resp.status == 200
    wrong = await (
        await bank.client.post(
            "/support/tickets",
            json={"kind": "dispute", "channel": "wechat", "channel_user_id": "o-zhang",
                  "text": "转错账了，转给了别人"},
        )
    ).json()
    assert wrong["category"] == "转错账" and wrong["transaction_ids"] == []
    # 李娜's transaction is not 张伟's to dispute; nor is an unknown id
    li = await bank.token(LI_PHONE, user="o-lina")
    li_txn = (await bank.get("/transactions", li, limit=1))["items"][0]["transaction_id"]
    for bad in ([li_txn], ["TXNOPE"], [ids[0], li_txn]):
        resp = await bank.client.post(
            "/support/tickets",
            json={"kind": "dispute", "channel": "wechat", "channel_user_id": "o-zhang",
                  "transaction_ids": bad},
        )
        assert resp.status == 400, bad
        refusal = await error(resp)
        assert refusal["details"]["reason"] == "unknown_transaction"
    # an unbound chat user cannot name transactions
    resp = await bank.client.post(
        "/support/tickets",
        json={"kind": "dispute", "channel": "web", "channel_user_id": "nobody",
              "transaction_ids": ids},
    )
    assert resp.status == 401
    # transaction ids are for disputes only; bad shapes are refused
    for fields in (
        {"kind": "complaint", "transaction_ids": ids},
        {"kind": "dispute", "transaction_ids": "TX1"},
        {"kind": "dispute", "transaction_ids": ["a b"]},
        {"kind": "dispute", "transaction_ids": ["TX1"] * 11},
        {"kind": "dispute", "category": "天气"},
    ):
        resp = await bank.client.post(
            "/support/tickets",
            json={"channel": "wechat", "channel_user_id": "o-zhang", **fields},
        )
        assert resp.status == 400, fields
        await error(resp)


GARBAGE = [
    b"",
    b"null",
    b"[]",
    b"\xff\xfe",
    b'{"status": ["closed"]}',
    b'{"status": null}',
    b'{"text": {"a": 1}, "channel": "wechat", "channel_user_id": "o-zhang"}',
    b'{"kind": "dispute", "channel": "wechat", "channel_user_id": "o-zhang", "transaction_ids": [1]}',
    b'{"kind": "handoff", "channel": "wechat", "channel_user_id": "o-zhang", "reason": 5}',
    b"[" * 3000 + b"]" * 3000,
]


async def test_garbage_never_causes_a_server_error(bank, error):
    for body in GARBAGE:
        resp = await bank.client.post("/sandbox/reset", data=body)
        assert resp.status == (200 if body == b"" else 400), body[:30]
    ticket = await complaint(bank, text="排队太久")
    targets = [
        ("POST", "/support/tickets"),
        ("PATCH", f"/support/tickets/{ticket['ticket_id']}"),
        ("POST", f"/support/tickets/{ticket['ticket_id']}/details"),
        ("PATCH", "/support/tickets/%00"),
    ]
    for method, path in targets:
        for body in GARBAGE:
            resp = await bank.client.request(method, path, data=body)
            assert 400 <= resp.status < 500, (method, path, body[:30], resp.status)
            await error(resp)
    listed = await (await bank.client.get("/support/tickets", params={"channel_user_id": "o-zhang"})).json()
    assert [(t["status"], t["details_count"]) for t in listed] == [("open", 0)]



async def test_a_handoff_nobody_took_lapses_with_its_day(bank):
    first = await open_ticket(bank, channel_user_id="lapsing")
    bank.clock.advance(hours=24)
    second = await open_ticket(bank, channel_user_id="lapsing")
    assert second["ticket_id"] != first["ticket_id"] and second["existing"] is False
    listed = await bank.client.get(
        "/support/tickets", params={"channel_user_id": "lapsing", "kind": "handoff"}
    )
    states = {t["ticket_id"]: t["status"] for t in await listed.json()}
    assert states[first["ticket_id"]] == "closed"
