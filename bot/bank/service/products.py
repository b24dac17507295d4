"""Products and foreign-exchange reference rates."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..errors import BadRequest, NotFound
from ..models import FxRate, Product
from . import Ctx

RISK_DISCLOSURE = "理财非存款，产品有风险，投资须谨慎"
TYPES = ("deposit", "wealth", "fund", "loan", "credit_card")
TYPE_ALIASES = {
    "存款": "deposit",
    "定期": "deposit",
    "定期存款": "deposit",
    "大额存单": "deposit",
    "理财": "wealth",
    "理财产品": "wealth",
    "基金": "fund",
    "贷款": "loan",
    "消费贷": "loan",
    "信用卡": "credit_card",
}
INVESTMENT_TYPES = ("wealth", "fund")


def parse_risk(value: str) -> int:
    """``R3`` or ``C3`` (or ``3``) -> 3."""
    text = value.strip().upper()
    if len(text) == 2 and text[0] in "RC":
        text = text[1]
    if text not in ("1", "2", "3", "4", "5"):
        raise BadRequest("'max_risk' must be R1..R5 or C1..C5.", field="max_risk")
    return int(text)


def product_view(product: Product) -> dict[str, Any]:
    return {
        "code": product.code,
        "name": product.name,
        "type": product.type,
        "category": product.category,
        "risk_level": product.risk_level,
        "term_days": product.term_days,
        "min_amount": product.min_amount,
        "reference_rate": product.reference_rate,
        "rate_label": product.rate_label,
        "currency": product.currency,
        "description": product.description,
        "disclosure": RISK_DISCLOSURE if product.type in INVESTMENT_TYPES else None,
    }


def list_products(
    session: Session, ctx: Ctx, *, type_: str | None, max_risk: str | None
) -> list[dict[str, Any]]:
    """Products of a type (English code or Chinese name); ``max_risk`` keeps only rated
    products at or below that level (loans and cards carry no risk level)."""
    stmt = select(Product).order_by(Product.position, Product.code)
    if type_:
        wanted = TYPE_ALIASES.get(type_.strip(), type_.strip())
        if wanted not in TYPES:
            raise BadRequest(
                f"'type' must be one of {', '.join(TYPES)} (or 存款/理财/基金/贷款/信用卡).",
                field="type",
                allowed=list(TYPES),
            )
        stmt = stmt.where(Product.type == wanted)
    products = list(session.execute(stmt).scalars())
    if max_risk:
        ceiling = parse_risk(max_risk)
        products = [p for p in products if p.risk_level and int(p.risk_level[1]) <= ceiling]
    return [product_view(p) for p in products]


def get_product(session: Session, ctx: Ctx, code: str) -> dict[str, Any]:
    product = session.get(Product, code)
    if product is None:
        raise NotFound(f"No product {code}.", code=code)
    return product_view(product)


def fx_rates(session: Session, ctx: Ctx) -> list[dict[str, Any]]:
    """Reference rates in CNY per 100 units of each foreign currency."""
    rows = session.execute(select(FxRate).order_by(FxRate.position)).scalars()
    return [
        {
            "currency": r.currency,
            "name": r.name,
            "unit": r.unit,
            "buy": r.buy,
            "sell": r.sell,
            "cash_buy": r.cash_buy,
            "middle": r.middle,
            "updated_at": r.updated_at,
        }
        for r in rows
    ]
