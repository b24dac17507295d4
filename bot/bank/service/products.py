"""Products (search, comparison) and foreign-exchange reference rates and conversion."""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal
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
_NAME_NOISE = re.compile(r"沪银|产品|那个|这个|那款|这款|的|[\s,，。?？!！]")
COMPARED_FIELDS = (
    "type",
    "category",
    "risk_level",
    "term_days",
    "min_amount",
    "reference_rate",
    "rate_label",
)
CURRENCY_ALIASES = {
    "人民币": "CNY",
    "RMB": "CNY",
    "元": "CNY",
    "美元": "USD",
    "美金": "USD",
    "欧元": "EUR",
    "港币": "HKD",
    "港元": "HKD",
    "港纸": "HKD",
    "日元": "JPY",
    "日币": "JPY",
    "英镑": "GBP",
}
FX_NOTE = "参考汇率，实际以交易时牌价为准"


def parse_risk(value: str, key: str = "max_risk") -> int:
    """``R3`` or ``C3`` (or ``3``) -> 3."""
    text = value.strip().upper()
    if len(text) == 2 and text[0] in "RC":
        text = text[1]
    if text not in ("1", "2", "3", "4", "5"):
        raise BadRequest(f"'{key}' must be R1..R5 or C1..C5.", field=key)
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


def parse_type(value: str) -> str:
    """``deposit`` or a Chinese name such as 理财 -> the type code."""
    wanted = TYPE_ALIASES.get(value.strip(), value.strip())
    if wanted not in TYPES:
        raise BadRequest(
            f"'type' must be one of {', '.join(TYPES)} (or 存款/理财/基金/贷款/信用卡).",
            field="type",
            allowed=list(TYPES),
        )
    return wanted


def _subsequence(needle: str, haystack: str) -> bool:
    chars = iter(haystack)
    return all(char in chars for char in needle)


def name_matches(product: Product, query: str) -> bool:
    """Fuzzy name search: 天天利, 睿远, 科技基金, 一年定期, CD3Y ..."""
    wanted = _NAME_NOISE.sub("", query).upper()
    if not wanted:
        return True
    text = f"{product.name}{product.category}".upper()
    if wanted in text or wanted in product.code.upper():
        return True
    return len(wanted) >= 2 and _subsequence(wanted, text)


def list_products(
    session: Session,
    ctx: Ctx,
    *,
    type_: str | None,
    max_risk: str | None,
    risk: str | None = None,
    term_days_max: int | None = None,
    q: str | None = None,
) -> list[dict[str, Any]]:
    """Products of a type (English code or Chinese name); ``max_risk`` keeps only rated
    products at or below that level and ``risk`` only that level (loans and cards carry
    no risk level); ``term_days_max`` keeps products ending within that many days (no
    fixed term counts as redeemable any time); ``q`` searches names fuzzily."""
    stmt = select(Product).order_by(Product.position, Product.code)
    if type_:
        stmt = stmt.where(Product.type == parse_type(type_))
    products = list(session.execute(stmt).scalars())
    if max_risk:
        ceiling = parse_risk(max_risk)
        products = [p for p in products if p.risk_level and int(p.risk_level[1]) <= ceiling]
    if risk:
        exact = parse_risk(risk, "risk")
        products = [p for p in products if p.risk_level and int(p.risk_level[1]) == exact]
    if term_days_max is not None:
        products = [p for p in products if p.term_days is None or p.term_days <= term_days_max]
    if q:
        products = [p for p in products if name_matches(p, q)]
    return [product_view(p) for p in products]


def compare_products(session: Session, ctx: Ctx, codes: list[str]) -> dict[str, Any]:
    """Two to four products side by side, with the fields in which they differ."""
    products = []
    for code in codes:
        product = session.get(Product, code)
        if product is None:
            raise NotFound(f"No product {code}.", code=code)
        products.append(product_view(product))
    differences = [name for name in COMPARED_FIELDS if len({str(p[name]) for p in products}) > 1]
    investment = any(p["disclosure"] for p in products)
    return {
        "products": products,
        "differences": differences,
        "disclosure": RISK_DISCLOSURE if investment else None,
    }


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
            "cash_sell": cash_sell(r),
            "middle": r.middle,
            "updated_at": r.updated_at,
        }
        for r in rows
    ]


def cash_sell(rate: FxRate) -> Decimal:
    """现钞卖出价; a row from before it was stored sells cash at 现汇卖出价, as in China."""
    return rate.cash_sell if rate.cash_sell is not None else rate.sell


def parse_currency(value: str, key: str) -> str:
    """``usd``, ``美元``, ``美金`` -> ``USD``; CNY is ``CNY``, ``人民币`` or ``元``."""
    text = value.strip()
    code = CURRENCY_ALIASES.get(text, CURRENCY_ALIASES.get(text.upper(), text.upper()))
    if not re.fullmatch(r"[A-Z]{3}", code):
        raise BadRequest(f"'{key}' must be a currency code such as USD.", field=key)
    return code


# (bank's side, cash) -> (the rate's label, the customer's direction, its label)
RATE_LABELS = {
    ("sell", False): "现汇卖出价",
    ("sell", True): "现钞卖出价",
    ("buy", False): "现汇买入价",
    ("buy", True): "现钞买入价",
}
DIRECTIONS = {
    "sell": ("buy_foreign", "购汇（银行卖出）"),  # the customer buys foreign currency
    "buy": ("sell_foreign", "结汇（银行买入）"),  # the customer sells foreign currency
}
AMOUNT_SIDES = ("from", "to")


def parse_amount_side(value: str | None, from_: str, to: str) -> str:
    """``from`` (default) or ``to``, or the currency the amount is in (code or name)."""
    text = (value or "from").strip()
    if text.lower() in AMOUNT_SIDES:
        return text.lower()
    code = CURRENCY_ALIASES.get(text, CURRENCY_ALIASES.get(text.upper(), text.upper()))
    if code == from_:
        return "from"
    if code == to:
        return "to"
    raise BadRequest(
        "'amount_currency' must be from, to, or one of the two currencies.",
        field="amount_currency",
        allowed=[*AMOUNT_SIDES, from_, to],
    )


def _cents(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def convert_fx(
    session: Session,
    ctx: Ctx,
    amount: Decimal,
    from_: str,
    to: str,
    *,
    amount_currency: str = "from",
    cash: bool = False,
) -> dict[str, Any]:
    """What the customer pays in ``from_`` and gets in ``to``, priced on the bank's side
    of the spread. Paying CNY for foreign currency (购汇) the bank sells: 现汇卖出价, or
    现钞卖出价 for cash; selling foreign currency for CNY (结汇) the bank buys: 现汇买入价,
    or 现钞买入价 for cash. ``amount`` is in ``from_`` (what is paid) or, with
    ``amount_currency="to"``, in ``to`` (what is wanted): "换5000欧元要多少钱" is
    CNY -> EUR with 5000 in EUR."""
    if from_ == to:
        raise BadRequest("'from' and 'to' must differ.", field="to", reason="same_currency")
    if "CNY" not in (from_, to):
        raise BadRequest("One side of a conversion must be CNY.", field="to", reason="cny_required")
    if amount_currency not in AMOUNT_SIDES:  # pragma: no cover - the route parses it
        raise BadRequest("'amount_currency' must be from or to.", field="amount_currency")
    foreign = to if from_ == "CNY" else from_
    rate = session.get(FxRate, foreign)
    if rate is None:
        supported = [r.currency for r in session.execute(select(FxRate)).scalars()]
        raise BadRequest(
            f"No rate for {foreign}.",
            field="from" if foreign == from_ else "to",
            reason="unsupported_currency",
            supported=["CNY", *supported],
        )
    side = "sell" if from_ == "CNY" else "buy"
    if side == "sell":
        price = cash_sell(rate) if cash else rate.sell
    else:
        price = rate.cash_buy if cash else rate.buy
    # CNY = foreign * price / unit on either side; only which amount is known differs.
    given_is_foreign = (amount_currency == "from") == (from_ != "CNY")
    if given_is_foreign:
        other = _cents(amount * price / rate.unit)
    else:
        other = _cents(amount * rate.unit / price)
    from_amount, to_amount = (amount, other) if amount_currency == "from" else (other, amount)
    direction, direction_label = DIRECTIONS[side]
    label = RATE_LABELS[(side, cash)]
    return {
        "from": from_,
        "to": to,
        "amount": amount,
        "amount_currency": amount_currency,
        "result": other,
        "from_amount": from_amount,
        "to_amount": to_amount,
        "cash": cash,
        "direction": direction,
        "direction_label": direction_label,
        "rate_label": label,
        "rate": {
            "currency": rate.currency,
            "name": rate.name,
            "side": side,
            "cash": cash,
            "label": label,
            "price": price,
            "unit": rate.unit,
            "updated_at": rate.updated_at,
        },
        "note": FX_NOTE,
    }
