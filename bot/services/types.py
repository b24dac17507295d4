"""Typed records returned by the service clients (the contract actions rely on)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal


@dataclass(frozen=True)
class OtpSent:
    masked_phone: str  # "138****8000"
    expires_in: int  # seconds
    resend_after: int  # seconds before another code may be requested


@dataclass(frozen=True)
class Session:
    """Result of a successful one-time-code verification (also binds the channel user)."""

    token: str
    customer_id: str
    customer_name: str
    vip: bool
    risk_level: str | None  # "C1".."C5" or None when not assessed
    verified_at: datetime
    step_up_expires_at: datetime  # sensitive operations allowed until then


@dataclass(frozen=True)
class Binding:
    customer_id: str
    customer_name: str
    masked_phone: str
    vip: bool


@dataclass(frozen=True)
class Account:
    account_id: str
    account_type: str  # "储蓄卡" or "信用卡"
    last4: str
    currency: str  # "CNY"
    balance: Decimal  # savings: balance; credit: amount owed on the current bill
    available: Decimal  # savings: available balance; credit: available credit


@dataclass(frozen=True)
class Transaction:
    transaction_id: str
    account_last4: str
    posted_at: datetime
    amount: Decimal  # negative = money out
    kind: str  # "消费" | "收入" | "转账" | "缴费"
    description: str
    merchant: str | None
    counterparty: str | None
    balance_after: Decimal


@dataclass(frozen=True)
class Payee:
    payee_id: str
    name: str
    bank: str
    account_type: str
    last4: str


@dataclass(frozen=True)
class TransferQuote:
    payee_name: str
    payee_last4: str
    from_last4: str
    amount: Decimal
    fee: Decimal
    review: bool  # True: a new payee with a large amount is held for manual review
    channel: str
    single_limit: Decimal
    daily_remaining: Decimal


@dataclass(frozen=True)
class Transfer:
    transfer_id: str
    status: str  # "completed" | "held_for_review"
    amount: Decimal
    fee: Decimal
    payee_name: str
    payee_last4: str
    from_last4: str
    balance_after: Decimal
    created_at: datetime
    replayed: bool  # True when this is the stored result of an earlier identical request


@dataclass(frozen=True)
class Card:
    card_id: str
    card_type: str  # "储蓄卡" | "信用卡"
    last4: str
    state: str  # "active" | "frozen" | "lost"


@dataclass(frozen=True)
class CreditCardBill:
    card_last4: str
    credit_limit: Decimal
    available_credit: Decimal
    statement_balance: Decimal
    minimum_payment: Decimal
    due_date: date


@dataclass(frozen=True)
class SupportTicket:
    ticket_id: str  # e.g. "H20261128-0001"
    kind: str  # "handoff" | "complaint"
    created_at: datetime
    reply_due: date | None = None  # complaints: answered by then (2 working days)
    status: str = "open"
    category: str | None = None
    summary: str | None = None


@dataclass(frozen=True)
class BranchQueue:
    """The live queue of one service type at a branch."""

    service_type: str  # "个人业务" | "对公业务" | "外汇" | "贵宾"
    waiting: int
    counters_open: int
    avg_service_minutes: int
    estimated_wait_minutes: int
    updated_at: datetime


@dataclass(frozen=True)
class Branch:
    branch_id: str  # "SH001"
    name: str  # "人民广场支行"
    city: str
    area: str  # district, e.g. "黄浦区"
    address: str
    phone: str
    lat: float
    lng: float
    weekday_hours: str  # "09:00-17:00"
    weekend_hours: str | None  # None: closed at weekends
    services: tuple[str, ...]
    aliases: tuple[str, ...]
    open_now: bool
    opens_at: datetime | None  # next opening when closed
    closes_at: datetime | None  # closing time when open
    queues: tuple[BranchQueue, ...]
    distance_km: float | None = None  # set when searched with a location

    def queue(self, service_type: str) -> BranchQueue | None:
        """The queue of ``service_type`` at this branch, if it has one."""
        return next((q for q in self.queues if q.service_type == service_type), None)


@dataclass(frozen=True)
class Product:
    code: str
    name: str
    type: str  # "deposit" | "wealth" | "fund" | "loan" | "credit_card"
    category: str  # Chinese category, e.g. "大额存单"
    risk_level: str | None  # "R1".."R5"; None for loans and cards
    term_days: int | None
    min_amount: Decimal
    reference_rate: Decimal | None  # percent, meaning given by rate_label
    rate_label: str
    currency: str
    description: str
    disclosure: str | None  # risk disclosure text of investment products


@dataclass(frozen=True)
class FxRate:
    """Reference rates in CNY per ``unit`` (100) units of ``currency``."""

    currency: str  # "USD"
    name: str  # "美元"
    unit: int
    buy: Decimal  # 现汇买入价
    sell: Decimal  # 现汇卖出价
    cash_buy: Decimal  # 现钞买入价
    middle: Decimal  # 中间价
    updated_at: datetime
