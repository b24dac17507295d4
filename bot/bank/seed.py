"""Demo data of the sandbox bank (design.md section 7), seeded idempotently."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from .clock import CST
from .db import make_sessionmaker, run_unit
from .models import (
    BANK_NAME,
    CREDIT,
    SAVINGS,
    Account,
    Base,
    Branch,
    BranchQueue,
    Card,
    Customer,
    FxRate,
    Meta,
    Payee,
    Product,
    RelationshipManager,
    RiskAssessment,
    Transaction,
    ensure_schema,
)
from .service.hours import opening_state

log = logging.getLogger(__name__)

D = Decimal

ZHANG_WEI = "C100001"
LI_NA = "C100002"
ZHANG_SAVINGS_NUMBER = "6216610200000561234"
ZHANG_CREDIT_NUMBER = "6259650012345678"
LI_SAVINGS_NUMBER = "6216610200000898888"
WANG_FANG_NUMBER = "6225880212346666"  # 王芳, 招商银行 (not in this bank)

ZHANG_BALANCE = D("52380.15")
LI_BALANCE = D("1280000.00")


@dataclass(frozen=True)
class _Txn:
    days_ago: int
    at: str  # "HH:MM"
    amount: str
    kind: str
    description: str
    merchant: str | None = None
    counterparty: str | None = None


# 张伟's savings account over the 60 days before seeding (oldest first).
ZHANG_TRANSACTIONS: tuple[_Txn, ...] = (
    _Txn(59, "09:15", "18500.00", "收入", "工资", None, "上海启明科技有限公司"),
    _Txn(58, "12:30", "-45.80", "消费", "美团外卖", "美团"),
    _Txn(57, "20:10", "-329.00", "消费", "京东购物", "京东"),
    _Txn(56, "08:05", "-6.00", "消费", "地铁出行", "上海地铁"),
    _Txn(55, "19:40", "-128.50", "缴费", "电费", "国网上海市电力公司"),
    _Txn(54, "12:10", "-38.50", "消费", "美团外卖", "美团"),
    _Txn(52, "21:00", "-2000.00", "转账", "转账给王芳", None, "王芳"),
    _Txn(50, "18:30", "-256.30", "消费", "盒马鲜生", "盒马"),
    _Txn(49, "10:00", "-89.00", "缴费", "手机话费", "中国移动"),
    _Txn(47, "13:05", "-52.00", "消费", "美团外卖", "美团"),
    _Txn(45, "20:45", "-1299.00", "消费", "京东购物", "京东"),
    _Txn(44, "09:00", "-4500.00", "转账", "房租", None, "陈建国"),
    _Txn(42, "11:20", "500.00", "转账", "李娜转入", None, "李娜"),
    _Txn(40, "19:10", "-67.90", "消费", "美团外卖", "美团"),
    _Txn(38, "15:30", "-35.00", "缴费", "水费", "上海城投水务"),
    _Txn(36, "12:00", "-42.00", "消费", "星巴克咖啡", "星巴克"),
    _Txn(35, "20:00", "-158.00", "缴费", "燃气费", "上海燃气"),
    _Txn(33, "18:40", "-412.60", "消费", "盒马鲜生", "盒马"),
    _Txn(29, "09:15", "18500.00", "收入", "工资", None, "上海启明科技有限公司"),
    _Txn(28, "19:00", "-2860.40", "转账", "信用卡还款", None, "信用卡尾号5678"),
    _Txn(27, "12:20", "-41.00", "消费", "美团外卖", "美团"),
    _Txn(26, "21:15", "-599.00", "消费", "京东购物", "京东"),
    _Txn(24, "08:30", "-6.00", "消费", "地铁出行", "上海地铁"),
    _Txn(23, "19:00", "-132.40", "缴费", "电费", "国网上海市电力公司"),
    _Txn(21, "12:40", "-36.80", "消费", "美团外卖", "美团"),
    _Txn(20, "10:00", "-1000.00", "转账", "转账给李娜", None, "李娜"),
    _Txn(18, "20:30", "-89.90", "消费", "京东购物", "京东"),
    _Txn(16, "09:00", "-4500.00", "转账", "房租", None, "陈建国"),
    _Txn(15, "18:00", "-268.00", "消费", "盒马鲜生", "盒马"),
    _Txn(14, "12:10", "-45.00", "消费", "美团外卖", "美团"),
    _Txn(12, "10:00", "-89.00", "缴费", "手机话费", "中国移动"),
    _Txn(10, "19:30", "-36.00", "缴费", "水费", "上海城投水务"),
    _Txn(9, "12:15", "-58.50", "消费", "美团外卖", "美团"),
    _Txn(7, "20:20", "-1599.00", "消费", "京东购物", "京东"),
    _Txn(6, "09:00", "12.35", "收入", "活期结息", None, BANK_NAME),
    _Txn(5, "18:45", "-73.20", "消费", "美团外卖", "美团"),
    _Txn(3, "19:10", "-215.80", "消费", "盒马鲜生", "盒马"),
    _Txn(2, "12:05", "-39.90", "消费", "美团外卖", "美团"),
    _Txn(1, "08:20", "-6.00", "消费", "地铁出行", "上海地铁"),
)

LI_TRANSACTIONS: tuple[_Txn, ...] = (
    _Txn(58, "10:00", "26000.00", "收入", "工资", None, "上海浦江投资管理有限公司"),
    _Txn(42, "11:20", "-500.00", "转账", "转账给张伟", None, "张伟"),
    _Txn(30, "15:00", "-3880.00", "消费", "恒隆广场购物", "恒隆广场"),
    _Txn(28, "10:00", "26000.00", "收入", "工资", None, "上海浦江投资管理有限公司"),
    _Txn(20, "10:00", "1000.00", "转账", "张伟转入", None, "张伟"),
    _Txn(11, "09:30", "6850.00", "收入", "理财到期收益", None, BANK_NAME),
)

# Queues: (service type, waiting, counters open, average service minutes, walk-ins per
# hour before the time-of-day factor, numbers issued so far today). The waiting count is
# also the crowd at every opening. 人民广场 个人业务 is busy (48 minutes) and 静安寺, about
# 3 km away, is short (12 minutes): the 分流 demo.
BRANCHES: tuple[dict[str, Any], ...] = (
    {
        "id": "SH001",
        "name": "人民广场支行",
        "area": "黄浦区",
        "address": "上海市黄浦区西藏中路268号",
        "phone": "021-63581234",
        "lat": 31.2317,
        "lng": 121.4753,
        "hours": ("09:00", "17:00", "09:00", "16:00"),
        "services": ["个人业务", "对公业务", "外汇", "贵宾", "自助银行", "保管箱"],
        "aliases": ["人广", "人民广场", "人民公园", "来福士"],
        "queues": (
            ("个人业务", 18, 3, 8, 22, 40),
            ("对公业务", 5, 1, 15, 3, 9),
            ("外汇", 4, 1, 12, 4, 7),
            ("贵宾", 1, 1, 10, 3, 3),
        ),
    },
    {
        "id": "SH002",
        "name": "陆家嘴支行",
        "area": "浦东新区",
        "address": "上海市浦东新区陆家嘴环路1000号",
        "phone": "021-50471234",
        "lat": 31.2397,
        "lng": 121.4998,
        "hours": ("09:00", "17:00", "10:00", "16:00"),
        "services": ["个人业务", "对公业务", "外汇", "贵宾", "自助银行"],
        "aliases": ["陆家嘴", "小陆家嘴", "东方明珠", "国金中心"],
        "queues": (
            ("个人业务", 6, 2, 7, 15, 20),
            ("对公业务", 9, 2, 14, 7, 15),
            ("外汇", 2, 1, 12, 4, 5),
            ("贵宾", 0, 1, 10, 3, 2),
        ),
    },
    {
        "id": "SH003",
        "name": "徐家汇支行",
        "area": "徐汇区",
        "address": "上海市徐汇区漕溪北路88号",
        "phone": "021-64871234",
        "lat": 31.1955,
        "lng": 121.4368,
        "hours": ("09:00", "17:30", "09:30", "16:00"),
        "services": ["个人业务", "对公业务", "外汇", "贵宾", "自助银行"],
        "aliases": ["徐家汇", "港汇", "徐汇"],
        "queues": (
            ("个人业务", 10, 3, 8, 19, 28),
            ("对公业务", 3, 1, 15, 3, 6),
            ("外汇", 1, 1, 12, 3, 3),
            ("贵宾", 2, 1, 10, 3, 4),
        ),
    },
    {
        "id": "SH004",
        "name": "静安寺支行",
        "area": "静安区",
        "address": "上海市静安区南京西路1788号",
        "phone": "021-62481234",
        "lat": 31.2234,
        "lng": 121.4455,
        "hours": ("09:00", "17:00", None, None),
        "services": ["个人业务", "对公业务", "贵宾", "自助银行"],
        "aliases": ["静安寺", "静安", "久光", "南京西路"],
        "queues": (
            ("个人业务", 4, 2, 6, 14, 12),
            ("对公业务", 2, 1, 15, 3, 4),
            ("外汇", 0, 1, 12, 0, 0),
            ("贵宾", 0, 1, 10, 2, 1),
        ),
    },
    {
        "id": "SH005",
        "name": "五角场支行",
        "area": "杨浦区",
        "address": "上海市杨浦区淞沪路77号",
        "phone": "021-65101234",
        "lat": 31.2990,
        "lng": 121.5140,
        "hours": ("09:00", "17:00", "09:00", "16:00"),
        "services": ["个人业务", "对公业务", "外汇", "贵宾", "自助银行"],
        "aliases": ["五角场", "大学路", "万达广场", "复旦"],
        "queues": (
            ("个人业务", 8, 2, 7, 15, 21),
            ("对公业务", 1, 1, 15, 2, 3),
            ("外汇", 3, 1, 12, 3, 5),
            ("贵宾", 1, 1, 10, 2, 2),
        ),
    },
)

PRODUCTS = (
    # code, name, type, category, risk, term_days, min_amount, rate, rate_label, description
    (
        "DEP1Y",
        "一年期整存整取",
        "deposit",
        "定期存款",
        "R1",
        365,
        "50.00",
        "1.10",
        "存款年利率(%)",
        "人民币定期存款，50元起存，到期自动转存，受存款保险保障。",
    ),
    (
        "DEP3Y",
        "三年期整存整取",
        "deposit",
        "定期存款",
        "R1",
        1095,
        "50.00",
        "1.25",
        "存款年利率(%)",
        "人民币定期存款，三年期，提前支取按活期计息，受存款保险保障。",
    ),
    (
        "CD3Y",
        "三年期大额存单",
        "deposit",
        "大额存单",
        "R1",
        1095,
        "200000.00",
        "1.55",
        "存款年利率(%)",
        "20万元起购，可转让、可质押，受存款保险保障。",
    ),
    (
        "WM-R1-CASH",
        "沪银天天利现金管理",
        "wealth",
        "现金管理类理财",
        "R1",
        None,
        "1.00",
        "1.60",
        "业绩比较基准(%)",
        "现金管理类理财，申赎灵活，业绩比较基准不代表未来表现，不保本。",
    ),
    (
        "WM-R2-180",
        "沪银稳盈180天",
        "wealth",
        "固定收益类理财",
        "R2",
        180,
        "10000.00",
        "2.60",
        "业绩比较基准(%)",
        "主要投资债券等固定收益资产，封闭期180天，不保本，收益以实际为准。",
    ),
    (
        "WM-R3-365",
        "沪银睿远一年持有",
        "wealth",
        "混合类理财",
        "R3",
        365,
        "10000.00",
        "3.20",
        "业绩比较基准(%)",
        "投资固定收益与少量权益资产，持有满一年可赎回，净值会有波动。",
    ),
    (
        "FD-R4-MIX",
        "沪银优选偏股混合基金",
        "fund",
        "混合型基金",
        "R4",
        None,
        "100.00",
        None,
        "业绩比较基准：沪深300指数收益率×80%+中债总指数收益率×20%",
        "偏股混合型基金，净值随股市波动较大，适合能承受较高风险的投资者。",
    ),
    (
        "FD-R5-TECH",
        "沪银科技创新股票基金",
        "fund",
        "股票型基金",
        "R5",
        None,
        "100.00",
        None,
        "业绩比较基准：中证科技指数收益率×90%+银行活期存款利率×10%",
        "股票型基金，集中投资科技行业，波动大，可能出现较大亏损。",
    ),
    (
        "LN-SALARY",
        "沪银薪享贷",
        "loan",
        "个人消费贷款",
        None,
        1095,
        "10000.00",
        "3.60",
        "贷款年化利率(%)起",
        "个人消费贷款，最高30万元，期限最长3年，不得用于购房或投资。",
    ),
    (
        "CC-GOLD",
        "沪银金卡信用卡",
        "credit_card",
        "信用卡",
        None,
        None,
        "0.00",
        "0.05",
        "透支日利率(%)",
        "最长56天免息期，首年免年费，消费满6笔免次年年费。",
    ),
)

# 李娜's personal manager (the mobile number is only ever shown masked).
MANAGERS: tuple[dict[str, str], ...] = (
    {
        "id": "M001",
        "name": "王敏",
        "title": "私人银行客户经理",
        "branch_id": "SH002",
        "office_phone": "021-50471234",
        "extension": "8021",
        "mobile": "13761238021",
    },
)
# The seeded risk levels (张伟 C3, 李娜 C5) come from assessments this many days old.
SEEDED_ASSESSMENT_AGE_DAYS = 100

# currency, name, buy, sell, cash_buy, middle  (CNY per 100 units)
FX_RATES = (
    ("USD", "美元", "711.20", "714.20", "705.40", "709.50"),
    ("EUR", "欧元", "826.10", "831.90", "800.40", "823.50"),
    ("HKD", "港币", "91.38", "91.74", "90.65", "91.20"),
    ("JPY", "日元", "4.62", "4.66", "4.48", "4.65"),
    ("GBP", "英镑", "942.30", "949.20", "913.10", "938.00"),
)


def _posted(now: datetime, txn: _Txn) -> datetime:
    hour, minute = (int(p) for p in txn.at.split(":"))
    day = now.date() - timedelta(days=txn.days_ago)
    return datetime.combine(day, time(hour, minute), CST)


def _add_history(
    session: Session, account: Account, history: tuple[_Txn, ...], final: Decimal, now: datetime
) -> None:
    """Add ``history`` so that running balances end exactly at ``final``."""
    balance = final - sum((D(t.amount) for t in history), D("0"))
    if balance < 0:  # pragma: no cover - guards the fixed data above
        raise ValueError("seed history would start from a negative balance")
    for index, txn in enumerate(history, start=1):
        balance += D(txn.amount)
        session.add(
            Transaction(
                id=f"TX{account.last4}{index:04d}",
                account_id=account.id,
                posted_at=_posted(now, txn),
                amount=D(txn.amount),
                kind=txn.kind,
                description=txn.description,
                merchant=txn.merchant,
                counterparty=txn.counterparty,
                balance_after=balance,
            )
        )
    assert balance == final


def _seed_customers(session: Session, now: datetime) -> bool:
    if session.get(Customer, ZHANG_WEI) is not None:
        return False
    opened = now - timedelta(days=3 * 365)
    zhang = Customer(
        id=ZHANG_WEI,
        name="张伟",
        phone="13800138000",
        risk_level="C3",
        vip=False,
        created_at=opened,
    )
    li = Customer(
        id=LI_NA, name="李娜", phone="13900139000", risk_level="C5", vip=True, created_at=opened
    )
    session.add_all([zhang, li])
    zhang_savings = Account(
        id="A1001",
        customer_id=ZHANG_WEI,
        account_type=SAVINGS,
        number=ZHANG_SAVINGS_NUMBER,
        last4="1234",
        currency="CNY",
        balance=ZHANG_BALANCE,
        opened_at=opened,
    )
    zhang_credit = Account(
        id="A1002",
        customer_id=ZHANG_WEI,
        account_type=CREDIT,
        number=ZHANG_CREDIT_NUMBER,
        last4="5678",
        currency="CNY",
        balance=D("3200.00"),
        credit_limit=D("50000.00"),
        statement_balance=D("3200.00"),
        minimum_payment=D("320.00"),
        due_day=15,
        opened_at=opened,
    )
    li_savings = Account(
        id="A2001",
        customer_id=LI_NA,
        account_type=SAVINGS,
        number=LI_SAVINGS_NUMBER,
        last4="8888",
        currency="CNY",
        balance=LI_BALANCE,
        opened_at=opened,
    )
    session.add_all([zhang_savings, zhang_credit, li_savings])
    session.flush()
    for card_id, account in (
        ("K1001", zhang_savings),
        ("K1002", zhang_credit),
        ("K2001", li_savings),
    ):
        session.add(
            Card(
                id=card_id,
                account_id=account.id,
                customer_id=account.customer_id,
                card_type=account.account_type,
                number=account.number,
                last4=account.last4,
                state="active",
                updated_at=opened,
            )
        )
    session.add_all(
        [
            Payee(
                id="P1001",
                customer_id=ZHANG_WEI,
                name="李娜",
                bank=BANK_NAME,
                account_type=SAVINGS,
                account_number=LI_SAVINGS_NUMBER,
                last4="8888",
                created_at=opened,
            ),
            Payee(
                id="P1002",
                customer_id=ZHANG_WEI,
                name="王芳",
                bank="招商银行",
                account_type=SAVINGS,
                account_number=WANG_FANG_NUMBER,
                last4="6666",
                created_at=opened,
            ),
        ]
    )
    _add_history(session, zhang_savings, ZHANG_TRANSACTIONS, ZHANG_BALANCE, now)
    _add_history(session, li_savings, LI_TRANSACTIONS, LI_BALANCE, now)
    return True


def _seed_queues(
    session: Session, branch: Branch, specs: tuple[tuple[Any, ...], ...], now: datetime
) -> None:
    """Queue parameters are refreshed; the live state (waiting, numbers, tickets) is set
    only for a new queue, so re-seeding a running sandbox keeps its tickets valid."""
    open_now = opening_state(branch, now)["open_now"]
    for order, (service, waiting, counters, minutes, per_hour, issued) in enumerate(specs):
        queue = session.execute(
            select(BranchQueue).where(
                BranchQueue.branch_id == branch.id, BranchQueue.service_type == service
            )
        ).scalar_one_or_none()
        if queue is None:
            queue = BranchQueue(branch_id=branch.id, service_type=service)
            session.add(queue)
        queue.position = order
        queue.counters_open = counters
        queue.avg_service_minutes = minutes
        queue.opening_waiting = waiting
        queue.arrivals_per_hour = per_hour
        if queue.last_advanced_at is None:
            queue.waiting = waiting if open_now else 0
            queue.next_number = issued + 1 if open_now else 1
            queue.service_progress = queue.arrival_progress = 0
            queue.last_advanced_at = queue.updated_at = now


def _seed_relationships(session: Session, now: datetime) -> None:
    """李娜's personal manager, and the assessments behind the seeded risk levels."""
    for row in MANAGERS:
        session.merge(RelationshipManager(**row))
    li = session.get(Customer, LI_NA)
    if li is not None and li.manager_id is None:
        li.manager_id = MANAGERS[0]["id"]
    session.flush()
    for customer_id, score in ((ZHANG_WEI, 30), (LI_NA, 50)):
        customer = session.get(Customer, customer_id)
        if customer is None or customer.risk_level is None:
            continue
        known = session.execute(
            select(RiskAssessment.id).where(RiskAssessment.customer_id == customer_id).limit(1)
        ).scalar_one_or_none()
        if known is None:
            assessed = now - timedelta(days=SEEDED_ASSESSMENT_AGE_DAYS)
            session.add(
                RiskAssessment(
                    customer_id=customer_id,
                    version="counter",  # filled in on paper at a branch
                    answers={},
                    score=score,
                    risk_level=customer.risk_level,
                    assessed_at=assessed,
                    expires_at=assessed + timedelta(days=365),
                )
            )


def _seed_reference(session: Session, now: datetime) -> None:
    """Branches, queues, products and FX rates: inserted or refreshed in place."""
    for spec in BRANCHES:
        wk_open, wk_close, we_open, we_close = spec["hours"]
        branch = session.merge(
            Branch(
                id=spec["id"],
                name=spec["name"],
                city="上海",
                area=spec["area"],
                address=spec["address"],
                phone=spec["phone"],
                lat=spec["lat"],
                lng=spec["lng"],
                weekday_open=wk_open,
                weekday_close=wk_close,
                weekend_open=we_open,
                weekend_close=we_close,
                services=list(spec["services"]),
                aliases=list(spec["aliases"]),
            )
        )
        session.flush()
        _seed_queues(session, branch, spec["queues"], now)
    for position, row in enumerate(PRODUCTS):
        code, name, type_, category, risk, term, min_amount, rate, label, text = row
        session.merge(
            Product(
                code=code,
                name=name,
                type=type_,
                category=category,
                risk_level=risk,
                term_days=term,
                min_amount=D(min_amount),
                reference_rate=D(rate) if rate is not None else None,
                rate_label=label,
                currency="CNY",
                description=text,
                position=position,
            )
        )
    for position, (currency, name, buy, sell, cash_buy, middle) in enumerate(FX_RATES):
        session.merge(
            FxRate(
                currency=currency,
                name=name,
                unit=100,
                buy=D(buy),
                sell=D(sell),
                cash_buy=D(cash_buy),
                middle=D(middle),
                position=position,
                updated_at=now,
            )
        )


def seed_database(engine: Engine, now: datetime, *, reset: bool = False) -> dict[str, object]:
    """Create the schema and the demo data; with ``reset`` drop everything first.

    Idempotent: customers, accounts and history are added once; reference data
    (branches, queue parameters, products, FX rates, managers) is refreshed in place;
    live queue state and tickets are kept.
    """
    if reset:
        Base.metadata.drop_all(engine)
    ensure_schema(engine)
    factory = make_sessionmaker(engine)

    def work(session: Session) -> dict[str, object]:
        created = _seed_customers(session, now)
        _seed_reference(session, now)
        _seed_relationships(session, now)
        if created:
            session.merge(Meta(key="seeded_at", value=now.isoformat()))
        seeded_at = session.get(Meta, "seeded_at")
        return {"customers_created": created, "seeded_at": seeded_at.value if seeded_at else None}

    result = run_unit(factory, work)
    log.info("bank seeded (customers created: %s)", result["customers_created"])
    return result
