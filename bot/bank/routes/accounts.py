"""Accounts, transactions, payees, transfers and the credit-card bill."""

from __future__ import annotations

import re
from decimal import Decimal

from aiohttp import web

from ..errors import BadRequest
from ..httputil import authed, json_response, query, read_body
from ..service import accounts as service
from ..service import customers, transfers
from ..validation import parse_amount, parse_date, parse_int, require_str

routes = web.RouteTableDef()

LAST4 = re.compile(r"^\d{4}$")
IDEMPOTENCY_KEY = re.compile(r"^[A-Za-z0-9_.:\-]{8,128}$")
TRANSFER_FIELDS = ("payee", "amount", "channel", "payee_name")


@routes.get("/customers/me", allow_head=False)
async def my_profile(request: web.Request) -> web.Response:
    query(request, ())
    return json_response(await authed(request, customers.profile))


@routes.get("/accounts", allow_head=False)
async def list_accounts(request: web.Request) -> web.Response:
    query(request, ())
    return json_response(await authed(request, service.list_accounts))


@routes.get("/transactions", allow_head=False)
async def list_transactions(request: web.Request) -> web.Response:
    params = query(request, ("account_last4", "start", "end", "kind", "merchant", "limit"))
    last4 = params.get("account_last4") or None
    if last4 is not None and not LAST4.match(last4):
        raise BadRequest("'account_last4' must be 4 digits.", field="account_last4")
    start = parse_date(params.get("start"), "start")
    end = parse_date(params.get("end"), "end")
    limit = parse_int(params.get("limit"), "limit", default=10, minimum=1, maximum=100)
    kind = params.get("kind") or None
    merchant = (params.get("merchant") or "").strip()[:50] or None
    result = await authed(
        request,
        lambda s, ctx, customer: service.list_transactions(
            s,
            ctx,
            customer,
            account_last4=last4,
            start=start,
            end=end,
            kind=kind,
            merchant=merchant,
            limit=limit,
        ),
        step_up=True,
    )
    return json_response(result)


@routes.get("/payees", allow_head=False)
async def list_payees(request: web.Request) -> web.Response:
    query(request, ())
    return json_response(await authed(request, service.list_payees))


def _transfer_input(body: dict) -> tuple[str, Decimal, str, str | None]:
    payee = require_str(body, "payee", max_len=64)
    channel = require_str(body, "channel", max_len=16)
    amount = parse_amount(body.get("amount"))
    payee_name = require_str(body, "payee_name", max_len=64, required=False) or None
    assert payee is not None and channel is not None
    return payee, amount, channel, payee_name


@routes.post("/transfers/quote")
async def quote_transfer(request: web.Request) -> web.Response:
    body = await read_body(request, TRANSFER_FIELDS)
    payee, amount, channel, payee_name = _transfer_input(body)
    result = await authed(
        request,
        lambda s, ctx, customer: transfers.quote_transfer(
            s, ctx, customer, payee, amount, channel, payee_name
        ),
        step_up=True,
    )
    return json_response(result)


@routes.post("/transfers")
async def create_transfer(request: web.Request) -> web.Response:
    body = await read_body(request, (*TRANSFER_FIELDS, "idempotency_key"))
    payee, amount, channel, payee_name = _transfer_input(body)
    key = require_str(body, "idempotency_key", pattern=IDEMPOTENCY_KEY, max_len=128)
    assert key is not None
    result, created = await authed(
        request,
        lambda s, ctx, customer: transfers.create_transfer(
            s, ctx, customer, payee, amount, channel, key, payee_name
        ),
        step_up=True,
        retries=2,
    )
    return json_response(result, status=201 if created else 200)


@routes.get("/credit-card/bill", allow_head=False)
async def credit_card_bill(request: web.Request) -> web.Response:
    params = query(request, ("last4",))
    last4 = params.get("last4") or None
    if last4 is not None and not LAST4.match(last4):
        raise BadRequest("'last4' must be 4 digits.", field="last4")
    result = await authed(
        request, lambda s, ctx, customer: service.credit_card_bill(s, ctx, customer, last4)
    )
    return json_response(result)
