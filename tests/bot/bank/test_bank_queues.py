"""Live branch queues: the clock moves them, tickets, opening hours, 分流 and search."""

from __future__ import annotations

import dataclasses
import random
from datetime import datetime, timedelta

import pytest

from bot.bank.app import create_app
from bot.bank.clock import CST
from bot.bank.models import Branch, BranchQueue, QueueTicket
from bot.bank.service.queues import advance, format_number
from bot.bank.testing import LI_PHONE, TEST_START


def who(user: str = "o-zhang", channel: str = "wechat") -> dict[str, str]:
    return {"channel": channel, "channel_user_id": user}


async def get_json(bank, path, **params):
    resp = await bank.client.get(path, params=params)
    assert resp.status == 200, await resp.text()
    return await resp.json()


async def queue(bank, branch_id="SH001", service="个人业务"):
    queues = await get_json(bank, f"/branches/{branch_id}/queues")
    return next(q for q in queues if q["service_type"] == service)


async def take(bank, branch_id="SH001", service="个人业务", *, user="o-zhang", token=None):
    body = {**who(user), "branch_id": branch_id, "service_type": service}
    headers = bank.auth(token) if token else None
    return await bank.client.post("/queue/tickets", json=body, headers=headers)


async def tickets(bank, user="o-zhang"):
    return await get_json(bank, "/queue/tickets", **who(user))


async def cancel(bank, ticket_id, user="o-zhang"):
    return await bank.client.post(f"/queue/tickets/{ticket_id}/cancel", json=who(user))


async def test_queue_status_and_divert_suggestion(bank):
    busy = await queue(bank)
    assert busy == {
        **busy,
        "branch_id": "SH001",
        "waiting": 18,
        "counters_open": 3,
        "avg_service_minutes": 8,
        "estimated_wait_minutes": 48,
        "offered": True,
        "open_now": True,
        "opens_at": None,
        "next_number": "A041",
    }
    # 静安寺 is about 3 km away with a 12-minute wait (陆家嘴, 21 minutes, loses)
    alternative = busy["alternative"]
    assert alternative["branch_id"] == "SH004" and alternative["name"] == "静安寺支行"
    assert alternative["estimated_wait_minutes"] == 12 and alternative["waiting"] == 4
    assert 2.0 <= alternative["distance_km"] <= 3.5
    # quiet queues get no suggestion
    assert (await queue(bank, "SH002"))["alternative"] is None
    assert (await queue(bank, "SH004"))["alternative"] is None
    # the branch listing carries the same live queues
    branch = await get_json(bank, "/branches/SH001")
    assert branch["queues"][0] == busy
    # 静安寺 does not offer 外汇: shown, but not offered
    fx = await queue(bank, "SH004", "外汇")
    assert fx["offered"] is False and fx["alternative"] is None


async def test_divert_thresholds_come_from_settings(aiohttp_client, settings, clock):
    strict = dataclasses.replace(settings, queue_divert_wait_minutes=60)
    client = await aiohttp_client(create_app(strict, clock=clock))
    queues = await (await client.get("/branches/SH001/queues")).json()
    assert queues[0]["estimated_wait_minutes"] == 48 and queues[0]["alternative"] is None


async def test_queue_advances_with_the_clock_and_the_ticket_is_called(bank, clock):
    resp = await take(bank)
    assert resp.status == 201, await resp.text()
    ticket = await resp.json()
    assert ticket["number"] == "A041" and ticket["status"] == "waiting"
    assert ticket["people_ahead"] == 18 and ticket["estimated_wait_minutes"] == 48
    assert ticket["branch"]["name"] == "人民广场支行"
    assert ticket["alternative"]["branch_id"] == "SH004"
    assert (await queue(bank))["waiting"] == 19

    # 10 minutes: 3 counters x 10 / 8 = 3.75 -> 3 called; 22 walk-ins/hour -> 3 arrive
    clock.advance(minutes=10)
    status = await queue(bank)
    assert (status["waiting"], status["next_number"]) == (19, "A045")
    assert status["updated_at"] == "2026-11-18T10:10:00+08:00"
    (mine,) = await tickets(bank)
    assert mine["people_ahead"] == 15 and mine["estimated_wait_minutes"] == 40

    # reading again within the same minute changes nothing
    clock.advance(seconds=30)
    assert (await tickets(bank))[0]["people_ahead"] == 15

    # 18 people ahead are called after floor(m * 3 / 8) >= 18 -> 48 minutes; this
    # ticket after 19 -> 51 minutes
    clock.set(TEST_START + timedelta(minutes=50))
    (mine,) = await tickets(bank)
    assert (mine["status"], mine["people_ahead"]) == ("waiting", 0)
    clock.set(TEST_START + timedelta(minutes=51))
    (mine,) = await tickets(bank)
    assert mine["status"] == "called" and mine["people_ahead"] is None
    assert mine["called_at"] == "2026-11-18T10:51:00+08:00"
    assert mine["alternative"] is None
    # a called ticket cannot be cancelled, and no longer blocks a new one
    resp = await cancel(bank, mine["ticket_id"])
    assert resp.status == 409
    assert (await resp.json())["error"]["details"]["status"] == "called"
    assert (await take(bank)).status == 201


def _queue_and_branch() -> tuple[BranchQueue, Branch]:
    branch = Branch(
        id="SHX",
        weekday_open="09:00",
        weekday_close="17:00",
        weekend_open=None,
        weekend_close=None,
        services=["个人业务"],
    )
    queue = BranchQueue(
        branch_id="SHX",
        service_type="个人业务",
        waiting=5,
        counters_open=2,
        avg_service_minutes=7,
        next_number=30,
        opening_waiting=5,
        arrivals_per_hour=13,
        service_progress=0,
        arrival_progress=0,
        last_advanced_at=TEST_START,
        updated_at=TEST_START,
    )
    return queue, branch


def _state(queue: BranchQueue) -> tuple[int, ...]:
    return (queue.waiting, queue.next_number, queue.service_progress, queue.arrival_progress)


def test_advance_does_not_depend_on_how_often_the_queue_is_read():
    rng = random.Random(7)
    end = TEST_START + timedelta(hours=9, minutes=13)  # past closing, into the evening
    once, branch = _queue_and_branch()
    advance(once, branch, end, [])
    for _ in range(5):
        often, _ = _queue_and_branch()
        moment = TEST_START
        while moment < end:
            moment = min(end, moment + timedelta(seconds=rng.randint(1, 900)))
            advance(often, branch, moment, [])
        assert _state(often) == _state(once)
    # the queue closed at 17:00 and reopens with the morning crowd
    assert once.waiting == 0
    advance(once, branch, datetime(2026, 11, 19, 9, 0, tzinfo=CST), [])
    assert (once.waiting, once.next_number) == (5, 6)
    assert format_number("个人业务", once.next_number) == "A006"
    assert format_number("贵宾", 1000) == "V001"


def test_an_empty_queue_banks_no_idle_time():
    queue, branch = _queue_and_branch()
    queue.waiting, queue.arrivals_per_hour = 0, 0
    advance(queue, branch, TEST_START + timedelta(hours=1), [])
    queue.waiting = 3  # three people walk in together
    ticket = QueueTicket(people_ahead=2, status="waiting")
    tickets = [ticket]
    advance(queue, branch, TEST_START + timedelta(hours=1, minutes=3), tickets)
    # 2 counters x 3 minutes / 7 = 0.86: nobody has been served yet
    assert queue.waiting == 3 and ticket.people_ahead == 2 and tickets == [ticket]
    advance(queue, branch, TEST_START + timedelta(hours=1, minutes=11), tickets)
    # 11 minutes -> 3 served: the ticket (third in line) is called in minute 11
    assert ticket.status == "called" and tickets == []
    assert ticket.called_at == TEST_START + timedelta(hours=1, minutes=11)


async def test_cancel_by_owner_only_and_only_once(bank):
    first = await (await take(bank, user="o-first")).json()
    second = await (await take(bank, user="o-second")).json()
    assert second["number"] == "A042" and second["people_ahead"] == 19

    resp = await cancel(bank, first["ticket_id"], user="o-second")
    assert resp.status == 404
    assert (await resp.json())["error"]["code"] == "ticket_not_found"
    resp = await bank.client.post(
        f"/queue/tickets/{first['ticket_id']}/cancel", json=who("o-first", "web")
    )
    assert resp.status == 404  # same id on another channel is another user

    resp = await cancel(bank, first["ticket_id"], user="o-first")
    assert resp.status == 200, await resp.text()
    cancelled = await resp.json()
    assert cancelled["status"] == "cancelled" and cancelled["people_ahead"] is None
    assert cancelled["closed_at"] == "2026-11-18T10:00:00+08:00"
    (behind,) = await tickets(bank, "o-second")
    assert behind["people_ahead"] == 18
    assert (await queue(bank))["waiting"] == 19
    assert await tickets(bank, "o-first") == []

    resp = await cancel(bank, first["ticket_id"], user="o-first")
    assert resp.status == 409
    error = (await resp.json())["error"]
    assert error["code"] == "ticket_not_active" and error["details"]["status"] == "cancelled"
    for bad in ("QTNOPE", "x" * 40, "a b"):
        resp = await cancel(bank, bad)
        assert resp.status == 404, bad


async def test_one_waiting_ticket_per_branch(bank, error):
    first = await (await take(bank)).json()
    resp = await take(bank, service="对公业务")
    assert resp.status == 409
    details = (await error(resp))["details"]
    assert details["ticket_id"] == first["ticket_id"] and details["number"] == "A041"
    other = await take(bank, "SH002")
    assert other.status == 201
    assert (await other.json())["number"] == "A021"
    assert {t["number"] for t in await tickets(bank)} == {"A021", "A041"}
    assert (await cancel(bank, first["ticket_id"])).status == 200
    again = await take(bank, service="对公业务")
    assert again.status == 201 and (await again.json())["number"] == "B010"


async def test_tickets_survive_a_restart_of_the_bank(aiohttp_client, bank, settings, clock):
    ticket = await (await take(bank, user="o-later")).json()
    clock.advance(minutes=10)
    later = await aiohttp_client(create_app(settings, clock=clock))
    resp = await later.get("/queue/tickets", params=who("o-later"))
    (found,) = await resp.json()
    assert found["ticket_id"] == ticket["ticket_id"] and found["people_ahead"] == 15
    resp = await later.post(f"/queue/tickets/{ticket['ticket_id']}/cancel", json=who("o-later"))
    assert resp.status == 200


async def test_closed_branch_refuses_tickets_and_says_when_it_opens(bank, clock, error):
    clock.set(TEST_START.replace(hour=16, minute=30))
    ticket = await (await take(bank)).json()
    assert ticket["people_ahead"] > 15  # more than half an hour before closing
    clock.set(TEST_START.replace(hour=22))
    resp = await take(bank, "SH002")
    assert resp.status == 409
    refusal = await error(resp)
    assert refusal["code"] == "branch_closed"
    assert refusal["details"]["opens_at"] == "2026-11-19T09:00:00+08:00"
    status = await queue(bank)
    assert status["open_now"] is False and status["opens_at"] == "2026-11-19T09:00:00+08:00"
    assert status["waiting"] == 0 and status["alternative"] is None
    # the ticket was not reached by closing time: it expired
    assert await tickets(bank) == []
    resp = await cancel(bank, ticket["ticket_id"])
    assert (await error(resp))["details"]["status"] == "expired"
    # next morning: the opening crowd, numbers start again
    clock.set(datetime(2026, 11, 19, 9, 0, tzinfo=CST))
    status = await queue(bank)
    assert (status["waiting"], status["next_number"], status["open_now"]) == (18, "A019", True)
    # Saturday: 静安寺 stays closed until Monday, so 人民广场 suggests 陆家嘴 (open, shorter wait)
    clock.set(datetime(2026, 11, 21, 10, 30, tzinfo=CST))
    resp = await take(bank, "SH004")
    assert (await error(resp))["details"]["opens_at"] == "2026-11-23T09:00:00+08:00"
    # (The sandbox's queues follow its clock deterministically: 人民广场 is busy at 10:30.)
    busy = await queue(bank)
    assert busy["open_now"] is True and busy["estimated_wait_minutes"] == 54
    alternative = busy["alternative"]
    assert alternative is not None, busy
    assert (alternative["branch_id"], alternative["name"]) == ("SH002", "陆家嘴支行")
    assert alternative["estimated_wait_minutes"] < busy["estimated_wait_minutes"]


async def test_vip_queue_and_services_a_branch_does_not_offer(bank, error):
    resp = await take(bank, service="贵宾")
    assert resp.status == 401
    assert (await error(resp))["details"]["level"] == "bind"
    zhang = await bank.token()
    resp = await take(bank, service="贵宾", token=zhang)
    assert resp.status == 403 and (await error(resp))["code"] == "vip_only"
    li = await bank.token(LI_PHONE, user="o-lina")
    resp = await take(bank, service="贵宾", user="o-lina", token=li)
    assert resp.status == 201
    vip = await resp.json()
    assert vip["number"] == "V004" and vip["people_ahead"] == 1
    resp = await take(bank, service="个人业务", token="not-a-token")
    assert resp.status == 401
    resp = await take(bank, "SH004", "外汇")
    assert resp.status == 422
    refusal = await error(resp)
    assert refusal["code"] == "service_not_offered" and "外汇" not in refusal["details"]["services"]


async def test_ticket_input_errors(bank, error):
    for body, field in (
        ({**who(), "branch_id": "SH001", "service_type": "理财"}, "service_type"),
        ({**who(), "branch_id": "SH001"}, "service_type"),
        ({"channel": "wechat", "branch_id": "SH001", "service_type": "个人业务"}, None),
        ({**who(), "branch_id": "SH001", "service_type": "个人业务", "vip": True}, None),
    ):
        resp = await bank.client.post("/queue/tickets", json=body)
        assert resp.status == 400, body
        refusal = await error(resp)
        if field:
            assert refusal["details"]["field"] == field
    resp = await take(bank, "SH999")
    assert resp.status == 404
    for params in ({}, {"channel": "wechat"}, {**who(), "extra": "1"}):
        resp = await bank.client.get("/queue/tickets", params=params)
        assert resp.status == 400, params
        await error(resp)
    for body in (b"", b"[]", b'{"channel": 1}', b"\xff"):
        resp = await bank.client.post("/queue/tickets", data=body)
        assert resp.status == 400
        resp = await bank.client.post("/queue/tickets/QT1/cancel", data=body)
        assert resp.status == 400


@pytest.mark.parametrize(
    ("params", "first"),
    [
        ({"q": "人民广场那个"}, "人民广场支行"),
        ({"q": "人广"}, "人民广场支行"),
        ({"area": "陆家嘴附近"}, "陆家嘴支行"),
        ({"area": "人民广场"}, "人民广场支行"),
        ({"lat": "31.1940", "lng": "121.4372"}, "徐家汇支行"),  # by 徐家汇 metro station
        ({"area": "外滩附近"}, "陆家嘴支行"),
        ({"q": "新天地"}, "人民广场支行"),
    ],
)
async def test_finding_a_branch(bank, params, first):
    found = await get_json(bank, "/branches", **params)
    assert found and found[0]["name"] == first


async def test_a_landmark_lists_the_branches_near_it(bank):
    near = await get_json(bank, "/branches", area="外滩附近")
    assert [b["name"] for b in near][:2] == ["陆家嘴支行", "人民广场支行"]
    assert all(b["distance_km"] <= 5 for b in near)
    assert "五角场支行" not in {b["name"] for b in near}
    far = await get_json(bank, "/branches", q="虹桥火车站")
    assert [b["name"] for b in far] == ["徐家汇支行"]  # nothing within 5 km: the nearest
    assert await get_json(bank, "/branches", q="火星") == []
