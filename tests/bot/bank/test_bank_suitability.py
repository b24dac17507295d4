"""Products search and comparison, the risk questionnaire, suitability, FX conversion,
the customer profile (VIP manager) and complaint categories."""

from __future__ import annotations

import itertools
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import delete

from bot.bank.db import make_engine, make_sessionmaker
from bot.bank.models import Customer, RiskAssessment
from bot.bank.seed import ZHANG_WEI
from bot.bank.service.suitability import QUESTIONS, score_answers
from bot.bank.testing import LI_PHONE, sqlite_url

DISCLOSURE = "理财非存款，产品有风险，投资须谨慎"
RANK = {"R1": 1, "R2": 2, "R3": 3, "R4": 4, "R5": 5}


def answers_scoring(total: int) -> dict[str, str]:
    """Some answers (never the capping q5 = A) whose scores add up to ``total``."""
    options = [[o for o in q.options if not (q.id == "q5" and o.id == "A")] for q in QUESTIONS]
    for combo in itertools.product(*options):
        if sum(o.score for o in combo) == total:
            return {q.id: o.id for q, o in zip(QUESTIONS, combo, strict=True)}
    raise AssertionError(f"no answers score {total}")


LEVEL_ANSWERS = {
    "C1": answers_scoring(12),
    "C2": answers_scoring(24),
    "C3": answers_scoring(25),
    "C4": answers_scoring(37),
    "C5": answers_scoring(54),
}


async def get_json(bank, path, **params):
    resp = await bank.client.get(path, params=params)
    assert resp.status == 200, await resp.text()
    return await resp.json()


def assert_disclosed(product: dict) -> None:
    if product["type"] in ("wealth", "fund"):
        assert product["disclosure"] == DISCLOSURE, product["code"]
        assert "基准" in product["rate_label"] or product["reference_rate"] is None
    else:
        assert product["disclosure"] is None


async def test_the_questionnaire_hides_its_scores(bank):
    form = await get_json(bank, "/risk-assessment/questions")
    assert 5 <= len(form["questions"]) <= 7
    for question in form["questions"]:
        assert 3 <= len(question["options"]) <= 5
        assert all(set(option) == {"id", "text"} for option in question["options"])
    assert [lv["level"] for lv in form["levels"]] == ["C1", "C2", "C3", "C4", "C5"]
    assert form["levels"][2]["label"] == "平衡型" and form["levels"][2]["max_product_risk"] == "R3"
    assert form["valid_days"] == 365


@pytest.mark.parametrize(
    ("total", "level"),
    [
        (4, "C1"),
        (12, "C1"),
        (13, "C2"),
        (24, "C2"),
        (25, "C3"),
        (36, "C3"),
        (37, "C4"),
        (46, "C4"),
        (47, "C5"),
        (54, "C5"),
    ],
)
def test_scoring_boundaries(total, level):
    answers = answers_scoring(total)
    assert score_answers(answers) == (total, level)


def test_no_tolerance_for_loss_caps_the_level_at_c1():
    answers = {"q1": "B", "q2": "E", "q3": "E", "q4": "D", "q5": "A", "q6": "D"}
    assert score_answers(answers) == (42, "C1")


async def test_assessment_sets_the_level(bank, clock):
    token = await bank.token()
    resp = await bank.client.post(
        "/risk-assessment", json={"answers": LEVEL_ANSWERS["C5"]}, headers=bank.auth(token)
    )
    assert resp.status == 201, await resp.text()
    result = await resp.json()
    assert (result["risk_level"], result["label"], result["score"]) == ("C5", "激进型", 54)
    assert result["previous_level"] == "C3" and result["max_product_risk"] == "R5"
    assert result["assessed_at"] == "2026-11-18T10:00:00+08:00"
    assert result["expires_at"] == "2027-11-18T10:00:00+08:00"
    me = await bank.get("/customers/me", token)
    assert (me["risk_level"], me["risk_label"], me["risk_assessment_valid"]) == (
        "C5",
        "激进型",
        True,
    )
    # lower-case option ids are fine
    lower = {k: v.lower() for k, v in LEVEL_ANSWERS["C2"].items()}
    resp = await bank.client.post(
        "/risk-assessment", json={"answers": lower}, headers=bank.auth(token)
    )
    assert (await resp.json())["risk_level"] == "C2"


async def test_assessment_input_errors(bank, error):
    token = await bank.token()
    full = LEVEL_ANSWERS["C3"]
    for answers, field in (
        ({k: v for k, v in full.items() if k != "q3"}, "answers.q3"),
        ({**full, "q2": "Z"}, "answers.q2"),
        ({**full, "q2": 2}, "answers.q2"),
        ({**full, "q9": "A"}, "answers.q9"),
        (["A", "B"], "answers"),
    ):
        resp = await bank.client.post(
            "/risk-assessment", json={"answers": answers}, headers=bank.auth(token)
        )
        assert resp.status == 400, answers
        assert (await error(resp))["details"]["field"] == field
    resp = await bank.client.post("/risk-assessment", json={"answers": full})
    assert resp.status == 401


async def test_recommendations_never_exceed_the_level(bank):
    token = await bank.token()
    everything = await get_json(bank, "/products")
    for level, answers in LEVEL_ANSWERS.items():
        resp = await bank.client.post(
            "/risk-assessment", json={"answers": answers}, headers=bank.auth(token)
        )
        assert (await resp.json())["risk_level"] == level
        for params in ({}, {"amount": "100"}, {"amount": "50000", "term_days": "365"}):
            result = await bank.get("/products/recommendations", token, **params)
            assert result["risk_level"] == level
            products = result["products"]
            assert all(RANK[p["risk_level"]] <= int(level[1]) for p in products), level
            assert all(p["type"] not in ("loan", "credit_card") for p in products)
            for product in products:
                assert_disclosed(product)
                if "amount" in params:
                    assert Decimal(product["min_amount"]) <= Decimal(params["amount"])
                if "term_days" in params and product["term_days"] is not None:
                    assert product["term_days"] <= 365
            investing = any(p["type"] in ("wealth", "fund") for p in products)
            assert result["disclosure"] == (DISCLOSURE if investing else None)
        # with no limits, every rated product of an allowed level is offered
        allowed = {
            p["code"]
            for p in everything
            if p["risk_level"] and RANK[p["risk_level"]] <= int(level[1])
        }
        unlimited = await bank.get("/products/recommendations", token)
        assert {p["code"] for p in unlimited["products"]} == allowed


async def test_recommendations_for_zhang_wei(bank, error):
    token = await bank.token()
    result = await bank.get("/products/recommendations", token, amount="50000", term_days="365")
    assert (result["risk_level"], result["label"]) == ("C3", "平衡型")
    assert [p["code"] for p in result["products"]] == [
        "WM-R3-365",
        "WM-R2-180",
        "WM-R1-CASH",
        "DEP1Y",
    ]
    assert result["amount"] == "50000.00" and result["disclosure"] == DISCLOSURE
    small = await bank.get("/products/recommendations", token, amount="5000", type="理财")
    assert [p["code"] for p in small["products"]] == ["WM-R1-CASH"]
    deposits = await bank.get("/products/recommendations", token, type="存款")
    assert deposits["disclosure"] is None
    for params in ({"amount": "-1"}, {"term_days": "0"}, {"type": "股票"}, {"x": "1"}):
        resp = await bank.client.get(
            "/products/recommendations", params=params, headers=bank.auth(token)
        )
        assert resp.status == 400, params
        await error(resp)
    resp = await bank.client.get("/products/recommendations")
    assert resp.status == 401


def _edit_customer(db_path, work) -> None:
    engine = make_engine(sqlite_url(db_path))
    try:
        with make_sessionmaker(engine)() as session:
            work(session)
            session.commit()
    finally:
        engine.dispose()


async def test_unassessed_or_expired_customers_must_assess_first(bank, clock, db_path, error):
    clock.advance(days=300)  # the seeded assessment is 100 days old: now 400
    token = await bank.token()
    resp = await bank.client.get("/products/recommendations", headers=bank.auth(token))
    assert resp.status == 409
    refusal = await error(resp)
    assert refusal["code"] == "risk_assessment_required"
    assert refusal["details"]["reason"] == "expired"
    assert (await bank.get("/customers/me", token))["risk_assessment_valid"] is False

    def forget(session):
        session.get(Customer, ZHANG_WEI).risk_level = None
        session.execute(delete(RiskAssessment).where(RiskAssessment.customer_id == ZHANG_WEI))

    _edit_customer(db_path, forget)
    for method, path in (
        ("GET", "/products/recommendations"),
        ("POST", "/products/WM-R1-CASH/suitability"),
    ):
        resp = await bank.client.request(method, path, headers=bank.auth(token))
        assert resp.status == 409, path
        assert (await error(resp))["details"]["reason"] == "not_assessed"
    me = await bank.get("/customers/me", token)
    assert me["risk_level"] is None and me["risk_assessed_at"] is None
    resp = await bank.client.post(
        "/risk-assessment", json={"answers": LEVEL_ANSWERS["C2"]}, headers=bank.auth(token)
    )
    assert (await resp.json())["previous_level"] is None
    result = await bank.get("/products/recommendations", token)
    assert {p["risk_level"] for p in result["products"]} == {"R1", "R2"}


async def test_suitability_check(bank, error):
    token = await bank.token()

    async def check(code, amount=None):
        body = {} if amount is None else {"amount": amount}
        return await bank.client.post(
            f"/products/{code}/suitability", json=body, headers=bank.auth(token)
        )

    resp = await check("FD-R4-MIX")
    assert resp.status == 422
    refusal = await error(resp)
    assert refusal["code"] == "product_not_suitable"
    assert refusal["details"] == {
        "code": "FD-R4-MIX",
        "product_risk_level": "R4",
        "customer_risk_level": "C3",
        "max_product_risk": "R3",
    }
    resp = await check("WM-R3-365", "5000")
    assert resp.status == 422
    refusal = await error(resp)
    assert refusal["code"] == "below_minimum"
    assert refusal["details"]["min_amount"] == "10000.00"
    resp = await check("WM-R3-365", 20000)
    assert resp.status == 200
    ok = await resp.json()
    assert ok["suitable"] is True and ok["disclosure"] == DISCLOSURE
    assert ok["amount"] == "20000.00" and ok["customer_risk_level"] == "C3"
    resp = await bank.client.post(
        "/products/DEP1Y/suitability", headers=bank.auth(token)
    )  # no body: no amount check
    assert resp.status == 200 and (await resp.json())["disclosure"] is None
    assert (await check("LN-SALARY")).status == 400
    assert (await check("NOPE")).status == 404
    assert (await check("DEP1Y", "-5")).status == 400
    resp = await bank.client.post(
        "/products/DEP1Y/suitability", json={"amount": "1", "x": 1}, headers=bank.auth(token)
    )
    assert resp.status == 400
    # 李娜 (C5) may buy the R5 fund
    li = await bank.token(LI_PHONE, user="o-lina")
    resp = await bank.client.post(
        "/products/FD-R5-TECH/suitability", json={"amount": "1000"}, headers=bank.auth(li)
    )
    assert resp.status == 200


@pytest.mark.parametrize(
    ("params", "codes"),
    [
        ({"q": "天天利"}, ["WM-R1-CASH"]),
        ({"q": "科技基金"}, ["FD-R5-TECH"]),
        ({"q": "一年定期"}, ["DEP1Y"]),
        ({"q": "大额存单"}, ["CD3Y"]),
        ({"q": "cd3y"}, ["CD3Y"]),
        ({"risk": "R2"}, ["WM-R2-180"]),
        ({"type": "理财", "term_days_max": "200"}, ["WM-R1-CASH", "WM-R2-180"]),
        ({"type": "基金", "max_risk": "C4"}, ["FD-R4-MIX"]),
    ],
)
async def test_product_inquiry(bank, params, codes):
    products = await get_json(bank, "/products", **params)
    assert [p["code"] for p in products] == codes
    for product in products:
        assert_disclosed(product)


async def test_every_investment_product_carries_the_disclosure(bank):
    for product in await get_json(bank, "/products"):
        assert_disclosed(product)
        assert_disclosed(await get_json(bank, f"/products/{product['code']}"))
        assert "保证收益" not in product["description"] and "保本保息" not in product["description"]


async def test_compare_products(bank, error):
    result = await get_json(bank, "/products/compare", codes="WM-R2-180,WM-R3-365")
    assert [p["code"] for p in result["products"]] == ["WM-R2-180", "WM-R3-365"]
    assert {"risk_level", "term_days", "reference_rate", "category"} <= set(result["differences"])
    assert "min_amount" not in result["differences"]
    assert result["disclosure"] == DISCLOSURE
    deposits = await get_json(bank, "/products/compare", codes="DEP1Y，DEP3Y")
    assert deposits["disclosure"] is None and "term_days" in deposits["differences"]
    for codes, status in (
        ("DEP1Y", 400),
        ("DEP1Y,DEP1Y", 400),
        ("A,B,C,D,E", 400),
        ("DEP1Y,NOPE", 404),
    ):
        resp = await bank.client.get("/products/compare", params={"codes": codes})
        assert resp.status == status, codes
        await error(resp)


@pytest.mark.parametrize(
    ("params", "result", "side", "price"),
    [
        ({"amount": "1000", "from": "USD", "to": "CNY"}, "7112.00", "buy", "711.20"),
        ({"amount": "1000", "from": "美元"}, "7112.00", "buy", "711.20"),
        ({"amount": "10000", "from": "CNY", "to": "USD"}, "1400.17", "sell", "714.20"),
        ({"amount": "10000", "from": "人民币", "to": "美金"}, "1400.17", "sell", "714.20"),
        ({"amount": "100000", "from": "jpy"}, "4620.00", "buy", "4.62"),
        ({"amount": "5000", "from": "CNY", "to": "HKD"}, "5450.19", "sell", "91.74"),
        ({"amount": "2000", "from": "GBP"}, "18846.00", "buy", "942.30"),
    ],
)
async def test_fx_conversion_uses_the_right_side_of_the_spread(bank, params, result, side, price):
    conversion = await get_json(bank, "/fx/convert", **params)
    assert conversion["result"] == result
    assert conversion["rate"]["side"] == side and conversion["rate"]["price"] == price
    assert conversion["rate"]["label"] == {"buy": "现汇买入价", "sell": "现汇卖出价"}[side]
    assert conversion["amount"] == f"{Decimal(params['amount']):.2f}"
    assert "参考" in conversion["note"]


async def test_fx_conversion_errors(bank, error):
    for params, field in (
        ({"amount": "100", "from": "USD", "to": "EUR"}, "to"),
        ({"amount": "100", "from": "CNY"}, "to"),
        ({"amount": "100", "from": "XYZ"}, "from"),
        ({"amount": "100", "from": "美刀币"}, "from"),
        ({"amount": "100"}, "from"),
        ({"from": "USD"}, "amount"),
        ({"amount": "1.234", "from": "USD"}, "amount"),
    ):
        resp = await bank.client.get("/fx/convert", params=params)
        assert resp.status == 400, params
        assert (await error(resp))["details"]["field"] == field


async def test_profile_and_vip_manager(bank):
    li = await bank.token(LI_PHONE, user="o-lina")
    me = await bank.get("/customers/me", li)
    assert (me["name"], me["vip"], me["risk_level"], me["risk_label"]) == (
        "李娜",
        True,
        "C5",
        "激进型",
    )
    assert me["masked_phone"] == "139****9000"
    assert me["manager"] == {
        "manager_id": "M001",
        "name": "王敏",
        "title": "私人银行客户经理",
        "branch_id": "SH002",
        "branch_name": "陆家嘴支行",
        "phone": "021-50471234 转 8021",
        "extension": "8021",
        "masked_mobile": "137****8021",
    }
    assert me["risk_expires_at"] > "2027-01-01"
    zhang = await bank.get("/customers/me", await bank.token())
    assert (zhang["vip"], zhang["manager"], zhang["risk_label"]) == (False, None, "平衡型")
    resp = await bank.client.get("/customers/me")
    assert resp.status == 401


async def test_complaints_normalise_categories_and_skip_weekends(bank, clock, error):
    categories = await get_json(bank, "/support/complaint-categories")
    names = [c["category"] for c in categories]
    assert {"服务态度", "收费问题", "排队等候", "其他"} <= set(names)
    clock.set(clock().replace(day=21, hour=11))  # Saturday: due Tuesday

    async def complain(**fields):
        return await bank.client.post(
            "/support/tickets",
            json={"kind": "complaint", "channel": "web", "channel_user_id": "s-9", **fields},
        )

    resp = await complain(category="收费", text="信用卡年费乱扣")
    assert resp.status == 201
    ticket = await resp.json()
    assert ticket["category"] == "收费问题" and ticket["reply_due"] == "2026-11-24"
    assert ticket["ticket_id"] == "C20261121-0001"
    assert (await (await complain(category="排队太久")).json())["category"] == "排队等候"
    assert (await (await complain()).json())["category"] == "其他"
    resp = await complain(category="天气不好")
    assert resp.status == 400
    refusal = await error(resp)
    assert refusal["details"]["field"] == "category" and refusal["details"]["allowed"] == names
    # hand-offs keep a free category
    resp = await bank.client.post(
        "/support/tickets",
        json={"kind": "handoff", "channel": "web", "channel_user_id": "s-9", "category": "转账"},
    )
    assert (await resp.json())["category"] == "转账"


GARBAGE = [
    b"",
    b"null",
    b"[]",
    b"\xff\xfe",
    b'{"answers": NaN}',
    b'{"amount": {"a": 1}}',
    b'{"answers": {"q1": ["A"]}}',
    b"[" * 3000 + b"]" * 3000,
]


async def test_garbage_never_causes_a_server_error(bank, error):
    token = await bank.token()
    for path in (
        "/queue/tickets",
        "/queue/tickets/QT1/cancel",
        "/risk-assessment",
        "/products/WM-R3-365/suitability",
    ):
        for body in GARBAGE:
            resp = await bank.client.post(path, data=body, headers=bank.auth(token))
            if path.endswith("suitability") and body == b"":
                assert resp.status == 200  # no body: no amount to check
                continue
            assert 400 <= resp.status < 500, (path, body[:20], resp.status)
            await error(resp)
    for path, params in (
        ("/fx/convert", {"amount": "1e9999", "from": "USD"}),
        ("/fx/convert", {"amount": "9" * 40, "from": "USD"}),
        ("/products", {"term_days_max": "9" * 30}),
        ("/products", {"q": "%" * 200}),
        ("/products/compare", {"codes": "," * 500}),
        ("/branches", {"area": "'; drop table branches; --"}),
        ("/queue/tickets", {"channel": "wechat", "channel_user_id": "%00"}),
    ):
        resp = await bank.client.get(path, params=params)
        assert resp.status < 500, (path, params)
    assert (await bank.client.get("/health")).status == 200
    later = timedelta(minutes=1)
    bank.clock.advance(later.total_seconds())
    assert (await bank.client.get("/branches/SH001/queues")).status == 200
