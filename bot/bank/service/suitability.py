"""Suitability (适当性): the risk questionnaire, customer risk levels C1-C5 and which
products (R1-R5) a customer may be recommended or sold.

The bank owns the questions and the scoring: the questionnaire is served without its
scores; answers are scored here. A product of level R_n suits a customer of level C_m
when n <= m. An assessment is valid for ``settings.risk_assessment_valid_days``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..errors import (
    BadRequest,
    BelowMinimum,
    NotFound,
    ProductNotSuitable,
    RiskAssessmentRequired,
)
from ..models import Customer, Product, RiskAssessment
from . import Ctx
from .products import INVESTMENT_TYPES, RISK_DISCLOSURE, TYPE_ALIASES, TYPES, product_view

log = logging.getLogger(__name__)

VERSION = "2026.1"
TITLE = "个人客户风险承受能力评估问卷"


@dataclass(frozen=True)
class Option:
    id: str
    text: str
    score: int


@dataclass(frozen=True)
class Question:
    id: str
    text: str
    options: tuple[Option, ...]


def _q(qid: str, text: str, *options: tuple[str, int]) -> Question:
    return Question(
        qid, text, tuple(Option(chr(ord("A") + i), t, s) for i, (t, s) in enumerate(options))
    )


QUESTIONS: tuple[Question, ...] = (
    _q("q1", "您的年龄是？", ("18-30岁", 6), ("31-50岁", 8), ("51-65岁", 2), ("65岁以上", 0)),
    _q(
        "q2",
        "您的家庭年收入约为？",
        ("10万元以下", 0),
        ("10万-30万元", 2),
        ("30万-50万元", 4),
        ("50万-100万元", 6),
        ("100万元以上", 8),
    ),
    _q(
        "q3",
        "您投资股票、基金、理财等风险产品的经验有多久？",
        ("没有经验", 0),
        ("1年以内", 2),
        ("1-3年", 4),
        ("3-5年", 6),
        ("5年以上", 8),
    ),
    _q(
        "q4",
        "您投资的主要目的是？",
        ("资金安全，保本为主", 0),
        ("稳健增值，可接受小幅波动", 4),
        ("较高收益，可接受较大波动", 8),
        ("追求高收益，可承受大幅亏损", 12),
    ),
    _q(
        "q5",
        "您能承受的最大投资亏损是？",
        ("不能承受任何亏损", 0),
        ("5%以内", 3),
        ("5%-15%", 6),
        ("15%-30%", 9),
        ("30%以上", 12),
    ),
    _q("q6", "您计划的投资期限是？", ("1年以内", 1), ("1-3年", 3), ("3-5年", 5), ("5年以上", 6)),
)

# (lowest score, level, label, description); the highest band whose lowest score is met.
LEVELS: tuple[tuple[int, str, str, str], ...] = (
    (0, "C1", "保守型", "不愿承担本金损失，适合R1（低风险）产品。"),
    (13, "C2", "谨慎型", "可承担较小波动，适合R1-R2产品。"),
    (25, "C3", "平衡型", "可承担一定波动以换取收益，适合R1-R3产品。"),
    (37, "C4", "进取型", "可承担较大波动，适合R1-R4产品。"),
    (47, "C5", "激进型", "可承担大幅波动甚至较大亏损，适合R1-R5产品。"),
)
LABELS = {level: label for _, level, label, _ in LEVELS}
# Answering q5 = A (不能承受任何亏损) caps the level at C1, whatever the score.
CAP_ANSWERS = {("q5", "A"): "C1"}


def level_number(level: str) -> int:
    """``C3`` / ``R3`` -> 3."""
    return int(level[1])


def questionnaire(session: Session, ctx: Ctx) -> dict[str, Any]:
    """The questions and options (not their scores) and the levels they lead to."""
    return {
        "version": VERSION,
        "title": TITLE,
        "questions": [
            {
                "id": q.id,
                "text": q.text,
                "options": [{"id": o.id, "text": o.text} for o in q.options],
            }
            for q in QUESTIONS
        ],
        "levels": [
            {"level": level, "label": label, "description": text, "max_product_risk": f"R{i}"}
            for i, (_, level, label, text) in enumerate(LEVELS, start=1)
        ],
        "valid_days": ctx.settings.risk_assessment_valid_days,
    }


def score_answers(answers: dict[str, Any]) -> tuple[int, str]:
    """Validate one option per question and return ``(score, level)``."""
    if not isinstance(answers, dict):
        raise BadRequest(
            "'answers' must be an object of question id -> option id.", field="answers"
        )
    known = {q.id for q in QUESTIONS}
    unknown = sorted(set(answers) - known)
    if unknown:
        raise BadRequest(
            f"Unknown question(s): {', '.join(unknown)}.",
            field=f"answers.{unknown[0]}",
            reason="unknown_question",
        )
    score = 0
    for question in QUESTIONS:
        choice = answers.get(question.id)
        if choice is None:
            raise BadRequest(
                f"Question {question.id} is not answered.",
                field=f"answers.{question.id}",
                reason="missing",
            )
        option = next(
            (
                o
                for o in question.options
                if isinstance(choice, str) and o.id == choice.strip().upper()
            ),
            None,
        )
        if option is None:
            raise BadRequest(
                f"'{question.id}' must be one of {', '.join(o.id for o in question.options)}.",
                field=f"answers.{question.id}",
                reason="invalid_option",
                allowed=[o.id for o in question.options],
            )
        score += option.score
    level = next(lvl for lowest, lvl, _, _ in reversed(LEVELS) if score >= lowest)
    for (qid, oid), cap in CAP_ANSWERS.items():
        if str(answers[qid]).strip().upper() == oid and level_number(level) > level_number(cap):
            level = cap
    return score, level


def _assessment_view(customer: Customer, row: RiskAssessment | None) -> dict[str, Any]:
    level = customer.risk_level
    return {
        "risk_level": level,
        "label": LABELS.get(level) if level else None,
        "max_product_risk": f"R{level_number(level)}" if level else None,
        "score": row.score if row else None,
        "assessed_at": row.assessed_at if row else None,
        "expires_at": row.expires_at if row else None,
    }


def latest_assessment(session: Session, customer: Customer) -> RiskAssessment | None:
    stmt = (
        select(RiskAssessment)
        .where(RiskAssessment.customer_id == customer.id)
        .order_by(RiskAssessment.assessed_at.desc(), RiskAssessment.id.desc())
        .limit(1)
    )
    return session.execute(stmt).scalar_one_or_none()


def assessment_of(session: Session, ctx: Ctx, customer: Customer) -> dict[str, Any]:
    """The customer's level with its dates, plus ``valid`` (assessed and not expired)."""
    row = latest_assessment(session, customer)
    view = _assessment_view(customer, row)
    view["valid"] = bool(customer.risk_level) and (row is None or row.expires_at > ctx.now)
    return view


def valid_level(session: Session, ctx: Ctx, customer: Customer) -> str | None:
    """The customer's level while assessed and not expired, else ``None``."""
    if not customer.risk_level:
        return None
    row = latest_assessment(session, customer)
    if row is not None and row.expires_at <= ctx.now:
        return None
    return str(customer.risk_level)


def require_level(session: Session, ctx: Ctx, customer: Customer) -> str:
    """The customer's valid level, or ``risk_assessment_required``."""
    if not customer.risk_level:
        raise RiskAssessmentRequired(
            "The customer has not taken the risk assessment.", reason="not_assessed"
        )
    row = latest_assessment(session, customer)
    if row is not None and row.expires_at <= ctx.now:
        raise RiskAssessmentRequired(
            "The customer's risk assessment has expired; assess again.",
            reason="expired",
            expired_at=row.expires_at.isoformat(),
            risk_level=customer.risk_level,
        )
    return str(customer.risk_level)


def submit_assessment(
    session: Session, ctx: Ctx, customer: Customer, answers: dict[str, Any]
) -> dict[str, Any]:
    """Score the answers, store the assessment and set the customer's level."""
    score, level = score_answers(answers)
    row = RiskAssessment(
        customer_id=customer.id,
        version=VERSION,
        answers={q.id: str(answers[q.id]).strip().upper() for q in QUESTIONS},
        score=score,
        risk_level=level,
        assessed_at=ctx.now,
        expires_at=ctx.now + timedelta(days=ctx.settings.risk_assessment_valid_days),
    )
    session.add(row)
    previous, customer.risk_level = customer.risk_level, level
    session.flush()
    log.info("risk assessment of %s: %s -> %s (score %d)", customer.id, previous, level, score)
    view = _assessment_view(customer, row)
    view["previous_level"] = previous
    view["description"] = next(text for _, lvl, _, text in LEVELS if lvl == level)
    return view


def _suits(product: Product, level: str) -> bool:
    return product.risk_level is not None and level_number(product.risk_level) <= level_number(
        level
    )


def recommendations(
    session: Session,
    ctx: Ctx,
    customer: Customer,
    *,
    amount: Decimal | None,
    term_days: int | None,
    type_: str | None,
) -> dict[str, Any]:
    """Deposit and investment products the customer's level allows, that the amount
    reaches and that end within ``term_days`` (no fixed term = redeemable any time).
    Highest allowed risk first, then the higher reference rate, then the shorter term."""
    level = require_level(session, ctx, customer)
    stmt = select(Product).where(Product.risk_level.is_not(None))
    if type_:
        wanted = TYPE_ALIASES.get(type_.strip(), type_.strip())
        if wanted not in TYPES:
            raise BadRequest(
                f"'type' must be one of {', '.join(TYPES)}.", field="type", allowed=list(TYPES)
            )
        stmt = stmt.where(Product.type == wanted)
    products = [p for p in session.execute(stmt).scalars() if _suits(p, level)]
    if amount is not None:
        products = [p for p in products if p.min_amount <= amount]
    if term_days is not None:
        products = [p for p in products if p.term_days is None or p.term_days <= term_days]
    products.sort(
        key=lambda p: (
            -level_number(str(p.risk_level)),
            -(p.reference_rate or Decimal(0)),
            p.term_days or 0,
            p.position,
        )
    )
    return {
        "risk_level": level,
        "label": LABELS[level],
        "max_product_risk": f"R{level_number(level)}",
        "amount": amount,
        "term_days": term_days,
        "products": [product_view(p) for p in products],
        "disclosure": (
            RISK_DISCLOSURE if any(p.type in INVESTMENT_TYPES for p in products) else None
        ),
    }


def check_suitability(
    session: Session, ctx: Ctx, customer: Customer, code: str, amount: Decimal | None
) -> dict[str, Any]:
    """May the customer buy ``code`` (for ``amount``)? Refusals are errors with codes."""
    product = session.get(Product, code)
    if product is None:
        raise NotFound(f"No product {code}.", code=code)
    if product.risk_level is None:
        raise BadRequest(
            f"{product.name} has no risk rating; suitability applies to deposits and "
            "investment products.",
            field="code",
            reason="not_rated",
        )
    level = require_level(session, ctx, customer)
    if not _suits(product, level):
        raise ProductNotSuitable(
            f"{product.name} is {product.risk_level}; the customer's level {level} allows up "
            f"to R{level_number(level)}.",
            code=product.code,
            product_risk_level=product.risk_level,
            customer_risk_level=level,
            max_product_risk=f"R{level_number(level)}",
        )
    if amount is not None and amount < product.min_amount:
        raise BelowMinimum(
            f"{product.name} starts at {product.min_amount} CNY.",
            code=product.code,
            min_amount=str(product.min_amount),
            amount=str(amount),
        )
    view = product_view(product)
    return {
        "suitable": True,
        "code": product.code,
        "product_risk_level": product.risk_level,
        "customer_risk_level": level,
        "amount": amount,
        "product": view,
        "disclosure": view["disclosure"],
    }
