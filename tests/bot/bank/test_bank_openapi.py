"""The OpenAPI document matches the router and describes real responses."""

from __future__ import annotations

import dataclasses
from typing import Any

import jsonschema
import pytest
from jsonschema import Draft202012Validator, RefResolver

from bot.bank.app import create_app, load_openapi
from bot.bank.testing import LI_PHONE, ZHANG_PHONE

METHODS = {"get", "post", "put", "patch", "delete"}


def documented(doc: dict[str, Any]) -> set[tuple[str, str]]:
    return {
        (method.upper(), path)
        for path, item in doc["paths"].items()
        for method in item
        if method in METHODS
    }


def routed(app) -> set[tuple[str, str]]:
    return {(route.method, route.resource.canonical) for route in app.router.routes()}


def test_document_is_valid_openapi_31():
    doc = load_openapi()
    assert doc["openapi"].startswith("3.1")
    for schema in doc["components"]["schemas"].values():
        Draft202012Validator.check_schema(schema)


def test_router_and_document_list_the_same_routes(settings):
    doc = load_openapi()
    assert routed(create_app(settings)) == documented(doc)
    # outside the sandbox the sandbox group (outbox, clock, reset) is missing
    production = create_app(dataclasses.replace(settings, profile="production"))
    assert documented(doc) - routed(production) == {
        ("GET", "/sandbox/sms-outbox"),
        ("GET", "/sandbox/clock"),
        ("POST", "/sandbox/clock"),
        ("POST", "/sandbox/reset"),
    }


def test_every_operation_documents_its_success_and_errors():
    doc = load_openapi()
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            statuses = set(operation["responses"])
            assert statuses & {"200", "201", "202"}, (method, path)
            if "security" in operation:
                assert "401" in statuses, (method, path)


async def test_openapi_is_served_as_json_and_yaml(bank):
    resp = await bank.client.get("/openapi.json")
    assert resp.status == 200
    assert (await resp.json()) == load_openapi()
    resp = await bank.client.get("/openapi.yaml")
    assert resp.status == 200 and "openapi: 3.1.0" in await resp.text()


class Checker:
    def __init__(self, doc: dict[str, Any]) -> None:
        self.doc = doc
        self.resolver = RefResolver.from_schema(doc)

    def schema(self, method: str, path: str, status: int) -> dict[str, Any]:
        response = self.doc["paths"][path][method.lower()]["responses"][str(status)]
        if "$ref" in response:
            response = self.resolver.resolve(response["$ref"])[1]
        return response["content"]["application/json"]["schema"]

    def check(self, method: str, path: str, status: int, body: Any) -> None:
        schema = self.schema(method, path, status)
        Draft202012Validator(
            schema, resolver=self.resolver, format_checker=Draft202012Validator.FORMAT_CHECKER
        ).validate(body)


async def test_real_responses_match_the_documented_schemas(bank):
    checker = Checker(load_openapi())
    client = bank.client

    async def call(method, path, template=None, *, status=200, **kwargs):
        resp = await client.request(method, path, **kwargs)
        assert resp.status == status, await resp.text()
        body = await resp.json()
        checker.check(method, template or path, status, body)
        return body

    await call("GET", "/health")
    who = {"channel": "wechat", "channel_user_id": "o-zhang"}
    await call("POST", "/auth/otp", json={**who, "phone": ZHANG_PHONE}, status=202)
    outbox = await call("GET", "/sandbox/sms-outbox", params={"phone": ZHANG_PHONE})
    session = await call("POST", "/auth/otp/verify", json={**who, "code": outbox[0]["code"]})
    auth = {"Authorization": f"Bearer {session['token']}"}
    await call("GET", "/bindings/wechat/o-zhang", "/bindings/{channel}/{channel_user_id}")
    await call("GET", "/accounts", headers=auth)
    await call("GET", "/transactions", headers=auth)
    await call("GET", "/payees", headers=auth)
    await call("GET", "/cards", headers=auth)
    await call("GET", "/credit-card/bill", headers=auth)
    transfer = {"payee": "李娜", "amount": "12.30", "channel": "wechat"}
    await call("POST", "/transfers/quote", json=transfer, headers=auth)
    body = {**transfer, "idempotency_key": "openapi-check-1"}
    await call("POST", "/transfers", json=body, headers=auth, status=201)
    await call("POST", "/transfers", json=body, headers=auth, status=200)
    await call("POST", "/cards/1234/freeze", "/cards/{last4}/freeze", headers=auth)
    await call("POST", "/cards/1234/unfreeze", "/cards/{last4}/unfreeze", headers=auth)
    await call("POST", "/cards/5678/report-lost", "/cards/{last4}/report-lost", headers=auth)
    await call("POST", "/support/tickets", json={**who, "kind": "complaint"}, status=201)
    await call("GET", "/support/tickets", params={"channel_user_id": "o-zhang"})
    await call("GET", "/branches", params={"lat": "31.23", "lng": "121.47"})
    await call("GET", "/branches/SH002", "/branches/{branch_id}")
    await call("GET", "/branches/SH002/queues", "/branches/{branch_id}/queues")
    await call("GET", "/products")
    await call("GET", "/products/CD3Y", "/products/{code}")
    await call("GET", "/fx-rates")

    # documented errors
    await call("GET", "/accounts", status=401)
    await call("POST", "/transfers", json={**body, "amount": "-1"}, headers=auth, status=400)
    await call("POST", "/transfers", json={**body, "amount": "13"}, headers=auth, status=409)
    await call("POST", "/cards/5678/freeze", "/cards/{last4}/freeze", headers=auth, status=409)
    await call("GET", "/branches/SH404", "/branches/{branch_id}", status=404)


def test_checker_rejects_a_wrong_body():
    checker = Checker(load_openapi())
    with pytest.raises(jsonschema.ValidationError):
        checker.check("GET", "/accounts", 200, [{"account_id": "A1", "balance": 5}])


async def test_queue_and_suitability_responses_match_the_documented_schemas(bank):
    checker = Checker(load_openapi())
    client = bank.client

    async def call(method, path, template=None, *, status=200, **kwargs):
        resp = await client.request(method, path, **kwargs)
        assert resp.status == status, await resp.text()
        body = await resp.json()
        checker.check(method, template or path, status, body)
        return body

    who = {"channel": "wechat", "channel_user_id": "o-zhang"}
    token = await bank.token()
    auth = {"Authorization": f"Bearer {token}"}
    li = await bank.token(LI_PHONE, user="o-lina")
    li_auth = {"Authorization": f"Bearer {li}"}

    await call("GET", "/branches/SH001/queues", "/branches/{branch_id}/queues")
    await call("GET", "/branches", params={"area": "外滩"})
    take = {**who, "branch_id": "SH001", "service_type": "个人业务"}
    ticket = await call("POST", "/queue/tickets", json=take, status=201)
    assert ticket["alternative"] is not None
    vip = {"channel": "wechat", "channel_user_id": "o-lina", "branch_id": "SH002"}
    await call("POST", "/queue/tickets", json={**vip, "service_type": "贵宾"}, headers=li_auth,
               status=201)
    await call("GET", "/queue/tickets", params=who)
    cancel = f"/queue/tickets/{ticket['ticket_id']}/cancel"
    template = "/queue/tickets/{ticket_id}/cancel"
    await call("POST", cancel, template, json=who)
    await call("POST", cancel, template, json=who, status=409)
    await call("POST", "/queue/tickets/QTNOPE/cancel", template, json=who, status=404)
    await call("POST", "/queue/tickets", json={**take, "service_type": "贵宾"}, headers=auth,
               status=403)
    await call("POST", "/queue/tickets", json={**take, "branch_id": "SH004", "service_type": "外汇"},
               status=422)

    await call("GET", "/customers/me", headers=auth)
    await call("GET", "/customers/me", headers=li_auth)
    await call("GET", "/products", params={"q": "理财", "term_days_max": "400"})
    await call("GET", "/products/compare", params={"codes": "WM-R2-180,FD-R4-MIX"})
    await call("GET", "/risk-assessment/questions")
    form = await client.get("/risk-assessment/questions")
    answers = {q["id"]: q["options"][1]["id"] for q in (await form.json())["questions"]}
    await call("POST", "/risk-assessment", json={"answers": answers}, headers=auth, status=201)
    await call("GET", "/products/recommendations", params={"amount": "20000"}, headers=auth)
    path, template = "/products/WM-R1-CASH/suitability", "/products/{code}/suitability"
    await call("POST", path, template, json={"amount": "100"}, headers=auth)
    path = "/products/FD-R5-TECH/suitability"
    await call("POST", path, template, json={"amount": "100"}, headers=auth, status=422)
    await call("GET", "/fx/convert", params={"amount": "1000", "from": "USD"})
    await call("GET", "/support/complaint-categories")
    offer = await call("GET", "/offers/next", params={"context": "balance"}, headers=li_auth)
    assert offer["offer"] is not None
    await call(
        "POST", "/offers/decline", json={"offer_id": offer["offer"]["offer_id"]}, headers=li_auth
    )
    assert await call("GET", "/offers/next", headers=li_auth) == {"offer": None}
    await call("GET", "/offers/next", params={"context": "nope"}, headers=auth, status=400)
    await call("POST", "/offers/decline", json={}, status=401)
    bank.clock.set(bank.clock().replace(hour=22))
    await call("POST", "/queue/tickets", json=take, status=409)


async def test_info_statement_fx_and_ticket_responses_match_the_documented_schemas(bank):
    checker = Checker(load_openapi())
    client = bank.client

    async def call(method, path, template=None, *, status=200, **kwargs):
        resp = await client.request(method, path, **kwargs)
        assert resp.status == status, await resp.text()
        body = await resp.json()
        checker.check(method, template or path, status, body)
        return body

    await call("GET", "/time")
    await call("GET", "/info/contacts")
    await call("GET", "/info/contacts", params={"code": "online_staff"})
    await call("GET", "/info/contacts", params={"code": "nope"}, status=404)
    await call("GET", "/loans/mortgage-rates")
    token = await bank.token()
    auth = {"Authorization": f"Bearer {token}"}
    statement = await call(
        "GET", "/transactions", params={"kind": "支出", "start": "2026-10-01", "limit": "5"},
        headers=auth,
    )
    await call("GET", "/transactions", params={"kind": "花销"}, headers=auth, status=400)
    new_payee = {"payee": "6228480012345670001", "payee_name": "赵六", "amount": "20000",
                 "channel": "web"}
    assert (await call("POST", "/transfers/quote", json=new_payee, headers=auth))["review"]
    mismatch = {"payee": "6216610200000898888", "payee_name": "王五", "amount": "1",
                "channel": "web"}
    await call("POST", "/transfers/quote", json=mismatch, headers=auth, status=400)
    await call("GET", "/fx-rates")
    await call("GET", "/fx/convert", params={"amount": "5000", "from": "CNY", "to": "EUR",
                                            "amount_currency": "to", "cash": "true"})
    who = {"channel": "wechat", "channel_user_id": "o-zhang"}
    handoff = await call("POST", "/support/tickets", json={**who, "kind": "handoff",
                                                          "reason": "fraud"}, status=201)
    await call("POST", "/support/tickets", json={**who, "kind": "handoff"}, status=200)
    ids = [statement["items"][0]["transaction_id"]]
    dispute = await call("POST", "/support/tickets", json={**who, "kind": "dispute",
                                                          "transaction_ids": ids}, status=201)
    await call("POST", "/support/tickets", json={"channel": "web", "channel_user_id": "x",
                                                 "kind": "dispute", "transaction_ids": ids},
               status=401)
    details = "/support/tickets/{ticket_id}/details"
    path = f"/support/tickets/{dispute['ticket_id']}/details"
    await call("POST", path, details, json={**who, "text": "补充说明"})
    await call("POST", f"/support/tickets/{handoff['ticket_id']}/details", details,
               json={**who, "text": "x"}, status=400)
    await call("GET", "/support/tickets", params={"channel_user_id": "o-zhang"})
    item = "/support/tickets/{ticket_id}"
    await call("PATCH", f"/support/tickets/{handoff['ticket_id']}", item,
               json={"status": "in_progress"})
    await call("PATCH", f"/support/tickets/{handoff['ticket_id']}", item,
               json={"status": "in_progress"}, status=409)
    await call("PATCH", "/support/tickets/H20261118-0999", item, json={"status": "closed"},
               status=404)
    await call("POST", "/sandbox/reset")
