"""Products, suitability (risk assessment, recommendations) and foreign exchange."""

from __future__ import annotations

from aiohttp import web

from ..errors import BadRequest
from ..httputil import authed, json_response, query, read_body, unit
from ..service import products as service
from ..service import suitability
from ..validation import parse_amount, parse_bool, parse_int

routes = web.RouteTableDef()

MAX_TERM_DAYS = 36500


@routes.get("/products", allow_head=False)
async def list_products(request: web.Request) -> web.Response:
    params = query(request, ("type", "max_risk", "risk", "term_days_max", "q"))
    type_ = params.get("type") or None
    max_risk = params.get("max_risk") or None
    risk = params.get("risk") or None
    term = params.get("term_days_max") or None
    term_days_max = (
        parse_int(term, "term_days_max", default=0, minimum=1, maximum=MAX_TERM_DAYS)
        if term
        else None
    )
    q = (params.get("q") or "").strip()[:50] or None
    result = await unit(
        request,
        lambda s, ctx: service.list_products(
            s, ctx, type_=type_, max_risk=max_risk, risk=risk, term_days_max=term_days_max, q=q
        ),
    )
    return json_response(result)


@routes.get("/products/compare", allow_head=False)
async def compare_products(request: web.Request) -> web.Response:
    params = query(request, ("codes",))
    raw = params.get("codes") or ""
    codes = [c.strip()[:32] for c in raw.replace("，", ",").split(",") if c.strip()]
    if not 2 <= len(codes) <= 4 or len(set(codes)) != len(codes):
        raise BadRequest(
            "'codes' must name 2 to 4 different products, e.g. WM-R2-180,WM-R3-365.",
            field="codes",
        )
    return json_response(
        await unit(request, lambda s, ctx: service.compare_products(s, ctx, codes))
    )


@routes.get("/products/recommendations", allow_head=False)
async def recommendations(request: web.Request) -> web.Response:
    params = query(request, ("amount", "term_days", "type"))
    amount = parse_amount(params["amount"]) if params.get("amount") else None
    term = params.get("term_days") or None
    term_days = (
        parse_int(term, "term_days", default=0, minimum=1, maximum=MAX_TERM_DAYS) if term else None
    )
    type_ = params.get("type") or None
    result = await authed(
        request,
        lambda s, ctx, customer: suitability.recommendations(
            s, ctx, customer, amount=amount, term_days=term_days, type_=type_
        ),
    )
    return json_response(result)


@routes.get("/products/{code}", allow_head=False)
async def get_product(request: web.Request) -> web.Response:
    code = request.match_info["code"][:32]
    return json_response(await unit(request, lambda s, ctx: service.get_product(s, ctx, code)))


@routes.post("/products/{code}/suitability")
async def check_suitability(request: web.Request) -> web.Response:
    code = request.match_info["code"][:32]
    raw = await request.read()
    body = await read_body(request, ("amount",)) if raw.strip() else {}
    amount = parse_amount(body["amount"]) if body.get("amount") is not None else None
    result = await authed(
        request,
        lambda s, ctx, customer: suitability.check_suitability(s, ctx, customer, code, amount),
    )
    return json_response(result)


@routes.get("/risk-assessment/questions", allow_head=False)
async def risk_questions(request: web.Request) -> web.Response:
    query(request, ())
    return json_response(await unit(request, suitability.questionnaire))


@routes.post("/risk-assessment")
async def submit_risk_assessment(request: web.Request) -> web.Response:
    body = await read_body(request, ("answers",))
    answers = body.get("answers")
    if not isinstance(answers, dict):
        raise BadRequest(
            '\'answers\' must be an object of question id -> option id, e.g. {"q1": "B"}.',
            field="answers",
        )
    result = await authed(
        request,
        lambda s, ctx, customer: suitability.submit_assessment(s, ctx, customer, answers),
    )
    return json_response(result, status=201)


@routes.get("/fx-rates", allow_head=False)
async def fx_rates(request: web.Request) -> web.Response:
    query(request, ())
    return json_response(await unit(request, service.fx_rates))


@routes.get("/fx/convert", allow_head=False)
async def fx_convert(request: web.Request) -> web.Response:
    params = query(request, ("amount", "from", "to", "amount_currency", "cash"))
    amount = parse_amount(params.get("amount"))
    source = service.parse_currency(params.get("from") or "", "from")
    target = service.parse_currency(params.get("to") or "CNY", "to")
    side = service.parse_amount_side(params.get("amount_currency"), source, target)
    cash = parse_bool(params.get("cash"), "cash", default=False)
    result = await unit(
        request,
        lambda s, ctx: service.convert_fx(
            s, ctx, amount, source, target, amount_currency=side, cash=cash
        ),
    )
    return json_response(result)
