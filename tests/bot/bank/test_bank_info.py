"""Public information: the bank clock, hotlines and hours, housing-loan rates."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from bot.bank.app import create_app
from bot.bank.clock import CST, SandboxClock


async def get_json(bank, path, **params):
    resp = await bank.client.get(path, params=params)
    assert resp.status == 200, await resp.text()
    return await resp.json()


async def test_time_follows_the_bank_clock(bank, clock):
    assert await get_json(bank, "/time") == {
        "now": "2026-11-18T10:00:00+08:00",
        "today": "2026-11-18",
        "timezone": "Asia/Shanghai",
    }
    clock.set(datetime(2026, 11, 30, 23, 59, tzinfo=CST))
    clock.advance(minutes=2)  # past midnight in Beijing: the 1st of December
    assert (await get_json(bank, "/time"))["today"] == "2026-12-01"


async def test_time_follows_the_sandbox_clock_route(aiohttp_client, settings):
    client = await aiohttp_client(
        create_app(settings, clock=SandboxClock(datetime(2026, 11, 18, 10, 0, tzinfo=CST)))
    )
    resp = await client.post("/sandbox/clock", json={"set": "2026-10-31T23:00:00+08:00"})
    assert resp.status == 200
    body = await (await client.get("/time")).json()
    assert body["today"] == "2026-10-31" and body["now"].startswith("2026-10-31T23:0")
    assert body["now"].endswith("+08:00")
    resp = await client.get("/time", params={"tz": "UTC"})
    assert resp.status == 400


async def test_contacts_list_every_service_with_hours(bank):
    contacts = {c["code"]: c for c in await get_json(bank, "/info/contacts")}
    assert list(contacts) == [
        "customer_service",
        "credit_card",
        "card_loss",
        "online_staff",
        "anti_fraud",
        "press_office",
        "mortgage",
        "vip",
    ]
    assert contacts["customer_service"]["hours"] == "24小时"
    assert contacts["card_loss"]["days"] == "always" and contacts["card_loss"]["open_now"]
    anti_fraud = contacts["anti_fraud"]
    assert (anti_fraud["phone"], anti_fraud["other_phones"]) == ("110", ["96110"])
    press = contacts["press_office"]
    assert press["email"].endswith(".example") and press["phone"].startswith("021-6888-")
    assert (press["days"], press["opens"], press["closes"]) == ("workdays", "09:00", "17:30")
    online = contacts["online_staff"]
    assert (online["hours"], online["opens"], online["closes"]) == ("每天 8:00-22:00", "08:00", "22:00")
    assert online["phone"] is None
    # Wednesday 10:00: online staff are there until 22:00
    assert online["open_now"] is True and online["closes_at"] == "2026-11-18T22:00:00+08:00"
    assert online["next_open"] is None
    # the bank's own numbers are fictional; only the public 110/96110 are real
    for contact in contacts.values():
        numbers = [contact["phone"], *contact["other_phones"]]
        assert all(n is None or n in ("110", "96110") or n[:8] in ("400-820-", "021-6888")
                   for n in numbers), contact


async def test_open_now_and_next_open_follow_the_clock(bank, clock):
    clock.set(datetime(2026, 11, 18, 22, 0, tzinfo=CST))  # closing time
    (online,) = await get_json(bank, "/info/contacts", code="online_staff")
    assert online["open_now"] is False
    assert online["next_open"] == "2026-11-19T08:00:00+08:00"
    clock.set(datetime(2026, 11, 19, 7, 59, tzinfo=CST))
    (online,) = await get_json(bank, "/info/contacts", code="online_staff")
    assert (online["open_now"], online["next_open"]) == (False, "2026-11-19T08:00:00+08:00")
    clock.set(datetime(2026, 11, 21, 12, 0, tzinfo=CST))  # Saturday
    (online,) = await get_json(bank, "/info/contacts", code="online_staff")
    assert online["open_now"] is True  # every day
    (press,) = await get_json(bank, "/info/contacts", code="press_office")
    assert press["open_now"] is False and press["next_open"] == "2026-11-23T09:00:00+08:00"
    (hotline,) = await get_json(bank, "/info/contacts", code="customer_service")
    assert hotline["open_now"] is True and hotline["next_open"] is None


async def test_contact_errors(bank, error):
    resp = await bank.client.get("/info/contacts", params={"code": "nope"})
    assert resp.status == 404
    await error(resp)
    resp = await bank.client.get("/info/contacts", params={"code": "DROP TABLE"})
    assert resp.status == 400
    await error(resp)


async def test_mortgage_rates_and_prepayment_rules(bank):
    rates = await get_json(bank, "/loans/mortgage-rates")
    assert rates["as_of"] == "2026-10-20"
    assert rates["lpr_5y"] == {"name": "5年期以上LPR", "rate": "3.50", "as_of": "2026-10-20"}
    commercial = {r["code"]: r for r in rates["commercial"]}
    first = commercial["commercial_first"]
    assert (first["home"], first["base"], first["base_rate"], first["spread_bp"], first["rate"]) == (
        "first",
        "LPR5Y",
        "3.50",
        -45,
        "3.05",
    )
    for rate in commercial.values():  # the rate is the LPR plus the spread
        assert Decimal(rate["base_rate"]) + Decimal(rate["spread_bp"]) / 100 == Decimal(rate["rate"])
    fund = {r["code"]: r for r in rates["provident_fund"]}
    assert (fund["fund_first_le5y"]["term"], fund["fund_first_le5y"]["rate"]) == ("le5y", "2.10")
    assert (fund["fund_first_gt5y"]["term"], fund["fund_first_gt5y"]["rate"]) == ("gt5y", "2.60")
    assert fund["fund_second_le5y"]["rate"] == "2.525"  # three decimals kept
    assert all(r["base"] is None and r["spread_bp"] is None for r in fund.values())
    rules = {r["loan_type"]: r for r in rates["prepayment"]}
    assert set(rules) == {"commercial", "provident_fund"}
    assert rules["commercial"]["min_amount"] == "10000.00"
    assert rules["commercial"]["notice_working_days"] == 3
    assert "违约金" in rules["commercial"]["fee"] and "手机银行" in rules["commercial"]["channels"]
    assert rules["provident_fund"]["fee"] == "不收取违约金"


async def test_the_vip_profile_shows_the_manager_with_a_masked_mobile_only(bank):
    from bot.bank.seed import MANAGERS
    from bot.bank.testing import LI_PHONE

    li = await bank.token(LI_PHONE, user="o-lina")
    resp = await bank.client.get("/customers/me", headers=bank.auth(li))
    raw = await resp.text()
    manager = (await resp.json())["manager"]
    assert (manager["name"], manager["title"]) == ("王敏", "私人银行客户经理")
    assert manager["masked_mobile"] == "137****8021"
    assert manager["phone"] == "021-50471234 转 8021"  # the branch's office line
    assert MANAGERS[0]["mobile"] not in raw
    zhang = await bank.get("/customers/me", await bank.token())
    assert zhang["manager"] is None
