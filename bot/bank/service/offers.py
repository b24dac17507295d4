"""Next-best offer (合规营销): at most one deposit or low-risk wealth product for a
customer with money to place, never above their risk level, never once they decline.

Eligible: the customer has not declined offers, and either the savings balance is at
least ``settings.offer_balance_threshold`` (reason ``balance``) or an incoming payment
(收入 or 转账, amount > 0) of at least ``settings.offer_incoming_threshold`` was posted
within the last :data:`INCOMING_WINDOW` (reason ``incoming``). The product: a deposit
(定期存款, 大额存单) or a wealth product of :data:`OFFER_WEALTH_RISKS` that the customer's
valid risk level allows (unassessed or expired: deposits only), whose minimum the
savings balance reaches; the highest reference rate wins, ties by code.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..errors import BadRequest
from ..models import SAVINGS, Account, Customer, OfferDecline, Product, Transaction
from . import Ctx, money, sha256_hex
from .products import INVESTMENT_TYPES, RISK_DISCLOSURE, product_view
from .suitability import level_number, valid_level

log = logging.getLogger(__name__)

# Where the bot asks for an offer; the context's own reason is preferred when both apply.
OFFER_CONTEXTS = ("balance", "transactions")
REASON_ORDER = {"balance": ("balance", "incoming"), "transactions": ("incoming", "balance")}
INCOMING_KINDS = ("收入", "转账")
INCOMING_WINDOW = timedelta(days=7)
OFFER_DEPOSIT_TYPE = "deposit"
OFFER_WEALTH_TYPE = "wealth"
OFFER_WEALTH_RISKS = ("R1", "R2")


def parse_context(value: str | None) -> str:
    """``balance`` (the default) or ``transactions``."""
    context = (value or "balance").strip()
    if context not in OFFER_CONTEXTS:
        raise BadRequest(
            f"'context' must be one of {', '.join(OFFER_CONTEXTS)}.",
            field="context",
            allowed=list(OFFER_CONTEXTS),
        )
    return context


def has_declined(session: Session, customer: Customer) -> bool:
    return session.get(OfferDecline, customer.id) is not None


def _savings(session: Session, customer: Customer) -> list[Account]:
    stmt = (
        select(Account)
        .where(Account.customer_id == customer.id, Account.account_type == SAVINGS)
        .order_by(Account.id)
    )
    return list(session.execute(stmt).scalars())


def _largest_incoming(
    session: Session, ctx: Ctx, accounts: list[Account], threshold: Decimal
) -> Decimal | None:
    """The largest incoming payment of at least ``threshold`` within the window."""
    if not accounts:
        return None
    stmt = (
        select(Transaction.amount)
        .where(
            Transaction.account_id.in_([a.id for a in accounts]),
            Transaction.kind.in_(INCOMING_KINDS),
            Transaction.amount > 0,
            Transaction.amount >= threshold,
            Transaction.posted_at >= ctx.now - INCOMING_WINDOW,
            Transaction.posted_at <= ctx.now,
        )
        .order_by(Transaction.amount.desc())
        .limit(1)
    )
    return session.execute(stmt).scalar_one_or_none()


def _allowed(product: Product, level: str | None) -> bool:
    if product.type == OFFER_DEPOSIT_TYPE:
        return True
    if product.type != OFFER_WEALTH_TYPE or product.risk_level not in OFFER_WEALTH_RISKS:
        return False
    return level is not None and level_number(str(product.risk_level)) <= level_number(level)


def _best_product(session: Session, level: str | None, available: Decimal) -> Product | None:
    stmt = select(Product).where(Product.type.in_((OFFER_DEPOSIT_TYPE, OFFER_WEALTH_TYPE)))
    products = [
        p
        for p in session.execute(stmt).scalars()
        if _allowed(p, level) and p.min_amount <= available
    ]
    products.sort(key=lambda p: (-(p.reference_rate or Decimal(0)), p.code))
    return products[0] if products else None


def offer_id(customer: Customer, product: Product, reason: str, ctx: Ctx) -> str:
    """Stable for one customer, product and reason on one day, e.g. ``OF3F9A...``."""
    digest = sha256_hex(f"{customer.id}|{product.code}|{reason}|{ctx.now.date().isoformat()}")
    return "OF" + digest[:16].upper()


def next_offer(session: Session, ctx: Ctx, customer: Customer, *, context: str) -> dict[str, Any]:
    """``{"offer": null}`` or ``{"offer": {offer_id, reason, product, disclosure}}``."""
    if has_declined(session, customer):
        return {"offer": None}
    accounts = _savings(session, customer)
    balance = money(sum((a.balance for a in accounts), Decimal(0)))
    incoming = _largest_incoming(session, ctx, accounts, ctx.settings.offer_incoming_threshold)
    met = {
        "balance": balance >= ctx.settings.offer_balance_threshold,
        "incoming": incoming is not None,
    }
    reason = next((r for r in REASON_ORDER[context] if met[r]), None)
    if reason is None:
        return {"offer": None}
    product = _best_product(session, valid_level(session, ctx, customer), balance)
    if product is None:
        return {"offer": None}
    log.info("offer %s to %s (%s)", product.code, customer.id, reason)
    return {
        "offer": {
            "offer_id": offer_id(customer, product, reason, ctx),
            "reason": reason,
            "product": product_view(product),
            "disclosure": RISK_DISCLOSURE if product.type in INVESTMENT_TYPES else None,
        }
    }


def decline_offers(
    session: Session, ctx: Ctx, customer: Customer, *, offer_id: str | None
) -> dict[str, Any]:
    """Remember that the customer declines marketing offers (idempotent: the first
    decline's time is kept). A lost race on the primary key reruns the unit."""
    row = session.get(OfferDecline, customer.id)
    if row is None:
        row = OfferDecline(customer_id=customer.id, declined_at=ctx.now)
        session.add(row)
        session.flush()
        log.info("customer %s declined offers (offer %s)", customer.id, offer_id or "-")
    return {"declined": True, "declined_at": row.declined_at}
