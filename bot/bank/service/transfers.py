"""Transfer quotes and idempotent, atomic transfers."""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from datetime import datetime, time
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..clock import CST
from ..errors import (
    BadRequest,
    IdempotencyConflict,
    InsufficientFunds,
    InvalidCardState,
    LimitExceeded,
    PayeeNotFound,
)
from ..masking import mask_name
from ..models import (
    BANK_NAME,
    CREDIT,
    SAVINGS,
    Account,
    Card,
    Customer,
    Payee,
    Transaction,
    Transfer,
)
from . import Ctx, money, new_id, sha256_hex, sortable_id
from .accounts import savings_account

log = logging.getLogger(__name__)

ACCOUNT_NUMBER = re.compile(r"\d{16,19}")
OTHER_BANK = "他行"


@dataclass
class ResolvedPayee:
    name: str
    bank: str
    account_type: str
    account_number: str
    payee_id: str | None  # None for a new payee given by account number
    to_account: Account | None  # the credited account when it is in this bank

    @property
    def last4(self) -> str:
        return self.account_number[-4:]

    @property
    def known(self) -> bool:
        return self.payee_id is not None


def transfer_fee(amount: Decimal, internal: bool) -> Decimal:
    """Mobile and chat transfers are free of charge in the sandbox bank."""
    return Decimal("0.00")


def _internal_account(session: Session, number: str) -> Account | None:
    return session.execute(select(Account).where(Account.number == number)).scalar_one_or_none()


def _same_name(given: str, actual: str) -> bool:
    """Names compared without spaces and middle dots, latin letters case-insensitively."""

    def canonical(name: str) -> str:
        return re.sub(r"[\s·•・.]", "", name).casefold()

    return canonical(given) == canonical(actual)


def resolve_payee(
    session: Session,
    customer: Customer,
    from_account: Account,
    text: str,
    payee_name: str | None = None,
) -> ResolvedPayee:
    """A payee given as a payee_id, a saved payee's name, or a full account number.

    With a full account number ``payee_name`` is the name the customer gave: an account
    of this bank must belong to that person (else 400 ``name_mismatch``, which does not
    say whose it is); another bank's account is taken under that name.
    """
    text = text.strip()
    compact = re.sub(r"[\s\-]", "", text)
    payee: Payee | None = None
    number: str | None = None
    if ACCOUNT_NUMBER.fullmatch(compact):
        number = compact
        payee = session.execute(
            select(Payee).where(Payee.customer_id == customer.id, Payee.account_number == number)
        ).scalar_one_or_none()
    else:
        if payee_name is not None:
            raise BadRequest(
                "'payee_name' goes with a full account number as 'payee'.",
                field="payee_name",
                reason="account_number_required",
            )
        payee = session.execute(
            select(Payee).where(Payee.customer_id == customer.id, Payee.id == text)
        ).scalar_one_or_none()
        if payee is None:
            matches = list(
                session.execute(
                    select(Payee)
                    .where(Payee.customer_id == customer.id, Payee.name == text)
                    .order_by(Payee.id)
                ).scalars()
            )
            if len(matches) > 1:
                raise BadRequest(
                    f"Several payees are named {text}; give the payee_id.",
                    field="payee",
                    reason="ambiguous",
                    candidates=[{"payee_id": p.id, "last4": p.last4} for p in matches],
                )
            payee = matches[0] if matches else None
        if payee is None:
            raise PayeeNotFound(
                "No saved payee matches; use a saved payee's name or a full account number.",
                payee=text[:40],
            )
    account_number = payee.account_number if payee else number
    assert account_number is not None
    internal = _internal_account(session, account_number)
    if internal is not None and internal.id == from_account.id:
        raise BadRequest("Cannot transfer to the paying account itself.", field="payee")
    if internal is not None and internal.account_type == CREDIT:
        raise BadRequest(
            "Credit-card repayment is not a transfer; pay the bill instead.", field="payee"
        )
    owner = session.get(Customer, internal.customer_id) if internal is not None else None
    if payee_name is not None and owner is not None and not _same_name(payee_name, owner.name):
        log.info("transfer refused: the name given for 尾号%s is not the holder's", account_number[-4:])
        raise BadRequest(
            "The payee's name does not match the account holder.",
            field="payee_name",
            reason="name_mismatch",
        )
    if payee is not None:
        return ResolvedPayee(
            payee.name, payee.bank, payee.account_type, account_number, payee.id, internal
        )
    if internal is not None:
        # The customer named the holder correctly, or is shown only the masked name.
        name = payee_name if payee_name is not None else (
            mask_name(owner.name) if owner else "本行账户"
        )
        return ResolvedPayee(name, BANK_NAME, SAVINGS, account_number, None, internal)
    return ResolvedPayee(
        payee_name or "他行账户", OTHER_BANK, SAVINGS, account_number, None, None
    )


def _used_today(session: Session, ctx: Ctx, customer: Customer, channel: str) -> Decimal:
    start = datetime.combine(ctx.now.date(), time(), CST)
    stmt = select(Transfer.amount).where(
        Transfer.customer_id == customer.id,
        Transfer.channel == channel,
        Transfer.status == "completed",
        Transfer.created_at >= start,
    )
    return money(sum(session.execute(stmt).scalars(), Decimal("0")))


def _check(
    session: Session,
    ctx: Ctx,
    customer: Customer,
    from_account: Account,
    payee: ResolvedPayee,
    amount: Decimal,
    channel: str,
) -> dict[str, Any]:
    """Run every rule of a transfer; return the quote or raise the first refusal."""
    limits = ctx.settings.limits.get(channel)
    if limits is None:
        raise BadRequest(
            f"'channel' must be one of {', '.join(sorted(ctx.settings.limits))}.",
            field="channel",
            allowed=sorted(ctx.settings.limits),
        )
    card = session.execute(
        select(Card).where(Card.account_id == from_account.id)
    ).scalar_one_or_none()
    if card is not None and card.state != "active":
        raise InvalidCardState(
            f"The paying card 尾号{card.last4} is {card.state}.", state=card.state
        )
    fee = transfer_fee(amount, payee.to_account is not None)
    single, daily = money(limits.single), money(limits.daily)
    daily_remaining = max(money(daily - _used_today(session, ctx, customer, channel)), money(0))
    if amount > single:
        raise LimitExceeded(
            f"The single-transfer limit on {channel} is {single}.",
            kind="single",
            channel=channel,
            limit=str(single),
            remaining=str(min(single, daily_remaining)),
        )
    if amount > daily_remaining:
        raise LimitExceeded(
            f"The daily transfer limit on {channel} is {daily}; {daily_remaining} remains today.",
            kind="daily",
            channel=channel,
            limit=str(daily),
            remaining=str(daily_remaining),
        )
    if amount + fee > from_account.balance:
        raise InsufficientFunds(available=str(money(from_account.balance)))
    threshold = money(ctx.settings.review_threshold)
    return {
        "payee_name": payee.name,
        "payee_last4": payee.last4,
        "payee_bank": payee.bank,
        "from_last4": from_account.last4,
        "amount": money(amount),
        "fee": fee,
        "new_payee": not payee.known,
        "review": (not payee.known) and amount >= threshold,
        "review_threshold": threshold,
        "channel": channel,
        "single_limit": single,
        "daily_remaining": daily_remaining,
    }


def quote_transfer(
    session: Session,
    ctx: Ctx,
    customer: Customer,
    payee: str,
    amount: Decimal,
    channel: str,
    payee_name: str | None = None,
) -> dict[str, Any]:
    """What a transfer would do, without doing it."""
    from_account = savings_account(session, customer)
    resolved = resolve_payee(session, customer, from_account, payee, payee_name)
    return _check(session, ctx, customer, from_account, resolved, amount, channel)


def transfer_view(transfer: Transfer, from_last4: str, *, replayed: bool) -> dict[str, Any]:
    return {
        "transfer_id": transfer.id,
        "status": transfer.status,
        "amount": money(transfer.amount),
        "fee": money(transfer.fee),
        "payee_name": transfer.payee_name,
        "payee_last4": transfer.payee_last4,
        "from_last4": from_last4,
        "balance_after": money(transfer.balance_after),
        "created_at": transfer.created_at,
        "replayed": replayed,
    }


def request_hash(
    payee: str, amount: Decimal, channel: str, payee_name: str | None = None
) -> str:
    fields = {
        "payee": re.sub(r"\s+", " ", payee.strip()),
        "amount": str(money(amount)),
        "channel": channel,
    }
    if payee_name is not None:  # absent: the same hash as before payee_name existed
        fields["payee_name"] = re.sub(r"\s+", " ", payee_name.strip())
    return sha256_hex(json.dumps(fields, ensure_ascii=False, sort_keys=True))


def create_transfer(
    session: Session,
    ctx: Ctx,
    customer: Customer,
    payee: str,
    amount: Decimal,
    channel: str,
    idempotency_key: str,
    payee_name: str | None = None,
) -> tuple[dict[str, Any], bool]:
    """Execute (or hold for review) a transfer once per idempotency key.

    Returns ``(transfer, created)``. The paying account is locked first, so duplicate
    requests queue behind the first; a lost race on the unique key raises
    ``IntegrityError`` and the caller reruns the unit, which then replays.
    """
    from_account = savings_account(session, customer, lock=True)
    fingerprint = request_hash(payee, amount, channel, payee_name)
    existing = session.execute(
        select(Transfer).where(
            Transfer.customer_id == customer.id, Transfer.idempotency_key == idempotency_key
        )
    ).scalar_one_or_none()
    if existing is not None:
        if existing.request_hash != fingerprint:
            raise IdempotencyConflict(idempotency_key=idempotency_key)
        paying = session.get(Account, existing.from_account_id)
        return transfer_view(existing, paying.last4 if paying else "", replayed=True), False

    resolved = resolve_payee(session, customer, from_account, payee, payee_name)
    quote = _check(session, ctx, customer, from_account, resolved, amount, channel)
    status = "held_for_review" if quote["review"] else "completed"
    transfer = Transfer(
        id=f"T{ctx.now:%Y%m%d}{new_id('', 10)}",
        customer_id=customer.id,
        from_account_id=from_account.id,
        to_account_id=resolved.to_account.id if resolved.to_account else None,
        payee_id=resolved.payee_id,
        payee_name=resolved.name,
        payee_bank=resolved.bank,
        payee_account_number=resolved.account_number,
        payee_last4=resolved.last4,
        amount=quote["amount"],
        fee=quote["fee"],
        channel=channel,
        status=status,
        idempotency_key=idempotency_key,
        request_hash=fingerprint,
        balance_after=from_account.balance,
        created_at=ctx.now,
    )
    session.add(transfer)
    session.flush()  # claims the idempotency key before any money moves

    if status == "completed":
        total = quote["amount"] + quote["fee"]
        from_account.balance = money(from_account.balance - total)
        transfer.balance_after = from_account.balance
        session.add(
            Transaction(
                id=sortable_id("TX"),
                account_id=from_account.id,
                posted_at=ctx.now,
                amount=-total,
                kind="转账",
                description=f"转账给{resolved.name}",
                merchant=None,
                counterparty=resolved.name,
                balance_after=from_account.balance,
                transfer_id=transfer.id,
            )
        )
        if resolved.to_account is not None:
            to_account = session.execute(
                select(Account).where(Account.id == resolved.to_account.id).with_for_update()
            ).scalar_one()
            to_account.balance = money(to_account.balance + quote["amount"])
            session.add(
                Transaction(
                    id=sortable_id("TX"),
                    account_id=to_account.id,
                    posted_at=ctx.now,
                    amount=quote["amount"],
                    kind="转账",
                    description=f"{customer.name}转入",
                    merchant=None,
                    counterparty=customer.name,
                    balance_after=to_account.balance,
                    transfer_id=transfer.id,
                )
            )
    session.flush()
    log.info(
        "transfer %s %s: %s to %s 尾号%s on %s",
        transfer.id,
        status,
        transfer.amount,
        mask_name(resolved.name),  # a name the customer typed: logged masked
        resolved.last4,
        channel,
    )
    return transfer_view(transfer, from_account.last4, replayed=False), True
