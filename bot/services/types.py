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
class StatementSummary:
    """Totals over every transaction matching a statement's filters (not only the page)."""

    count: int
    spending_total: Decimal  # outflows, as a positive amount
    income_total: Decimal  # inflows
    net: Decimal  # income_total - spending_total
    has_more: bool  # the statement's items show fewer than count
    start: date | None  # Beijing dates, inclusive
    end: date | None
    kind: str | None  # 消费 | 支出 | 收入 | 转账 | 转入 | 转出 | 缴费
    merchant: str | None
    account_last4: str | None


@dataclass(frozen=True)
class Statement:
    items: tuple[Transaction, ...]  # newest first, at most the requested limit
    summary: StatementSummary


@dataclass(frozen=True)
class TransferQuote:
    payee_name: str
    payee_last4: str
    from_last4: str
    amount: Decimal
    fee: Decimal
    review: bool  # True: a new payee with amount >= review_threshold is held for review
    channel: str
    single_limit: Decimal
    daily_remaining: Decimal
    new_payee: bool = False  # a full account number that is not a saved payee
    review_threshold: Decimal = Decimal("10000.00")  # "新收款人单笔达到 ¥X 需人工审核"
    payee_bank: str = ""  # 沪银银行, 招商银行, 他行


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
    ticket_id: str  # e.g. "H20261128-0001" (H hand-off, C complaint, D dispute)
    kind: str  # "handoff" | "complaint" | "dispute"
    created_at: datetime
    reply_due: date | None = None  # complaints, disputes: answered by then (2 working days)
    status: str = "open"  # "open" | "in_progress" | "closed"
    category: str | None = None
    summary: str | None = None
    priority: str | None = None  # hand-offs: "urgent" | "normal"
    reason: str | None = None  # hand-offs: "fraud", "stolen_card", ... or None
    updated_at: datetime | None = None
    taken_at: datetime | None = None
    closed_at: datetime | None = None
    transaction_ids: tuple[str, ...] = ()  # disputes
    details_count: int = 0  # texts added later (POST .../details)
    last_detail_at: datetime | None = None
    existing: bool = False  # create_ticket: the chat user's active hand-off was returned
    # Hand-offs (None for other kinds): 在线人工客服's hours by the bank clock and the line.
    within_hours: bool | None = None
    hours: str | None = None  # "每天 8:00-22:00"
    next_open: datetime | None = None  # when outside hours
    position: int | None = None  # open hand-offs ahead (urgent first) while open
    expected_wait_minutes: int | None = None  # while open and within hours


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
    cash_sell: Decimal | None = None  # 现钞卖出价 (equal to sell in China)


@dataclass(frozen=True)
class QueueAlternative:
    """分流: a nearby open branch with a clearly shorter wait for the same service."""

    branch_id: str
    name: str
    address: str
    distance_km: float
    waiting: int
    estimated_wait_minutes: int


@dataclass(frozen=True)
class QueueStatus:
    """The live queue of one service type at a branch, with the bank's 分流 suggestion."""

    branch_id: str
    service_type: str  # "个人业务" | "对公业务" | "外汇" | "贵宾"
    waiting: int
    counters_open: int
    avg_service_minutes: int
    estimated_wait_minutes: int
    offered: bool  # False: the branch does not offer this service (no tickets)
    open_now: bool
    opens_at: datetime | None  # next opening when closed
    next_number: str  # the number the next ticket gets, e.g. "A041"
    alternative: QueueAlternative | None
    updated_at: datetime


@dataclass(frozen=True)
class QueueTicket:
    """A queue number held by a chat user (survives across sessions)."""

    ticket_id: str
    number: str  # "A041": A 个人业务, B 对公业务, C 外汇, V 贵宾
    branch_id: str
    branch_name: str
    branch_address: str
    branch_phone: str
    service_type: str
    status: str  # "waiting" | "called" | "cancelled" | "expired"
    people_ahead: int | None  # while waiting
    estimated_wait_minutes: int | None  # while waiting
    issued_at: datetime
    called_at: datetime | None
    closed_at: datetime | None  # when cancelled or expired
    alternative: QueueAlternative | None  # 分流 suggestion while waiting


@dataclass(frozen=True)
class ProductComparison:
    products: tuple[Product, ...]
    differences: tuple[str, ...]  # field names: risk_level, term_days, min_amount, ...
    disclosure: str | None  # set when an investment product is compared


@dataclass(frozen=True)
class RiskOption:
    id: str  # "A"
    text: str


@dataclass(frozen=True)
class RiskQuestion:
    id: str  # "q1"
    text: str
    options: tuple[RiskOption, ...]


@dataclass(frozen=True)
class RiskLevel:
    level: str  # "C3"
    label: str  # "平衡型"
    description: str
    max_product_risk: str  # "R3"


@dataclass(frozen=True)
class RiskQuestionnaire:
    """The bank's questionnaire (the bank keeps the scores)."""

    version: str
    title: str
    questions: tuple[RiskQuestion, ...]
    levels: tuple[RiskLevel, ...]
    valid_days: int


@dataclass(frozen=True)
class RiskAssessment:
    risk_level: str  # "C1".."C5"
    label: str  # "平衡型"
    max_product_risk: str  # "R3"
    score: int
    assessed_at: datetime
    expires_at: datetime
    previous_level: str | None
    description: str


@dataclass(frozen=True)
class Recommendations:
    """Products the customer's level allows, best first, with the risk disclosure."""

    risk_level: str
    label: str
    max_product_risk: str
    amount: Decimal | None
    term_days: int | None
    products: tuple[Product, ...]
    disclosure: str | None  # set when an investment product is listed


@dataclass(frozen=True)
class Suitability:
    suitable: bool
    code: str
    product_risk_level: str
    customer_risk_level: str
    amount: Decimal | None
    product: Product
    disclosure: str | None


@dataclass(frozen=True)
class FxConversion:
    """A reference conversion on the bank's side of the spread: the customer pays
    ``from_amount`` of ``from_currency`` and gets ``to_amount`` of ``to_currency``."""

    from_currency: str  # "USD"
    to_currency: str  # "CNY"
    amount: Decimal  # the amount given, in the currency named by amount_currency
    result: Decimal  # the other amount, rounded half up to 0.01
    currency: str  # the foreign currency whose rate was used
    currency_name: str  # "美元"
    rate_side: str  # the bank's side: "buy" (customer sells foreign) | "sell" (buys foreign)
    rate_label: str  # "现汇买入价" | "现汇卖出价" | "现钞买入价" | "现钞卖出价"
    rate: Decimal  # CNY per ``unit`` units
    unit: int
    note: str  # "参考汇率，实际以交易时牌价为准"
    updated_at: datetime
    amount_currency: str = "from"  # "from" | "to": the side ``amount`` is in
    from_amount: Decimal | None = None  # what the customer pays
    to_amount: Decimal | None = None  # what the customer gets
    cash: bool = False  # banknotes (现钞) rather than an account (现汇)
    direction: str = ""  # "buy_foreign" (购汇) | "sell_foreign" (结汇)
    direction_label: str = ""  # "购汇（银行卖出）" | "结汇（银行买入）"


@dataclass(frozen=True)
class RelationshipManager:
    """A VIP customer's personal manager."""

    manager_id: str
    name: str
    title: str
    branch_id: str
    branch_name: str | None
    phone: str  # office line with extension, "021-50471234 转 8021"
    extension: str
    masked_mobile: str  # "137****8021"


@dataclass(frozen=True)
class CustomerProfile:
    customer_id: str
    name: str
    masked_phone: str
    vip: bool
    risk_level: str | None
    risk_label: str | None  # "平衡型"
    risk_assessed_at: datetime | None
    risk_expires_at: datetime | None
    risk_assessment_valid: bool
    manager: RelationshipManager | None  # VIPs only


@dataclass(frozen=True)
class ComplaintCategory:
    category: str  # "收费问题"
    keywords: tuple[str, ...]  # words that name it ("收费", "手续费", ...)


@dataclass(frozen=True)
class Offer:
    """The bank's next-best offer (compliant marketing): a deposit or an R1-R2 wealth
    product the customer's level allows."""

    offer_id: str
    reason: str  # "balance" (a large savings balance) | "incoming" (a large payment in)
    product: Product
    disclosure: str | None  # the risk disclosure when the product is an investment


@dataclass(frozen=True)
class BankContact:
    """A hotline or desk of the bank with its hours (computed with the bank clock)."""

    code: str  # customer_service, credit_card, card_loss, online_staff, anti_fraud,
    #            press_office, mortgage, vip
    name: str  # "在线人工客服"
    phone: str | None  # None: not reached by phone (online staff)
    other_phones: tuple[str, ...]  # e.g. ("96110",) besides 110
    email: str | None
    hours: str  # "每天 8:00-22:00", "24小时", "工作日 9:00-17:30"
    days: str  # "always" | "daily" | "workdays" (Monday to Friday)
    opens: str | None  # "08:00"
    closes: str | None  # "22:00"
    open_now: bool
    next_open: datetime | None  # when closed
    closes_at: datetime | None  # when open (not for 24-hour lines)
    note: str | None


@dataclass(frozen=True)
class MortgageRate:
    code: str  # commercial_first, commercial_second, fund_first_le5y, fund_first_gt5y, ...
    name: str  # "商业贷款 首套住房"
    home: str  # "first" | "second"
    term: str  # "all" | "le5y" (up to 5 years) | "gt5y" (over 5 years)
    base: str | None  # "LPR5Y" for commercial loans
    base_rate: Decimal | None  # percent
    spread_bp: int | None  # basis points over the base (-45: LPR - 0.45)
    rate: Decimal  # percent per year
    as_of: date


@dataclass(frozen=True)
class PrepaymentRule:
    loan_type: str  # "commercial" | "provident_fund"
    name: str
    notice_working_days: int
    notice: str  # Chinese text
    min_amount: Decimal
    min_amount_text: str
    fee: str  # penalty / fee text
    channels: tuple[str, ...]
    note: str | None


@dataclass(frozen=True)
class MortgageRates:
    as_of: date
    lpr_5y: Decimal | None  # percent
    lpr_as_of: date | None
    commercial: tuple[MortgageRate, ...]
    provident_fund: tuple[MortgageRate, ...]
    prepayment: tuple[PrepaymentRule, ...]
    note: str

    def rate(self, code: str) -> MortgageRate | None:
        """The rate named ``code`` (commercial or provident fund), if published."""
        return next((r for r in (*self.commercial, *self.provident_fund) if r.code == code), None)
