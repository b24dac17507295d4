"""ORM models of the sandbox bank (SQLAlchemy 1.4, 2.0-style usage)."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    inspect,
    text,
)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeMeta, registry, relationship
from sqlalchemy.schema import CreateColumn

from .db import Fixed, LocalDateTime

mapper_registry = registry()


class Base(metaclass=DeclarativeMeta):
    """Declarative base (an explicit class so type checkers see it)."""

    __abstract__ = True
    registry = mapper_registry
    metadata = mapper_registry.metadata
    __init__ = mapper_registry.constructor


SAVINGS = "储蓄卡"
CREDIT = "信用卡"

BANK_NAME = "沪银银行"


class Customer(Base):
    __tablename__ = "customers"

    id = Column(String(32), primary_key=True)
    name = Column(String(64), nullable=False)
    phone = Column(String(20), nullable=False, unique=True)
    risk_level = Column(String(4))  # C1..C5, None when not assessed
    vip = Column(Boolean, nullable=False, default=False)
    created_at = Column(LocalDateTime, nullable=False)
    manager_id = Column(String(16), ForeignKey("relationship_managers.id"))  # VIPs

    accounts = relationship("Account", back_populates="customer", order_by="Account.id")


class Account(Base):
    """A savings account (balance) or a credit-card account (balance = amount owed)."""

    __tablename__ = "accounts"

    id = Column(String(32), primary_key=True)
    customer_id = Column(String(32), ForeignKey("customers.id"), nullable=False, index=True)
    account_type = Column(String(16), nullable=False)
    number = Column(String(19), nullable=False, unique=True)
    last4 = Column(String(4), nullable=False, index=True)
    currency = Column(String(3), nullable=False, default="CNY")
    balance = Column(Fixed(), nullable=False)
    credit_limit = Column(Fixed())
    statement_balance = Column(Fixed())
    minimum_payment = Column(Fixed())
    due_day = Column(Integer)
    opened_at = Column(LocalDateTime, nullable=False)

    customer = relationship("Customer", back_populates="accounts")
    card = relationship("Card", back_populates="account", uselist=False)


class Card(Base):
    __tablename__ = "cards"

    id = Column(String(32), primary_key=True)
    account_id = Column(String(32), ForeignKey("accounts.id"), nullable=False, unique=True)
    customer_id = Column(String(32), ForeignKey("customers.id"), nullable=False, index=True)
    card_type = Column(String(16), nullable=False)
    number = Column(String(19), nullable=False, unique=True)
    last4 = Column(String(4), nullable=False)
    state = Column(String(16), nullable=False, default="active")  # active|frozen|lost
    updated_at = Column(LocalDateTime, nullable=False)

    account = relationship("Account", back_populates="card")


class Transaction(Base):
    __tablename__ = "transactions"
    __table_args__ = (Index("ix_transactions_account_posted", "account_id", "posted_at"),)

    id = Column(String(40), primary_key=True)
    account_id = Column(String(32), ForeignKey("accounts.id"), nullable=False)
    posted_at = Column(LocalDateTime, nullable=False)
    amount = Column(Fixed(), nullable=False)  # negative = money out
    kind = Column(String(8), nullable=False)  # 消费 | 收入 | 转账 | 缴费
    description = Column(String(200), nullable=False)
    merchant = Column(String(100))
    counterparty = Column(String(100))
    balance_after = Column(Fixed(), nullable=False)
    transfer_id = Column(String(40), ForeignKey("transfers.id"))


class Payee(Base):
    __tablename__ = "payees"
    __table_args__ = (UniqueConstraint("customer_id", "account_number"),)

    id = Column(String(32), primary_key=True)
    customer_id = Column(String(32), ForeignKey("customers.id"), nullable=False, index=True)
    name = Column(String(64), nullable=False)
    bank = Column(String(64), nullable=False)
    account_type = Column(String(16), nullable=False)
    account_number = Column(String(19), nullable=False)
    last4 = Column(String(4), nullable=False)
    created_at = Column(LocalDateTime, nullable=False)


class Transfer(Base):
    __tablename__ = "transfers"
    __table_args__ = (UniqueConstraint("customer_id", "idempotency_key"),)

    id = Column(String(40), primary_key=True)
    customer_id = Column(String(32), ForeignKey("customers.id"), nullable=False)
    from_account_id = Column(String(32), ForeignKey("accounts.id"), nullable=False)
    to_account_id = Column(String(32), ForeignKey("accounts.id"))  # set when in this bank
    payee_id = Column(String(32), ForeignKey("payees.id"))  # set for a known payee
    payee_name = Column(String(64), nullable=False)
    payee_bank = Column(String(64), nullable=False)
    payee_account_number = Column(String(19), nullable=False)
    payee_last4 = Column(String(4), nullable=False)
    amount = Column(Fixed(), nullable=False)
    fee = Column(Fixed(), nullable=False)
    channel = Column(String(16), nullable=False)
    status = Column(String(20), nullable=False)  # completed | held_for_review
    idempotency_key = Column(String(128), nullable=False)
    request_hash = Column(String(64), nullable=False)
    balance_after = Column(Fixed(), nullable=False)
    created_at = Column(LocalDateTime, nullable=False, index=True)


class Binding(Base):
    """A chat user (channel, channel_user_id) bound to a customer."""

    __tablename__ = "bindings"
    __table_args__ = (UniqueConstraint("channel", "channel_user_id"),)

    id = Column(Integer, primary_key=True, autoincrement=True)
    channel = Column(String(32), nullable=False)
    channel_user_id = Column(String(128), nullable=False)
    customer_id = Column(String(32), ForeignKey("customers.id"), nullable=False)
    created_at = Column(LocalDateTime, nullable=False)
    updated_at = Column(LocalDateTime, nullable=False)

    customer = relationship("Customer")


class AuthToken(Base):
    """An opaque bearer token; only its SHA-256 hash is stored."""

    __tablename__ = "auth_tokens"

    token_hash = Column(String(64), primary_key=True)
    customer_id = Column(String(32), ForeignKey("customers.id"), nullable=False)
    channel = Column(String(32), nullable=False)
    channel_user_id = Column(String(128), nullable=False)
    verified_at = Column(LocalDateTime, nullable=False)
    expires_at = Column(LocalDateTime, nullable=False)
    revoked_at = Column(LocalDateTime)


class OtpCode(Base):
    __tablename__ = "otp_codes"
    __table_args__ = (Index("ix_otp_codes_user", "channel", "channel_user_id"),)

    id = Column(Integer, primary_key=True, autoincrement=True)
    channel = Column(String(32), nullable=False)
    channel_user_id = Column(String(128), nullable=False)
    customer_id = Column(String(32), ForeignKey("customers.id"), nullable=False)
    phone = Column(String(20), nullable=False, index=True)
    purpose = Column(String(16), nullable=False)  # bind | step_up
    code_hash = Column(String(100), nullable=False)  # "salt$sha256"
    attempts = Column(Integer, nullable=False, default=0)
    created_at = Column(LocalDateTime, nullable=False)
    expires_at = Column(LocalDateTime, nullable=False)
    used_at = Column(LocalDateTime)
    locked_until = Column(LocalDateTime)


class SmsMessage(Base):
    """The sandbox SMS outbox: what would have been sent to a phone."""

    __tablename__ = "sms_outbox"

    id = Column(Integer, primary_key=True, autoincrement=True)
    phone = Column(String(20), nullable=False, index=True)
    text = Column(String(500), nullable=False)
    code = Column(String(6))
    sent_at = Column(LocalDateTime, nullable=False)


class Branch(Base):
    __tablename__ = "branches"

    id = Column(String(16), primary_key=True)
    name = Column(String(64), nullable=False, unique=True)
    city = Column(String(16), nullable=False)
    area = Column(String(32), nullable=False)  # district, e.g. 黄浦区
    address = Column(String(200), nullable=False)
    phone = Column(String(32), nullable=False)
    lat = Column(Float, nullable=False)
    lng = Column(Float, nullable=False)
    weekday_open = Column(String(5), nullable=False)  # "09:00"
    weekday_close = Column(String(5), nullable=False)
    weekend_open = Column(String(5))  # None: closed at weekends
    weekend_close = Column(String(5))
    services = Column(JSON, nullable=False)
    aliases = Column(JSON, nullable=False)

    queues = relationship("BranchQueue", order_by="BranchQueue.position")


class BranchQueue(Base):
    __tablename__ = "branch_queues"
    __table_args__ = (UniqueConstraint("branch_id", "service_type"),)

    id = Column(Integer, primary_key=True, autoincrement=True)
    branch_id = Column(String(16), ForeignKey("branches.id"), nullable=False)
    position = Column(Integer, nullable=False, default=0)
    service_type = Column(String(16), nullable=False)  # 个人业务|对公业务|外汇|贵宾
    waiting = Column(Integer, nullable=False)
    counters_open = Column(Integer, nullable=False)
    avg_service_minutes = Column(Integer, nullable=False)
    updated_at = Column(LocalDateTime, nullable=False)
    # Live state, advanced lazily minute by minute (see service/queues.py).
    next_number = Column(Integer, nullable=False, default=1, server_default="1")
    last_advanced_at = Column(LocalDateTime)  # None: never advanced (legacy row)
    service_progress = Column(BigInteger, nullable=False, default=0, server_default="0")
    arrival_progress = Column(BigInteger, nullable=False, default=0, server_default="0")
    # Parameters: the crowd at opening time and walk-ins per hour (before the
    # time-of-day factor).
    opening_waiting = Column(Integer, nullable=False, default=0, server_default="0")
    arrivals_per_hour = Column(Integer, nullable=False, default=0, server_default="0")


class QueueTicket(Base):
    """A queue number taken by a chat user (channel, channel_user_id)."""

    __tablename__ = "queue_tickets"
    __table_args__ = (
        Index("ix_queue_tickets_user", "channel", "channel_user_id"),
        Index("ix_queue_tickets_queue_status", "queue_id", "status"),
    )

    id = Column(String(32), primary_key=True)
    queue_id = Column(Integer, ForeignKey("branch_queues.id"), nullable=False)
    branch_id = Column(String(16), ForeignKey("branches.id"), nullable=False)
    service_type = Column(String(16), nullable=False)
    number = Column(String(8), nullable=False)  # A023
    channel = Column(String(32), nullable=False)
    channel_user_id = Column(String(128), nullable=False)
    customer_id = Column(String(32), ForeignKey("customers.id"))
    status = Column(String(16), nullable=False)  # waiting|called|cancelled|expired
    people_ahead = Column(Integer, nullable=False)  # meaningful while waiting
    # "channel|user|branch" while waiting, else None: one waiting ticket per branch.
    active_key = Column(String(200), unique=True)
    issued_at = Column(LocalDateTime, nullable=False)
    called_at = Column(LocalDateTime)
    closed_at = Column(LocalDateTime)  # cancelled or expired


class RelationshipManager(Base):
    """A VIP customer's personal manager (客户经理)."""

    __tablename__ = "relationship_managers"

    id = Column(String(16), primary_key=True)
    name = Column(String(64), nullable=False)
    title = Column(String(64), nullable=False)
    branch_id = Column(String(16), ForeignKey("branches.id"), nullable=False)
    office_phone = Column(String(32), nullable=False)  # the branch line
    extension = Column(String(8), nullable=False)
    mobile = Column(String(20), nullable=False)  # only ever shown masked


class RiskAssessment(Base):
    """One completed risk questionnaire; the newest one is the customer's level."""

    __tablename__ = "risk_assessments"
    __table_args__ = (Index("ix_risk_assessments_customer", "customer_id", "assessed_at"),)

    id = Column(Integer, primary_key=True, autoincrement=True)
    customer_id = Column(String(32), ForeignKey("customers.id"), nullable=False)
    version = Column(String(16), nullable=False)
    answers = Column(JSON, nullable=False)
    score = Column(Integer, nullable=False)
    risk_level = Column(String(4), nullable=False)
    assessed_at = Column(LocalDateTime, nullable=False)
    expires_at = Column(LocalDateTime, nullable=False)


class Product(Base):
    __tablename__ = "products"

    code = Column(String(32), primary_key=True)
    name = Column(String(100), nullable=False)
    type = Column(String(16), nullable=False)  # deposit|wealth|fund|loan|credit_card
    category = Column(String(16), nullable=False)  # 定期存款, 大额存单, 理财, ...
    risk_level = Column(String(4))  # R1..R5, None for loans and cards
    term_days = Column(Integer)
    min_amount = Column(Fixed(), nullable=False)
    reference_rate = Column(Fixed(8, 2))  # percent per year (per day for card overdraft)
    rate_label = Column(String(100), nullable=False)
    currency = Column(String(3), nullable=False, default="CNY")
    description = Column(Text, nullable=False)
    position = Column(Integer, nullable=False, default=0)


class FxRate(Base):
    """Reference rates in CNY per ``unit`` (100) units of the foreign currency."""

    __tablename__ = "fx_rates"

    currency = Column(String(3), primary_key=True)
    name = Column(String(16), nullable=False)
    unit = Column(Integer, nullable=False, default=100)
    buy = Column(Fixed(12, 2), nullable=False)
    sell = Column(Fixed(12, 2), nullable=False)
    cash_buy = Column(Fixed(12, 2), nullable=False)
    # 现钞卖出价: equal to the spot selling rate in China, stored explicitly (NULL in a
    # database from before it existed until re-seeded: then ``sell`` applies).
    cash_sell = Column(Fixed(12, 2))
    middle = Column(Fixed(12, 2), nullable=False)
    position = Column(Integer, nullable=False, default=0)
    updated_at = Column(LocalDateTime, nullable=False)


class SupportTicket(Base):
    __tablename__ = "support_tickets"
    __table_args__ = (
        Index("ix_support_tickets_user", "channel", "channel_user_id"),
        # One active hand-off per chat user: "channel|user" while open or in progress.
        Index("ux_support_tickets_active_key", "active_key", unique=True),
    )

    id = Column(String(32), primary_key=True)  # H20261128-0001 / C... / D...
    kind = Column(String(16), nullable=False)  # handoff | complaint | dispute
    channel = Column(String(32), nullable=False)
    channel_user_id = Column(String(128), nullable=False)
    customer_id = Column(String(32), ForeignKey("customers.id"))
    category = Column(String(50))
    text = Column(Text)
    summary = Column(Text)
    status = Column(String(16), nullable=False, default="open")  # open|in_progress|closed
    created_at = Column(LocalDateTime, nullable=False)
    reply_due = Column(Date)
    priority = Column(String(8))  # hand-offs: urgent | normal
    reason = Column(String(32))  # hand-offs: a stable code such as "fraud", or None
    transaction_ids = Column(JSON)  # disputes: the customer's transactions concerned
    details = Column(JSON)  # complaints/disputes: [{"at": ISO time, "text": ...}] added later
    active_key = Column(String(200))
    updated_at = Column(LocalDateTime)
    taken_at = Column(LocalDateTime)  # open -> in_progress
    closed_at = Column(LocalDateTime)


class BankContact(Base):
    """A hotline or service desk of the bank, with its hours (public reference data)."""

    __tablename__ = "bank_contacts"

    code = Column(String(32), primary_key=True)  # customer_service, card_loss, ...
    name = Column(String(64), nullable=False)
    phone = Column(String(32))  # None: not reached by phone (online staff)
    other_phones = Column(JSON, nullable=False)  # further numbers, e.g. 96110
    email = Column(String(100))
    hours_text = Column(String(64), nullable=False)  # "每天 8:00-22:00", "24小时"
    days = Column(String(16), nullable=False)  # always | daily | workdays
    opens = Column(String(5))  # "08:00"; None when always open
    closes = Column(String(5))
    note = Column(String(200))
    position = Column(Integer, nullable=False, default=0)


class MortgageRate(Base):
    """A housing-loan rate: commercial (LPR plus a spread) or housing provident fund."""

    __tablename__ = "mortgage_rates"

    code = Column(String(32), primary_key=True)
    loan_type = Column(String(16), nullable=False)  # commercial | provident_fund
    home = Column(String(8), nullable=False)  # first | second
    term = Column(String(8), nullable=False)  # all | le5y | gt5y
    name = Column(String(64), nullable=False)
    base = Column(String(16))  # "LPR5Y" for commercial loans
    base_rate = Column(Fixed(8, 3))  # percent per year
    spread_bp = Column(Integer)  # basis points added to the base (negative: below)
    rate = Column(Fixed(8, 3), nullable=False)  # percent per year (2.525 has three decimals)
    as_of = Column(Date, nullable=False)
    position = Column(Integer, nullable=False, default=0)


class PrepaymentRule(Base):
    """How a housing loan of one type may be repaid early."""

    __tablename__ = "mortgage_prepayment_rules"

    loan_type = Column(String(16), primary_key=True)  # commercial | provident_fund
    name = Column(String(64), nullable=False)
    notice_working_days = Column(Integer, nullable=False)  # book this many working days ahead
    notice_text = Column(String(200), nullable=False)
    min_amount = Column(Fixed(), nullable=False)  # smallest partial prepayment (CNY)
    min_amount_text = Column(String(200), nullable=False)
    fee_text = Column(String(200), nullable=False)
    channels = Column(JSON, nullable=False)
    note = Column(String(300))
    position = Column(Integer, nullable=False, default=0)


class OfferDecline(Base):
    """A customer who declined marketing offers: GET /offers/next answers null for them
    from then on, whatever the session or channel."""

    __tablename__ = "offer_declines"

    customer_id = Column(String(32), ForeignKey("customers.id"), primary_key=True)
    declined_at = Column(LocalDateTime, nullable=False)


class Meta(Base):
    """Key/value facts about the database (e.g. when it was seeded)."""

    __tablename__ = "bank_meta"

    key = Column(String(64), primary_key=True)
    value = Column(String(200), nullable=False)


def ensure_schema(engine: Engine) -> list[str]:
    """Create missing tables and add the columns and indexes a newer version of these
    models declares to tables an older version created (new columns are nullable or have
    a server default, so adding them to filled tables is safe). Returns what was added."""
    Base.metadata.create_all(engine)
    preparer = engine.dialect.identifier_preparer
    added: list[str] = []
    with engine.begin() as conn:
        inspector = inspect(conn)
        for table in Base.metadata.sorted_tables:
            existing = {column["name"] for column in inspector.get_columns(table.name)}
            for column in table.columns:
                if column.name in existing:
                    continue
                spec = CreateColumn(column).compile(dialect=engine.dialect)
                conn.execute(text(f"ALTER TABLE {preparer.format_table(table)} ADD COLUMN {spec}"))
                added.append(f"{table.name}.{column.name}")
        # Indexes a newer model declares on an older table (create_all skips them).
        for table in Base.metadata.sorted_tables:
            known = {index["name"] for index in inspect(conn).get_indexes(table.name)}
            for index in table.indexes:
                if index.name not in known:
                    index.create(conn)
                    added.append(f"{table.name}.{index.name}")
    return added
