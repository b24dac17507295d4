"""New payees by full account number with the name the customer gave."""

from __future__ import annotations

import logging

from bot.bank.seed import LI_SAVINGS_NUMBER, ZHANG_SAVINGS_NUMBER
from bot.bank.testing import LI_PHONE

OTHER_BANK_NUMBER = "6228480012345670001"  # not a saved payee, not in this bank


async def post(bank, path, token, **body):
    return await bank.client.post(path, headers=bank.auth(token), json=body)


async def quote(bank, token, **body):
    resp = await post(bank, "/transfers/quote", token, channel="web", **body)
    assert resp.status == 200, await resp.text()
    return await resp.json()


async def test_quote_says_new_payee_and_review_threshold(bank):
    token = await bank.token()
    saved = await quote(bank, token, payee="王芳", amount="20000")
    assert (saved["new_payee"], saved["review"], saved["review_threshold"]) == (
        False,
        False,
        "10000.00",
    )
    small = await quote(bank, token, payee=OTHER_BANK_NUMBER, payee_name="赵六", amount="500")
    assert (small["payee_name"], small["payee_bank"], small["payee_last4"]) == ("赵六", "他行", "0001")
    assert (small["new_payee"], small["review"]) == (True, False)
    large = await quote(bank, token, payee=OTHER_BANK_NUMBER, payee_name="赵六", amount="10000")
    assert (large["new_payee"], large["review"]) == (True, True)
    unnamed = await quote(bank, token, payee=OTHER_BANK_NUMBER, amount="500")
    assert unnamed["payee_name"] == "他行账户"  # as before when no name is given


async def test_in_bank_account_with_the_wrong_name_moves_nothing(bank, error):
    li = await bank.token(LI_PHONE, user="o-lina")
    zhang = await bank.token()
    before = (await bank.balance(li, "8888"), await bank.balance(zhang))
    body = {"payee": ZHANG_SAVINGS_NUMBER, "payee_name": "张三", "amount": "800", "channel": "web"}
    resp = await post(bank, "/transfers/quote", li, **body)
    assert resp.status == 400
    refusal = await error(resp)
    assert refusal["details"] == {"field": "payee_name", "reason": "name_mismatch"}
    assert "张伟" not in refusal["message"]  # the holder is not revealed
    resp = await post(bank, "/transfers", li, idempotency_key="mismatch-0001", **body)
    assert resp.status == 400 and (await error(resp))["details"]["reason"] == "name_mismatch"
    assert (await bank.balance(li, "8888"), await bank.balance(zhang)) == before
    # the key was not used up: the corrected request goes through under it
    resp = await post(
        bank, "/transfers", li, idempotency_key="mismatch-0001", **{**body, "payee_name": "张 伟"}
    )
    assert resp.status == 201, await resp.text()
    done = await resp.json()
    assert (done["status"], done["payee_name"]) == ("completed", "张 伟")
    assert await bank.balance(zhang) == "53180.15"


async def test_a_saved_in_bank_payee_is_checked_against_the_holder(bank, error):
    token = await bank.token()
    resp = await post(
        bank, "/transfers/quote", token, payee=LI_SAVINGS_NUMBER, payee_name="王五",
        amount="100", channel="web",
    )
    assert resp.status == 400 and (await error(resp))["details"]["reason"] == "name_mismatch"
    right = await quote(bank, token, payee=LI_SAVINGS_NUMBER, payee_name="李娜", amount="100")
    assert (right["payee_name"], right["new_payee"]) == ("李娜", False)


async def test_payee_name_needs_an_account_number(bank, error):
    token = await bank.token()
    resp = await post(
        bank, "/transfers/quote", token, payee="李娜", payee_name="李娜", amount="100", channel="web"
    )
    assert resp.status == 400
    assert (await error(resp))["details"]["reason"] == "account_number_required"
    resp = await post(
        bank, "/transfers/quote", token, payee=OTHER_BANK_NUMBER, payee_name="赵" * 65,
        amount="100", channel="web",
    )
    assert resp.status == 400


async def test_other_bank_transfer_keeps_the_name_and_masks_it_in_logs(bank, caplog):
    token = await bank.token()
    body = {
        "payee": OTHER_BANK_NUMBER,
        "payee_name": "赵六",
        "amount": "500",
        "channel": "web",
        "idempotency_key": "other-bank-0001",
    }
    with caplog.at_level(logging.INFO, logger="bot.bank"):
        resp = await post(bank, "/transfers", token, **body)
    assert resp.status == 201, await resp.text()
    transfer = await resp.json()
    assert (transfer["status"], transfer["payee_name"]) == ("completed", "赵六")
    newest = (await bank.get("/transactions", token))["items"][0]
    assert (newest["description"], newest["counterparty"]) == ("转账给赵六", "赵六")
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "*六" in logged and "赵六" not in logged and OTHER_BANK_NUMBER not in logged
    # payee_name is part of the request: the same key with another name is a conflict
    resp = await post(bank, "/transfers", token, **{**body, "payee_name": "赵七"})
    assert resp.status == 409
    resp = await post(bank, "/transfers", token, **{**body, "payee_name": None})
    assert resp.status == 409
    resp = await post(bank, "/transfers", token, **body)
    assert resp.status == 200 and (await resp.json())["replayed"] is True
    assert await bank.balance(token) == "51880.15"  # debited once
