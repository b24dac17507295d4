"""Accounts, transactions, payees and the credit-card bill."""

from __future__ import annotations

import calendar
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from ..clock import CST
from ..errors import BadRequest, CardNotFound
from ..models import CREDIT, SAVINGS, Account, Customer, Payee, Transaction
from . import Ctx, money

KINDS = ("消费", "收入", "转账", "缴费")  # what a transaction is (Transaction.kind)
# What the ``kind`` filter of a statement may name: (transaction kinds or None for any,
# direction: "in" = money in, "out" = money out, None = both).
# 消费 are purchases (merchants, card payments); 支出 is every outflow (purchases, bills,
# transfers out); 收入 is every inflow (salary, interest, transfers in, refunds), the
# same money as the summary's income_total.
KIND_FILTERS: dict[str, tuple[tuple[str, ...] | None, str | None]] = {
    "消费": (("消费",), None),
    "支出": (None, "out"),
    "收入": (None, "in"),
    "转账": (("转账",), None),
    "转入": (("转账",), "in"),
    "转出": (("转账",), "out"),
    "缴费": (("缴费",), None),
}


def account_view(account: Account) -> dict[str, Any]:
    """Savings: balance and available; credit: amount owed and available credit."""
    if account.account_type == CREDIT:
        available = money(account.credit_limit or 0) - account.balance
    else:
        available = account.balance
    return {
        "account_id": account.id,
        "account_type": account.account_type,
        "last4": account.last4,
        "currency": account.currency,
        "balance": money(account.balance),
        "available": money(available),
    }


def customer_accounts(session: Session, customer: Customer) -> list[Account]:
    stmt = select(Account).where(Account.customer_id == customer.id).order_by(Account.id)
    return list(session.execute(stmt).scalars())


def savings_account(session: Session, customer: Customer, *, lock: bool = False) -> Account:
    """The customer's (first) savings account, optionally locked for update."""
    stmt = (
        select(Account)
        .where(Account.customer_id == customer.id, Account.account_type == SAVINGS)
        .order_by(Account.id)
        .limit(1)
    )
    if lock:
        stmt = stmt.with_for_update()
    account = session.execute(stmt).scalar_one_or_none()
    if account is None:
        raise CardNotFound("The customer has no savings account.")
    return account


def list_accounts(session: Session, ctx: Ctx, customer: Customer) -> list[dict[str, Any]]:
    return [account_view(a) for a in customer_accounts(session, customer)]


def transaction_view(txn: Transaction, last4: str) -> dict[str, Any]:
    return {
        "transaction_id": txn.id,
        "account_last4": last4,
        "posted_at": txn.posted_at,
        "amount": money(txn.amount),
        "kind": txn.kind,
        "description": txn.description,
        "merchant": txn.merchant,
        "counterparty": txn.counterparty,
        "balance_after": money(txn.balance_after),
    }


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def list_transactions(
    session: Session,
    ctx: Ctx,
    customer: Customer,
    *,
    account_last4: str | None,
    start: date | None,
    end: date | None,
    kind: str | None,
    merchant: str | None,
    limit: int,
) -> dict[str, Any]:
    """The customer's transactions, newest first, filtered; ``start`` and ``end`` are
    Beijing dates (inclusive). ``items`` holds at most ``limit`` of them, ``summary``
    counts and totals all that match."""
    if start and end and start > end:
        raise BadRequest("'start' must not be after 'end'.", field="start")
    if kind is not None and kind not in KIND_FILTERS:
        allowed = list(KIND_FILTERS)
        raise BadRequest(
            f"'kind' must be one of {', '.join(allowed)}.", field="kind", allowed=allowed
        )
    accounts = customer_accounts(session, customer)
    if account_last4:
        accounts = [a for a in accounts if a.last4 == account_last4]
        if not accounts:
            raise CardNotFound(last4=account_last4)
    last4_by_id = {a.id: a.last4 for a in accounts}
    conditions: list[Any] = [Transaction.account_id.in_(list(last4_by_id))]
    if start:
        conditions.append(Transaction.posted_at >= datetime.combine(start, time(), CST))
    if end:
        conditions.append(
            Transaction.posted_at < datetime.combine(end + timedelta(days=1), time(), CST)
        )
    if kind:
        kinds, direction = KIND_FILTERS[kind]
        if kinds is not None:
            conditions.append(Transaction.kind.in_(kinds))
        if direction == "in":
            conditions.append(Transaction.amount > 0)
        elif direction == "out":
            conditions.append(Transaction.amount < 0)
    if merchant:
        pattern = _like(merchant)
        conditions.append(
            or_(
                Transaction.merchant.like(pattern, escape="\\"),
                Transaction.counterparty.like(pattern, escape="\\"),
                Transaction.description.like(pattern, escape="\\"),
            )
        )
    stmt = (
        select(Transaction)
        .where(*conditions)
        .order_by(Transaction.posted_at.desc(), Transaction.id.desc())
        .limit(limit)
    )
    items = [transaction_view(t, last4_by_id[t.account_id]) for t in session.execute(stmt).scalars()]
    # Totals over every match, not only the page (a statement has tens of rows).
    amounts = list(session.execute(select(Transaction.amount).where(*conditions)).scalars())
    spending = money(-sum((a for a in amounts if a < 0), Decimal(0)))
    income = money(sum((a for a in amounts if a > 0), Decimal(0)))
    return {
        "items": items,
        "summary": {
            "count": len(amounts),
            "spending_total": spending,
            "income_total": income,
            "net": money(income - spending),
            "has_more": len(amounts) > len(items),
            "start": start,
            "end": end,
            "kind": kind,
            "merchant": merchant,
            "account_last4": account_last4,
        },
    }


def payee_view(payee: Payee) -> dict[str, Any]:
    return {
        "payee_id": payee.id,
        "name": payee.name,
        "bank": payee.bank,
        "account_type": payee.account_type,
        "last4": payee.last4,
    }


def list_payees(session: Session, ctx: Ctx, customer: Customer) -> list[dict[str, Any]]:
    stmt = select(Payee).where(Payee.customer_id == customer.id).order_by(Payee.id)
    return [payee_view(p) for p in session.execute(stmt).scalars()]


def next_due_date(today: date, due_day: int) -> date:
    """The next ``due_day`` of a month on or after ``today`` (clamped to short months)."""
    year, month = today.year, today.month
    for _ in range(2):
        last = calendar.monthrange(year, month)[1]
        candidate = date(year, month, min(due_day, last))
        if candidate >= today:
            return candidate
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    raise AssertionError("unreachable")  # pragma: no cover


def credit_card_bill(
    session: Session, ctx: Ctx, customer: Customer, last4: str | None
) -> dict[str, Any]:
    """The current statement of one of the customer's credit cards."""
    cards = [a for a in customer_accounts(session, customer) if a.account_type == CREDIT]
    if last4:
        cards = [a for a in cards if a.last4 == last4]
    if not cards:
        raise CardNotFound(
            "The customer has no credit card" + (f" ending {last4}." if last4 else "."),
            last4=last4,
        )
    card = cards[0]
    limit = money(card.credit_limit or 0)
    return {
        "card_last4": card.last4,
        "credit_limit": limit,
        "available_credit": money(limit - card.balance),
        "statement_balance": money(card.statement_balance or 0),
        "minimum_payment": money(card.minimum_payment or 0),
        "due_date": next_due_date(ctx.now.date(), card.due_day or 15),
    }
