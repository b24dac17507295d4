"""Demo data of the sandbox bank (design.md section 7), seeded idempotently."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from .clock import CST
from .db import make_sessionmaker, run_unit
from .models import (
    BANK_NAME,
    CREDIT,
    SAVINGS,
    Account,
    AuthToken,
    BankContact,
    Base,
    Binding,
    Branch,
    BranchQueue,
    Card,
    Customer,
    FxRate,
    Meta,
    MortgageRate,
    OfferDecline,
    OtpCode,
    Payee,
    PrepaymentRule,
    Product,
    QueueTicket,
    RelationshipManager,
    RiskAssessment,
    SmsMessage,
    SupportTicket,
    Transaction,
    Transfer,
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

# Added to 张伟's history (not part of design.md section 7's list): 饿了么 orders at
# most 9 days apart, so every calendar month window of the history has one.
ZHANG_EXTRA_TRANSACTIONS: tuple[_Txn, ...] = (
    _Txn(56, "18:50", "-32.50", "消费", "饿了么外卖", "饿了么"),
    _Txn(48, "12:25", "-48.00", "消费", "饿了么外卖", "饿了么"),
    _Txn(41, "19:35", "-27.80", "消费", "饿了么外卖", "饿了么"),
    _Txn(34, "12:40", "-55.30", "消费", "饿了么外卖", "饿了么"),
    _Txn(25, "18:55", "-36.90", "消费", "饿了么外卖", "饿了么"),
    _Txn(19, "12:35", "-41.20", "消费", "饿了么外卖", "饿了么"),
    _Txn(11, "19:05", "-29.90", "消费", "饿了么外卖", "饿了么"),
    _Txn(4, "12:20", "-62.40", "消费", "饿了么外卖", "饿了么"),
)

# The previous calendar month (the customer's "上个月") always has a salary, a 美团 and
# an 饿了么 payment: when the relative history misses one of them (e.g. seeded on
# 30 March, when February falls between the two paydays), it is added on the 15th.
# (what is looked for, how it is matched, the entry added on the 15th)
MONTHLY_GUARANTEES: tuple[tuple[str, str, _Txn], ...] = (
    ("description", "工资", _Txn(0, "09:15", "18500.00", "收入", "工资", None, "上海启明科技有限公司")),
    ("merchant", "美团", _Txn(0, "12:15", "-45.00", "消费", "美团外卖", "美团")),
    ("merchant", "饿了么", _Txn(0, "18:40", "-38.00", "消费", "饿了么外卖", "饿了么")),
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

# currency, name, buy, sell, cash_buy, middle  (CNY per 100 units); 现钞卖出价 (cash_sell)
# equals 现汇卖出价 (sell), as at Chinese banks, and is stored explicitly.
FX_RATES = (
    ("USD", "美元", "711.20", "714.20", "705.40", "709.50"),
    ("EUR", "欧元", "826.10", "831.90", "800.40", "823.50"),
    ("HKD", "港币", "91.38", "91.74", "90.65", "91.20"),
    ("JPY", "日元", "4.62", "4.66", "4.48", "4.65"),
    ("GBP", "英镑", "942.30", "949.20", "913.10", "938.00"),
)

# The bank's hotlines and service desks. The bank's own numbers are fictional (400-820-
# and 021-6888- numbers of the fictional 沪银银行); 110 and 96110 are the real public
# numbers. (code, name, phone, other phones, email, hours text, days, opens, closes, note)
CONTACTS: tuple[tuple[Any, ...], ...] = (
    ("customer_service", "客服热线", "400-820-8888", [], None, "24小时", "always", None, None,
     None),
    ("credit_card", "信用卡服务热线", "400-820-8899", [], None, "24小时", "always", None, None,
     None),
    ("card_loss", "挂失/冻结24小时专线", "400-820-8866", [], None, "24小时", "always", None,
     None, "银行卡丢失、被盗或疑似盗刷，请立即致电挂失或冻结。"),
    ("online_staff", "在线人工客服", None, [], None, "每天 8:00-22:00", "daily", "08:00",
     "22:00", "在微信公众号或网页聊天中说“转人工”。"),
    ("anti_fraud", "反诈报警与咨询", "110", ["96110"], None, "24小时", "always", None, None,
     "已被骗请立即拨打110报警；96110为全国反诈预警劝阻专线。"),
    ("press_office", "新闻媒体联络（品牌宣传部/新闻办公室）", "021-6888-1200", [],
     "press@huyinbank.example", "工作日 9:00-17:30", "workdays", "09:00", "17:30",
     "媒体采访与垂询请联系新闻办公室。"),
    ("mortgage", "个人住房贷款咨询热线", "021-6888-1300", [], None, "每天 9:00-18:00", "daily",
     "09:00", "18:00", None),
    ("vip", "贵宾服务专线", "400-820-8800", [], None, "24小时", "always", None, None,
     "贵宾客户专属服务。"),
)

# Housing-loan rates as of the latest LPR fixing (percent per year).
MORTGAGE_AS_OF = date(2026, 10, 20)
LPR_5Y = "3.50"  # 5年期以上贷款市场报价利率
# code, loan type, home, term, name, spread over LPR in basis points (None: fixed), rate
MORTGAGE_RATES: tuple[tuple[Any, ...], ...] = (
    ("commercial_first", "commercial", "first", "all", "商业贷款 首套住房", -45, "3.05"),
    ("commercial_second", "commercial", "second", "all", "商业贷款 二套住房", -5, "3.45"),
    ("fund_first_le5y", "provident_fund", "first", "le5y", "公积金贷款 首套 5年以下（含5年）",
     None, "2.10"),
    ("fund_first_gt5y", "provident_fund", "first", "gt5y", "公积金贷款 首套 5年以上", None,
     "2.60"),
    ("fund_second_le5y", "provident_fund", "second", "le5y", "公积金贷款 二套 5年以下（含5年）",
     None, "2.525"),
    ("fund_second_gt5y", "provident_fund", "second", "gt5y", "公积金贷款 二套 5年以上", None,
     "3.075"),
)
# loan type, name, notice working days, notice text, min amount, min amount text, fee
# text, channels, note
PREPAYMENT_RULES: tuple[tuple[Any, ...], ...] = (
    (
        "commercial",
        "商业性个人住房贷款",
        3,
        "请至少提前3个工作日通过手机银行或客服热线预约",
        "10000.00",
        "部分提前还款金额不低于1万元且为1万元的整数倍，或一次性结清",
        "贷款发放满1年后提前还款免收违约金；未满1年的，按提前还款本金的1%收取",
        ["手机银行", "客服热线预约", "贷款经办网点柜台"],
        "提前还款后可选择缩短期限或减少月供。",
    ),
    (
        "provident_fund",
        "住房公积金贷款",
        5,
        "请至少提前5个工作日向贷款经办网点申请",
        "10000.00",
        "部分提前还款金额不低于1万元，或一次性结清",
        "不收取违约金",
        ["贷款经办网点柜台", "公积金中心线上服务平台"],
        "公积金贷款的提前还款规则以当地公积金中心规定为准。",
    ),
)


def _posted(now: datetime, txn: _Txn) -> datetime:
    hour, minute = (int(p) for p in txn.at.split(":"))
    day = now.date() - timedelta(days=txn.days_ago)
    return datetime.combine(day, time(hour, minute), CST)


def previous_month(today: date) -> tuple[date, date]:
    """The first and last day of the calendar month before ``today``'s."""
    last = today.replace(day=1) - timedelta(days=1)
    return last.replace(day=1), last


# One transaction of a seeded history: (transaction id, posted at, what it is).
HistoryEntry = tuple[str, datetime, _Txn]


def history(
    now: datetime,
    last4: str,
    base: tuple[_Txn, ...],
    extra: tuple[_Txn, ...] = (),
    guarantees: tuple[tuple[str, str, _Txn], ...] = (),
) -> list[HistoryEntry]:
    """A seeded history relative to ``now``, oldest first. ``base`` keeps the ids it
    always had (``TX<last4>0001`` ...); ``extra`` entries are ``TX<last4>E001`` ...; each
    guarantee missing from the previous calendar month is added on its 15th
    (``TX<last4>F001`` ...)."""
    entries = [(f"TX{last4}{i:04d}", _posted(now, t), t) for i, t in enumerate(base, 1)]
    entries += [(f"TX{last4}E{i:03d}", _posted(now, t), t) for i, t in enumerate(extra, 1)]
    first, last = previous_month(now.date())
    for index, (field, value, template) in enumerate(guarantees, 1):
        if any(
            first <= posted.date() <= last and getattr(txn, field) == value
            for _, posted, txn in entries
        ):
            continue
        txn = replace(template, days_ago=(now.date() - first.replace(day=15)).days)
        entries.append((f"TX{last4}F{index:03d}", _posted(now, txn), txn))
    # The order of the statement (posted_at, then id), so running balances match it.
    entries.sort(key=lambda entry: (entry[1], entry[0]))
    return entries


def zhang_history(now: datetime) -> list[HistoryEntry]:
    """张伟's savings history: design.md section 7's list plus the 饿了么 orders and the
    previous month's guarantees."""
    return history(
        now, "1234", ZHANG_TRANSACTIONS, ZHANG_EXTRA_TRANSACTIONS, MONTHLY_GUARANTEES
    )


def _add_history(
    session: Session, account: Account, entries: list[HistoryEntry], final: Decimal
) -> None:
    """Add ``entries`` so that running balances end exactly at ``final``."""
    balance = final - sum((D(t.amount) for _, _, t in entries), D("0"))
    if balance < 0:  # pragma: no cover - guards the fixed data above
        raise ValueError("seed history would start from a negative balance")
    for txn_id, posted, txn in entries:
        balance += D(txn.amount)
        session.add(
            Transaction(
                id=txn_id,
                account_id=account.id,
                posted_at=posted,
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
    _add_history(session, zhang_savings, zhang_history(now), ZHANG_BALANCE)
    _add_history(session, li_savings, history(now, "8888", LI_TRANSACTIONS), LI_BALANCE)
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
                cash_sell=D(sell),
                middle=D(middle),
                position=position,
                updated_at=now,
            )
        )
    _seed_info(session)


def _seed_info(session: Session) -> None:
    """Hotlines and hours, housing-loan rates and prepayment rules (refreshed in place)."""
    for position, row in enumerate(CONTACTS):
        code, name, phone, others, email, hours, days, opens, closes, note = row
        session.merge(
            BankContact(
                code=code,
                name=name,
                phone=phone,
                other_phones=list(others),
                email=email,
                hours_text=hours,
                days=days,
                opens=opens,
                closes=closes,
                note=note,
                position=position,
            )
        )
    lpr = D(LPR_5Y)
    for position, (code, loan_type, home, term, name, spread, rate) in enumerate(MORTGAGE_RATES):
        if spread is not None:  # the LPR-based rate is the LPR plus the spread
            assert lpr + D(spread) / 100 == D(rate), code
        session.merge(
            MortgageRate(
                code=code,
                loan_type=loan_type,
                home=home,
                term=term,
                name=name,
                base="LPR5Y" if spread is not None else None,
                base_rate=lpr if spread is not None else None,
                spread_bp=spread,
                rate=D(rate),
                as_of=MORTGAGE_AS_OF,
                position=position,
            )
        )
    for position, row in enumerate(PREPAYMENT_RULES):
        loan_type, name, days, notice, minimum, minimum_text, fee, channels, note = row
        session.merge(
            PrepaymentRule(
                loan_type=loan_type,
                name=name,
                notice_working_days=days,
                notice_text=notice,
                min_amount=D(minimum),
                min_amount_text=minimum_text,
                fee_text=fee,
                channels=list(channels),
                note=note,
                position=position,
            )
        )


# Everything a customer or a chat user can change, children before parents.
CUSTOMER_STATE = (
    Transaction,
    Transfer,
    Payee,
    Card,
    AuthToken,
    Binding,
    OtpCode,
    SmsMessage,
    SupportTicket,
    QueueTicket,
    OfferDecline,
    RiskAssessment,
    Account,
    Customer,
)


def reset_demo_state(session: Session, now: datetime) -> dict[str, object]:
    """Put every customer's state back to the freshly seeded demo data, in the caller's
    transaction (the sandbox's POST /sandbox/reset).

    The history is rebuilt at the original seeding time (``seeded_at``, else ``now``), so
    it is the same as after the first seed; the queues restart from their seeded state
    then and move to ``now`` on the next read. Reference data is refreshed.
    """
    seeded = session.get(Meta, "seeded_at")
    seeded_at = datetime.fromisoformat(seeded.value) if seeded else now
    for model in CUSTOMER_STATE:
        session.execute(delete(model).execution_options(synchronize_session=False))
    session.execute(
        update(BranchQueue)
        .values(last_advanced_at=None)
        .execution_options(synchronize_session=False)
    )
    session.expunge_all()  # nothing stale from before the deletes
    _seed_customers(session, seeded_at)
    _seed_reference(session, seeded_at)
    _seed_relationships(session, seeded_at)
    session.merge(Meta(key="seeded_at", value=seeded_at.isoformat()))
    session.flush()
    log.info("sandbox reset to the demo data seeded at %s", seeded_at.isoformat())
    return {"reset": True, "seeded_at": seeded_at, "now": now}


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
