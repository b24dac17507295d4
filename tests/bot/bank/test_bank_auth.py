"""One-time codes, bindings, tokens and the step-up window."""

from __future__ import annotations

import re
from datetime import datetime

from bot.bank.testing import LI_PHONE, ZHANG_PHONE

WECHAT = {"channel": "wechat", "channel_user_id": "o-zhang"}


async def request_code(bank, phone: str | None = ZHANG_PHONE, who: dict | None = None):
    body = dict(who or WECHAT)
    if phone is not None:
        body["phone"] = phone
    return await bank.client.post("/auth/otp", json=body)


async def verify(bank, code: str, who: dict | None = None):
    return await bank.client.post("/auth/otp/verify", json={**(who or WECHAT), "code": code})


async def test_bind_happy_path_via_sms_outbox(bank, settings):
    resp = await request_code(bank)
    assert resp.status == 202
    assert await resp.json() == {
        "masked_phone": "138****8000",
        "expires_in": settings.otp_ttl_seconds,
        "resend_after": settings.otp_resend_seconds,
    }
    outbox = await (
        await bank.client.get("/sandbox/sms-outbox", params={"phone": ZHANG_PHONE})
    ).json()
    assert len(outbox) == 1
    message = outbox[0]
    assert re.fullmatch(r"\d{6}", message["code"])
    assert message["text"] == f"【沪银】您的验证码为{message['code']}，5分钟内有效，请勿告诉他人。"

    resp = await verify(bank, message["code"])
    assert resp.status == 200
    session = await resp.json()
    assert session["customer_id"] == "C100001"
    assert len(session["token"]) >= 32
    verified = datetime.fromisoformat(session["verified_at"])
    expires = datetime.fromisoformat(session["step_up_expires_at"])
    assert (expires - verified).total_seconds() == settings.verify_window_seconds
    assert verified == bank.clock()

    binding = await (await bank.client.get("/bindings/wechat/o-zhang")).json()
    assert binding == {
        "customer_id": "C100001",
        "customer_name": "张伟",
        "masked_phone": "138****8000",
        "vip": False,
    }
    # single use
    again = await verify(bank, message["code"])
    assert again.status == 400
    assert (await again.json())["error"]["code"] == "otp_not_requested"


async def test_unknown_binding_and_unknown_phone(bank, error):
    resp = await bank.client.get("/bindings/wechat/nobody")
    assert resp.status == 404
    assert (await error(resp))["code"] == "not_found"
    resp = await request_code(bank, "13700000000")
    assert resp.status == 404
    assert (await error(resp))["code"] == "customer_not_found"
    resp = await request_code(bank, "12345")
    assert resp.status == 400
    assert (await error(resp))["code"] == "bad_request"


async def test_step_up_without_binding_needs_bind(bank, error):
    resp = await request_code(bank, None)
    assert resp.status == 401
    err = await error(resp)
    assert err["code"] == "verification_required"
    assert err["details"]["level"] == "bind"


async def test_verify_without_request(bank, error):
    resp = await verify(bank, "123456")
    assert resp.status == 400
    assert (await error(resp))["code"] == "otp_not_requested"


async def test_wrong_codes_lock_then_cool_down(bank, settings, error):
    assert (await request_code(bank)).status == 202
    code = await bank.latest_code(ZHANG_PHONE)
    wrong = "000000" if code != "000000" else "111111"
    for attempt in range(1, settings.otp_max_attempts):
        resp = await verify(bank, wrong)
        assert resp.status == 400
        err = await error(resp)
        assert err["code"] == "otp_invalid"
        assert err["details"]["attempts_left"] == settings.otp_max_attempts - attempt
    resp = await verify(bank, wrong)
    assert resp.status == 429
    err = await error(resp)
    assert err["code"] == "otp_locked"
    assert err["details"]["retry_after"] == settings.otp_cooldown_seconds
    assert resp.headers["Retry-After"] == str(settings.otp_cooldown_seconds)

    # even the right code is refused during the cool-down, and so is a new code
    resp = await verify(bank, code)
    assert resp.status == 429
    bank.clock.advance(settings.otp_cooldown_seconds - 100)
    resp = await request_code(bank)
    assert resp.status == 429
    err = await error(resp)
    assert err["code"] == "otp_locked" and err["details"]["retry_after"] == 100

    # after the cool-down the old code is dead, a new one works
    bank.clock.advance(101)
    assert (await verify(bank, code)).status == 410
    assert (await request_code(bank)).status == 202
    resp = await verify(bank, await bank.latest_code(ZHANG_PHONE))
    assert resp.status == 200


async def test_code_expires_with_the_clock(bank, settings, error):
    assert (await request_code(bank)).status == 202
    code = await bank.latest_code(ZHANG_PHONE)
    bank.clock.advance(settings.otp_ttl_seconds)
    resp = await verify(bank, code)
    assert resp.status == 410
    assert (await error(resp))["code"] == "otp_expired"


async def test_resend_is_throttled(bank, settings, error):
    assert (await request_code(bank)).status == 202
    bank.clock.advance(settings.otp_resend_seconds - 20)
    resp = await request_code(bank)
    assert resp.status == 429
    err = await error(resp)
    assert err["code"] == "otp_locked"
    assert err["details"]["retry_after"] == 20
    # another chat user asking for the same phone is throttled too
    other = {"channel": "web", "channel_user_id": "sess-1"}
    assert (await request_code(bank, ZHANG_PHONE, other)).status == 429
    bank.clock.advance(20)
    assert (await request_code(bank)).status == 202
    # the newest code replaces the earlier one
    outbox = await (
        await bank.client.get("/sandbox/sms-outbox", params={"phone": ZHANG_PHONE})
    ).json()
    assert len(outbox) == 2
    resp = await verify(bank, outbox[0]["code"])
    assert resp.status == 200


async def test_token_levels_and_step_up_window(bank, settings, error):
    resp = await bank.client.get("/accounts")
    assert resp.status == 401
    assert (await error(resp))["details"]["level"] == "bind"
    resp = await bank.client.get("/accounts", headers=bank.auth("not-a-token"))
    assert resp.status == 401
    assert (await error(resp))["details"]["level"] == "bind"

    token = await bank.token()
    assert (await bank.client.get("/transactions", headers=bank.auth(token))).status == 200
    bank.clock.advance(settings.verify_window_seconds)
    # binding-level routes still work ...
    assert (await bank.client.get("/accounts", headers=bank.auth(token))).status == 200
    assert (await bank.client.get("/cards", headers=bank.auth(token))).status == 200
    # ... sensitive ones need a step-up
    for method, path, body in (
        ("GET", "/transactions", None),
        ("POST", "/transfers/quote", {"payee": "李娜", "amount": "1", "channel": "web"}),
        (
            "POST",
            "/transfers",
            {"payee": "李娜", "amount": "1", "channel": "web", "idempotency_key": "step-up-key-1"},
        ),
        ("POST", "/cards/1234/freeze", None),
    ):
        resp = await bank.client.request(method, path, json=body, headers=bank.auth(token))
        assert resp.status == 401, path
        err = await error(resp)
        assert (err["code"], err["details"]["level"]) == ("verification_required", "step_up")
    assert await bank.balance(token) == "52380.15"

    # step-up: no phone, the bound customer gets a code
    resp = await request_code(bank, None)
    assert resp.status == 202
    assert (await resp.json())["masked_phone"] == "138****8000"
    resp = await verify(bank, await bank.latest_code(ZHANG_PHONE))
    fresh = (await resp.json())["token"]
    assert (await bank.client.get("/transactions", headers=bank.auth(fresh))).status == 200
    # the earlier token of this chat user is revoked
    resp = await bank.client.get("/accounts", headers=bank.auth(token))
    assert resp.status == 401

    # binding-level tokens expire too
    bank.clock.advance(settings.bind_ttl_seconds)
    resp = await bank.client.get("/accounts", headers=bank.auth(fresh))
    assert resp.status == 401
    assert (await error(resp))["details"]["level"] == "bind"


async def test_rebinding_a_chat_user_to_another_customer(bank):
    zhang = await bank.bind()
    li = await bank.bind(LI_PHONE)  # same chat user proves another phone
    assert li["customer_name"] == "李娜"
    binding = await (await bank.client.get("/bindings/wechat/o-zhang")).json()
    assert binding["customer_name"] == "李娜" and binding["vip"] is True
    assert (await bank.client.get("/accounts", headers=bank.auth(zhang["token"]))).status == 401


async def test_bad_auth_bodies(bank, error):
    for body in (
        b"{not json",
        b"[]",
        b'{"channel": "wechat"}',
        b'{"channel": 5, "channel_user_id": "x"}',
        b'{"channel": "wechat", "channel_user_id": "x", "phone": "13800138000", "admin": true}',
        b'{"channel": "WeChat!", "channel_user_id": "x", "phone": "13800138000"}',
    ):
        resp = await bank.client.post("/auth/otp", data=body)
        assert resp.status == 400, body
        assert (await error(resp))["code"] == "bad_request"
    resp = await bank.client.post("/auth/otp/verify", json={**WECHAT, "code": "12ab56"})
    assert resp.status == 400


async def test_sms_outbox_is_hidden_outside_the_sandbox(aiohttp_client, settings, clock, error):
    import dataclasses

    from bot.bank.app import create_app

    client = await aiohttp_client(
        create_app(dataclasses.replace(settings, profile="production"), clock=clock)
    )
    resp = await client.post("/auth/otp", json={**WECHAT, "phone": ZHANG_PHONE})
    assert resp.status == 202
    resp = await client.get("/sandbox/sms-outbox", params={"phone": ZHANG_PHONE})
    assert resp.status == 404
    assert (await error(resp))["code"] == "not_found"
