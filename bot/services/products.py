"""Client of the bank's product catalogue and FX reference rates."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from ..settings import Settings
from .http import (
    ServiceClient,
    segment,
    to_date,
    to_datetime,
    to_decimal,
    to_optional_date,
    to_optional_decimal,
)
from .types import (
    FxConversion,
    FxRate,
    MortgageRate,
    MortgageRates,
    Offer,
    PrepaymentRule,
    Product,
    ProductComparison,
    Recommendations,
    RiskAssessment,
    RiskLevel,
    RiskOption,
    RiskQuestion,
    RiskQuestionnaire,
    Suitability,
)


def _product(data: dict[str, Any]) -> Product:
    term = data.get("term_days")
    return Product(
        code=data["code"],
        name=data["name"],
        type=data["type"],
        category=data.get("category", ""),
        risk_level=data.get("risk_level"),
        term_days=None if term is None else int(term),
        min_amount=to_decimal(data["min_amount"]),
        reference_rate=to_optional_decimal(data.get("reference_rate")),
        rate_label=data.get("rate_label", ""),
        currency=data.get("currency", "CNY"),
        description=data.get("description", ""),
        disclosure=data.get("disclosure"),
    )


def _offer(data: dict[str, Any]) -> Offer:
    return Offer(
        offer_id=data["offer_id"],
        reason=data["reason"],
        product=_product(data["product"]),
        disclosure=data.get("disclosure"),
    )


def _fx(data: dict[str, Any]) -> FxRate:
    return FxRate(
        currency=data["currency"],
        name=data["name"],
        unit=int(data["unit"]),
        buy=to_decimal(data["buy"]),
        sell=to_decimal(data["sell"]),
        cash_buy=to_decimal(data["cash_buy"]),
        middle=to_decimal(data["middle"]),
        updated_at=to_datetime(data["updated_at"]),
        cash_sell=to_optional_decimal(data.get("cash_sell")),
    )


def _questionnaire(data: dict[str, Any]) -> RiskQuestionnaire:
    return RiskQuestionnaire(
        version=data["version"],
        title=data["title"],
        questions=tuple(
            RiskQuestion(
                id=q["id"],
                text=q["text"],
                options=tuple(RiskOption(id=o["id"], text=o["text"]) for o in q["options"]),
            )
            for q in data["questions"]
        ),
        levels=tuple(
            RiskLevel(
                level=lv["level"],
                label=lv["label"],
                description=lv["description"],
                max_product_risk=lv["max_product_risk"],
            )
            for lv in data["levels"]
        ),
        valid_days=int(data["valid_days"]),
    )


def _assessment(data: dict[str, Any]) -> RiskAssessment:
    return RiskAssessment(
        risk_level=data["risk_level"],
        label=data["label"],
        max_product_risk=data["max_product_risk"],
        score=int(data["score"]),
        assessed_at=to_datetime(data["assessed_at"]),
        expires_at=to_datetime(data["expires_at"]),
        previous_level=data.get("previous_level"),
        description=data.get("description", ""),
    )


def _conversion(data: dict[str, Any]) -> FxConversion:
    rate = data["rate"]
    return FxConversion(
        from_currency=data["from"],
        to_currency=data["to"],
        amount=to_decimal(data["amount"]),
        result=to_decimal(data["result"]),
        currency=rate["currency"],
        currency_name=rate["name"],
        rate_side=rate["side"],
        rate_label=rate["label"],
        rate=to_decimal(rate["price"]),
        unit=int(rate["unit"]),
        note=data.get("note", ""),
        updated_at=to_datetime(rate["updated_at"]),
        amount_currency=data.get("amount_currency", "from"),
        from_amount=to_optional_decimal(data.get("from_amount")),
        to_amount=to_optional_decimal(data.get("to_amount")),
        cash=bool(data.get("cash", False)),
        direction=data.get("direction", ""),
        direction_label=data.get("direction_label", ""),
    )


def _mortgage_rate(data: dict[str, Any]) -> MortgageRate:
    spread = data.get("spread_bp")
    return MortgageRate(
        code=data["code"],
        name=data["name"],
        home=data["home"],
        term=data["term"],
        base=data.get("base"),
        base_rate=to_optional_decimal(data.get("base_rate")),
        spread_bp=None if spread is None else int(spread),
        rate=to_decimal(data["rate"]),
        as_of=to_date(data["as_of"]),
    )


def _mortgage_rates(data: dict[str, Any]) -> MortgageRates:
    lpr = data.get("lpr_5y")
    return MortgageRates(
        as_of=to_date(data["as_of"]),
        lpr_5y=None if lpr is None else to_decimal(lpr["rate"]),
        lpr_as_of=None if lpr is None else to_optional_date(lpr.get("as_of")),
        commercial=tuple(_mortgage_rate(r) for r in data["commercial"]),
        provident_fund=tuple(_mortgage_rate(r) for r in data["provident_fund"]),
        prepayment=tuple(
            PrepaymentRule(
                loan_type=p["loan_type"],
                name=p["name"],
                notice_working_days=int(p["notice_working_days"]),
                notice=p["notice"],
                min_amount=to_decimal(p["min_amount"]),
                min_amount_text=p["min_amount_text"],
                fee=p["fee"],
                channels=tuple(p["channels"]),
                note=p.get("note"),
            )
            for p in data["prepayment"]
        ),
        note=data.get("note", ""),
    )


class ProductsClient(ServiceClient):
    """Products (search, comparison), suitability (risk questionnaire, recommendations,
    suitability checks) and FX reference rates and conversion."""

    @classmethod
    def from_settings(cls, settings: Settings) -> ProductsClient:
        return cls(settings.bank_url, timeout=settings.service_timeout)

    async def list_products(
        self,
        *,
        type: str | None = None,
        max_risk: str | None = None,
        risk: str | None = None,
        term_days_max: int | None = None,
        q: str | None = None,
    ) -> list[Product]:
        """``type``: deposit|wealth|fund|loan|credit_card (or 存款/理财/基金/贷款/信用卡);
        ``max_risk``: R1..R5 or the customer's C1..C5; ``risk``: exactly that level;
        ``term_days_max``: ends within that many days (no fixed term counts);
        ``q``: fuzzy name search (天天利, 科技基金, 一年定期)."""
        params = {
            "type": type,
            "max_risk": max_risk,
            "risk": risk,
            "term_days_max": term_days_max,
            "q": q,
        }
        return [_product(p) for p in await self.request("GET", "/products", params=params)]

    async def compare_products(self, codes: Sequence[str]) -> ProductComparison:
        """Two to four products side by side with the fields in which they differ."""
        params = {"codes": ",".join(codes)}
        data = await self.request("GET", "/products/compare", params=params)
        return ProductComparison(
            products=tuple(_product(p) for p in data["products"]),
            differences=tuple(data["differences"]),
            disclosure=data.get("disclosure"),
        )

    async def risk_questionnaire(self) -> RiskQuestionnaire:
        return _questionnaire(await self.request("GET", "/risk-assessment/questions"))

    async def submit_risk_assessment(
        self, token: str, answers: Mapping[str, str]
    ) -> RiskAssessment:
        """Answers ``{"q1": "B", ...}`` (one option per question) -> the new level."""
        body = {"answers": dict(answers)}
        return _assessment(
            await self.request("POST", "/risk-assessment", json_body=body, token=token)
        )

    async def recommendations(
        self,
        token: str,
        *,
        amount: Decimal | None = None,
        term_days: int | None = None,
        type: str | None = None,
    ) -> Recommendations:
        """Suitable products, best first (RiskAssessmentRequired when not assessed)."""
        params = {"amount": amount, "term_days": term_days, "type": type}
        data = await self.request("GET", "/products/recommendations", params=params, token=token)
        amount_value = data.get("amount")
        return Recommendations(
            risk_level=data["risk_level"],
            label=data["label"],
            max_product_risk=data["max_product_risk"],
            amount=None if amount_value is None else to_decimal(amount_value),
            term_days=None if data.get("term_days") is None else int(data["term_days"]),
            products=tuple(_product(p) for p in data["products"]),
            disclosure=data.get("disclosure"),
        )

    async def check_suitability(
        self, token: str, code: str, amount: Decimal | None = None
    ) -> Suitability:
        """Suitable, or raises ProductNotSuitable, RiskAssessmentRequired, BelowMinimum."""
        body = {} if amount is None else {"amount": str(amount)}
        path = f"/products/{segment(code)}/suitability"
        data = await self.request("POST", path, json_body=body, token=token)
        amount_value = data.get("amount")
        return Suitability(
            suitable=bool(data["suitable"]),
            code=data["code"],
            product_risk_level=data["product_risk_level"],
            customer_risk_level=data["customer_risk_level"],
            amount=None if amount_value is None else to_decimal(amount_value),
            product=_product(data["product"]),
            disclosure=data.get("disclosure"),
        )

    async def next_offer(self, token: str, context: str = "balance") -> Offer | None:
        """The bank's next-best offer for the bound customer, or None (not eligible, no
        suitable product, or the customer declined offers). ``context``: balance or
        transactions (the reason preferred when both apply)."""
        params = {"context": context}
        data = await self.request("GET", "/offers/next", params=params, token=token)
        offer = data["offer"]
        return None if offer is None else _offer(offer)

    async def decline_offers(self, token: str, offer_id: str | None = None) -> None:
        """Record that the customer declines marketing offers (idempotent); from then on
        :meth:`next_offer` returns None for them in every session and channel."""
        body = {} if offer_id is None else {"offer_id": offer_id}
        await self.request("POST", "/offers/decline", json_body=body, token=token)

    async def get_product(self, code: str) -> Product:
        return _product(await self.request("GET", f"/products/{segment(code)}"))

    async def fx_rates(self) -> list[FxRate]:
        """CNY per 100 units of USD, EUR, HKD, JPY, GBP."""
        return [_fx(r) for r in await self.request("GET", "/fx-rates")]

    async def convert_fx(
        self,
        amount: Decimal,
        from_currency: str,
        to_currency: str = "CNY",
        *,
        amount_currency: str = "from",
        cash: bool = False,
    ) -> FxConversion:
        """Reference conversion between CNY and USD/EUR/HKD/JPY/GBP (codes or 美元...):
        the customer pays ``from_currency`` and gets ``to_currency``. ``amount`` is in
        ``from_currency``, or in ``to_currency`` with ``amount_currency="to"``
        ("换5000欧元要多少钱": ``convert_fx(5000, "CNY", "EUR", amount_currency="to")``,
        from_amount 41595.00). ``cash``: banknotes (现钞买入价/现钞卖出价)."""
        params = {
            "amount": amount,
            "from": from_currency,
            "to": to_currency,
            "amount_currency": amount_currency,
            "cash": cash,
        }
        return _conversion(await self.request("GET", "/fx/convert", params=params))

    async def mortgage_rates(self) -> MortgageRates:
        """Housing-loan rates (commercial: 5-year LPR plus a spread; provident fund by
        term) and the prepayment rules, as of the latest LPR fixing."""
        return _mortgage_rates(await self.request("GET", "/loans/mortgage-rates"))
