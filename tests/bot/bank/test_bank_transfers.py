"""Transfers: money moves exactly once, limits per channel, review, bad input."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal

import pytest

from bot.bank.seed import LI_SAVINGS_NUMBER, WANG_FANG_NUMBER, ZHANG_SAVINGS_NUMBER
from bot.bank.testing import LI_PHONE

NEW_PAYEE_NUMBER = "6228480012345670001"  # not a saved payee, not in this bank


async def transfer(bank, token, *, key, payee="李娜", amount="1000.00", channel="web"):
    return await bank.client.post(
        "/transfers",
        headers=bank.auth(token),
        json={"payee": payee, "amount": amount, "channel": channel, "idempotency_key": key},
    )


async def li_balance(bank) -> str:
    token = await bank.token(LI_PHONE, user="o-lina")
    return await bank.balance(token, "8888")


async def transactions(bank, token, **params):
    return (await bank.get("/transactions", token, limit=100, **params))["items"]


async def test_quote_shows_masked_details_and_limits(bank):
    token = await bank.token()
    resp = await bank.client.post(
        "/transfers/quote",
        headers=bank.auth(token),
        json={"payee": "李娜", "amount": "5000", "channel": "wechat"},
    )
    assert resp.status == 200
    assert await resp.json() == {
        "payee_name": "李娜",
        "payee_last4": "8888",
        "payee_bank": "沪银银行",
        "from_last4": "1234",
        "amount": "5000.00",
        "fee": "0.00",
        "new_payee": False,
        "review": False,
        "review_threshold": "10000.00",
        "channel": "wechat",
        "single_limit": "5000.00",
        "daily_remaining": "20000.00",
    }
    assert await bank.balance(token) == "52380.15"


async def test_transfer_to_li_na_moves_money_once_on_both_sides(bank):
    token = await bank.token()
    resp = await transfer(bank, token, key="key-li-na-0001", amount="1000.50")
    assert resp.status == 201
    result = await resp.json()
    assert result["status"] == "completed"
    assert result["replayed"] is False
    assert result["balance_after"] == "51379.65"
    assert (result["payee_name"], result["payee_last4"], result["from_last4"]) == (
        "李娜",
        "8888",
        "1234",
    )
    assert await bank.balance(token) == "51379.65"
    assert await li_balance(bank) == "1281000.50"

    newest = (await transactions(bank, token, account_last4="1234"))[0]
    assert (newest["amount"], newest["kind"], newest["counterparty"]) == (
        "-1000.50",
        "转账",
        "李娜",
    )
    assert newest["balance_after"] == "51379.65"


async def test_transfer_to_other_bank_payee_and_by_payee_id(bank):
    token = await bank.token()
    payees = await bank.get("/payees", token)
    wang = next(p for p in payees if p["name"] == "王芳")
    resp = await transfer(bank, token, key="key-wang-0001", payee=wang["payee_id"], amount="200")
    assert resp.status == 201
    assert (await resp.json())["payee_last4"] == "6666"
    resp = await transfer(bank, token, key="key-wang-0002", payee=WANG_FANG_NUMBER, amount="100")
    assert resp.status == 201  # a saved payee's full number counts as known
    assert await bank.balance(token) == "52080.15"


async def test_repeated_key_replays_without_moving_money(bank, error):
    token = await bank.token()
    first = await transfer(bank, token, key="key-repeat-0001", amount="300")
    assert first.status == 201
    first_body = await first.json()
    second = await transfer(bank, token, key="key-repeat-0001", amount="300.00")
    assert second.status == 200
    second_body = await second.json()
    assert second_body["replayed"] is True
    assert {**second_body, "replayed": False} == first_body
    assert await bank.balance(token) == "52080.15"
    assert await li_balance(bank) == "1280300.00"

    conflict = await transfer(bank, token, key="key-repeat-0001", amount="301")
    assert conflict.status == 409
    assert (await error(conflict))["code"] == "idempotency_conflict"
    assert await bank.balance(token) == "52080.15"


async def test_concurrent_duplicates_debit_once(bank):
    token = await bank.token()
    responses = await asyncio.gather(
        *(transfer(bank, token, key="key-concurrent-01", amount="700") for _ in range(8))
    )
    statuses = sorted(r.status for r in responses)
    assert statuses == [200] * 7 + [201]
    bodies = [await r.json() for r in responses]
    assert len({b["transfer_id"] for b in bodies}) == 1
    assert sum(1 for b in bodies if not b["replayed"]) == 1
    assert await bank.balance(token) == "51680.15"
    assert await li_balance(bank) == "1280700.00"
    txns = await transactions(bank, token, account_last4="1234", kind="转账")
    assert sum(1 for t in txns if t["amount"] == "-700.00") == 1


async def test_concurrent_different_keys_respect_the_daily_limit(bank):
    token = await bank.token()
    # wechat: 5,000 single / 20,000 daily -> only 4 of 6 transfers of 5,000 fit
    responses = await asyncio.gather(
        *(
            transfer(bank, token, key=f"key-daily-{i:04d}", amount="5000", channel="wechat")
            for i in range(6)
        )
    )
    statuses = sorted(r.status for r in responses)
    assert statuses == [201] * 4 + [422] * 2
    assert await bank.balance(token) == "32380.15"


async def test_single_limit_per_channel(bank, error):
    token = await bank.token()
    resp = await transfer(bank, token, key="key-single-0001", amount="5000.01", channel="wechat")
    assert resp.status == 422
    err = await error(resp)
    assert err["code"] == "limit_exceeded"
    assert err["details"] == {
        "kind": "single",
        "channel": "wechat",
        "limit": "5000.00",
        "remaining": "5000.00",
    }
    # the same amount is fine on the web channel
    resp = await transfer(bank, token, key="key-single-0002", amount="5000.01", channel="web")
    assert resp.status == 201
    resp = await transfer(bank, token, key="key-single-0003", amount="50000.01", channel="web")
    assert resp.status == 422
    assert (await error(resp))["details"]["kind"] == "single"


async def test_daily_limit_counts_completed_transfers_of_the_day(bank, clock, error):
    token = await bank.token()
    for i in range(4):
        resp = await transfer(bank, token, key=f"key-day-{i:04d}", amount="5000", channel="wechat")
        assert resp.status == 201
    resp = await transfer(bank, token, key="key-day-0004", amount="0.01", channel="wechat")
    assert resp.status == 422
    err = await error(resp)
    assert err["details"] == {
        "kind": "daily",
        "channel": "wechat",
        "limit": "20000.00",
        "remaining": "0.00",
    }
    # the web channel has its own allowance
    resp = await transfer(bank, token, key="key-day-web-0001", amount="1000", channel="web")
    assert resp.status == 201
    # a new day resets it (the token needs a fresh step-up by then)
    clock.advance(hours=14)
    token = await bank.token()
    resp = await transfer(bank, token, key="key-day-0005", amount="5000", channel="wechat")
    assert resp.status == 201


async def test_insufficient_funds_changes_nothing(bank, error):
    token = await bank.token()
    resp = await transfer(bank, token, key="key-poor-0001", amount="50000", channel="web")
    assert resp.status == 201
    resp = await transfer(bank, token, key="key-poor-0002", amount="2380.16", channel="web")
    assert resp.status == 422
    err = await error(resp)
    assert err["code"] == "insufficient_funds"
    assert err["details"]["available"] == "2380.15"
    resp = await transfer(bank, token, key="key-poor-0003", amount="2380.15", channel="web")
    assert resp.status == 201
    assert await bank.balance(token) == "0.00"


async def test_new_payee_with_large_amount_is_held_for_review(bank, settings):
    token = await bank.token()
    amount = str(settings.review_threshold)
    quote = await bank.client.post(
        "/transfers/quote",
        headers=bank.auth(token),
        json={"payee": NEW_PAYEE_NUMBER, "amount": amount, "channel": "web"},
    )
    quote_body = await quote.json()
    assert quote_body["review"] is True
    assert quote_body["payee_last4"] == "0001"
    resp = await transfer(bank, token, key="key-review-0001", payee=NEW_PAYEE_NUMBER, amount=amount)
    assert resp.status == 201
    body = await resp.json()
    assert body["status"] == "held_for_review"
    assert body["balance_after"] == "52380.15"
    assert await bank.balance(token) == "52380.15"
    # a small amount to the new payee completes; a large one to a saved payee too
    resp = await transfer(bank, token, key="key-review-0002", payee=NEW_PAYEE_NUMBER, amount="100")
    assert (await resp.json())["status"] == "completed"
    resp = await transfer(bank, token, key="key-review-0003", payee="李娜", amount=amount)
    assert (await resp.json())["status"] == "completed"


async def test_new_payee_in_this_bank_is_credited_with_a_masked_name(bank):
    token = await bank.token()
    resp = await transfer(bank, token, key="key-self-0001", payee=ZHANG_SAVINGS_NUMBER)
    assert resp.status == 400  # not to the paying account itself
    resp = await transfer(bank, token, key="key-known-0001", payee=LI_SAVINGS_NUMBER, amount="10")
    body = await resp.json()
    assert (body["payee_name"], body["status"]) == ("李娜", "completed")

    # 李娜 pays 张伟 by account number: not her saved payee, but an account in this bank
    li = await bank.token(LI_PHONE, user="o-lina")
    resp = await transfer(
        bank, li, key="key-li-to-zhang-1", payee=ZHANG_SAVINGS_NUMBER, amount="88"
    )
    body = await resp.json()
    assert (body["payee_name"], body["payee_last4"], body["status"]) == ("*伟", "1234", "completed")
    assert await bank.balance(token) == "52458.15"
    newest = (await transactions(bank, token, account_last4="1234"))[0]
    assert (newest["amount"], newest["counterparty"]) == ("88.00", "李娜")


async def test_unknown_payee(bank, error):
    token = await bank.token()
    resp = await transfer(bank, token, key="key-unknown-0001", payee="赵六")
    assert resp.status == 404
    assert (await error(resp))["code"] == "payee_not_found"


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b'"just a string"',
        b'{"payee": "\\u674e\\u5a1c", "amount": -5, "channel": "web", "idempotency_key": "k-bad-000001"}',
        b'{"payee": "\\u674e\\u5a1c", "amount": 0, "channel": "web", "idempotency_key": "k-bad-000001"}',
        b'{"payee": "\\u674e\\u5a1c", "amount": "abc", "channel": "web", "idempotency_key": "k-bad-000001"}',
        b'{"payee": "\\u674e\\u5a1c", "amount": "12.345", "channel": "web", "idempotency_key": "k-bad-000001"}',
        b'{"payee": "\\u674e\\u5a1c", "amount": 12.345, "channel": "web", "idempotency_key": "k-bad-000001"}',
        b'{"payee": "\\u674e\\u5a1c", "amount": true, "channel": "web", "idempotency_key": "k-bad-000001"}',
        b'{"payee": "\\u674e\\u5a1c", "amount": "1e3", "channel": "web", "idempotency_key": "k-bad-000001"}',
        b'{"payee": "\\u674e\\u5a1c", "amount": "NaN", "channel": "web", "idempotency_key": "k-bad-000001"}',
        b'{"payee": "\\u674e\\u5a1c", "amount": 1e30, "channel": "web", "idempotency_key": "k-bad-000001"}',
        b'{"payee": "\\u674e\\u5a1c", "amount": "10", "channel": "sms", "idempotency_key": "k-bad-000001"}',
        b'{"payee": "\\u674e\\u5a1c", "amount": "10", "channel": "web", "idempotency_key": "short"}',
        b'{"payee": "\\u674e\\u5a1c", "amount": "10", "channel": "web"}',
        b'{"payee": 42, "amount": "10", "channel": "web", "idempotency_key": "k-bad-000001"}',
        b'{"payee": "\\u674e\\u5a1c", "amount": "10", "channel": "web", "idempotency_key": "k-bad-000001", "fee": "0"}',
    ],
)
async def test_bad_input_is_a_4xx_json_error_and_changes_nothing(bank, error, body):
    token = await bank.token()
    resp = await bank.client.post("/transfers", data=body, headers=bank.auth(token))
    assert resp.status == 400, await resp.text()
    assert (await error(resp))["code"] == "bad_request"
    assert await bank.balance(token) == "52380.15"
    txns = await transactions(bank, token, account_last4="1234")
    assert txns[0]["balance_after"] == "52380.15"


async def test_quote_refuses_bad_amounts_too(bank, error):
    token = await bank.token()
    for amount in ("-1", "0.001", "abc", None):
        resp = await bank.client.post(
            "/transfers/quote",
            headers=bank.auth(token),
            data=json.dumps({"payee": "李娜", "amount": amount, "channel": "web"}),
        )
        assert resp.status == 400
        assert (await error(resp))["details"]["field"] == "amount"


async def test_frozen_card_blocks_transfers(bank, error):
    token = await bank.token()
    assert (await bank.client.post("/cards/1234/freeze", headers=bank.auth(token))).status == 200
    resp = await transfer(bank, token, key="key-frozen-0001")
    assert resp.status == 409
    err = await error(resp)
    assert (err["code"], err["details"]["state"]) == ("invalid_card_state", "frozen")
    assert Decimal(await bank.balance(token)) == Decimal("52380.15")
