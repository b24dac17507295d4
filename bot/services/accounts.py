"""Client of the bank's account service: binding, accounts, transfers and cards."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from ..settings import Settings
from .errors import NotFound
from .http import (
    ServiceClient,
    segment,
    to_date,
    to_datetime,
    to_decimal,
    to_optional_date,
    to_optional_datetime,
)
from .types import (
    Account,
    Binding,
    Card,
    CreditCardBill,
    CustomerProfile,
    OtpSent,
    Payee,
    RelationshipManager,
    Session,
    Statement,
    StatementSummary,
    Transaction,
    Transfer,
    TransferQuote,
)


def _session(data: dict[str, Any]) -> Session:
    return Session(
        token=data["token"],
        customer_id=data["customer_id"],
        customer_name=data["customer_name"],
        vip=bool(data["vip"]),
        risk_level=data.get("risk_level"),
        verified_at=to_datetime(data["verified_at"]),
        step_up_expires_at=to_datetime(data["step_up_expires_at"]),
    )


def _account(data: dict[str, Any]) -> Account:
    return Account(
        account_id=data["account_id"],
        account_type=data["account_type"],
        last4=data["last4"],
        currency=data["currency"],
        balance=to_decimal(data["balance"]),
        available=to_decimal(data["available"]),
    )


def _transaction(data: dict[str, Any]) -> Transaction:
    return Transaction(
        transaction_id=data["transaction_id"],
        account_last4=data["account_last4"],
        posted_at=to_datetime(data["posted_at"]),
        amount=to_decimal(data["amount"]),
        kind=data["kind"],
        description=data["description"],
        merchant=data.get("merchant"),
        counterparty=data.get("counterparty"),
        balance_after=to_decimal(data["balance_after"]),
    )


def _payee(data: dict[str, Any]) -> Payee:
    return Payee(
        payee_id=data["payee_id"],
        name=data["name"],
        bank=data["bank"],
        account_type=data["account_type"],
        last4=data["last4"],
    )


def _quote(data: dict[str, Any]) -> TransferQuote:
    return TransferQuote(
        payee_name=data["payee_name"],
        payee_last4=data["payee_last4"],
        from_last4=data["from_last4"],
        amount=to_decimal(data["amount"]),
        fee=to_decimal(data["fee"]),
        review=bool(data["review"]),
        channel=data["channel"],
        single_limit=to_decimal(data["single_limit"]),
        daily_remaining=to_decimal(data["daily_remaining"]),
        new_payee=bool(data.get("new_payee", False)),
        review_threshold=to_decimal(data.get("review_threshold", "10000.00")),
        payee_bank=data.get("payee_bank", ""),
    )


def _summary(data: dict[str, Any]) -> StatementSummary:
    return StatementSummary(
        count=int(data["count"]),
        spending_total=to_decimal(data["spending_total"]),
        income_total=to_decimal(data["income_total"]),
        net=to_decimal(data["net"]),
        has_more=bool(data["has_more"]),
        start=to_optional_date(data.get("start")),
        end=to_optional_date(data.get("end")),
        kind=data.get("kind"),
        merchant=data.get("merchant"),
        account_last4=data.get("account_last4"),
    )


def _transfer(data: dict[str, Any]) -> Transfer:
    return Transfer(
        transfer_id=data["transfer_id"],
        status=data["status"],
        amount=to_decimal(data["amount"]),
        fee=to_decimal(data["fee"]),
        payee_name=data["payee_name"],
        payee_last4=data["payee_last4"],
        from_last4=data["from_last4"],
        balance_after=to_decimal(data["balance_after"]),
        created_at=to_datetime(data["created_at"]),
        replayed=bool(data["replayed"]),
    )


def _card(data: dict[str, Any]) -> Card:
    return Card(
        card_id=data["card_id"],
        card_type=data["card_type"],
        last4=data["last4"],
        state=data["state"],
    )


def _bill(data: dict[str, Any]) -> CreditCardBill:
    return CreditCardBill(
        card_last4=data["card_last4"],
        credit_limit=to_decimal(data["credit_limit"]),
        available_credit=to_decimal(data["available_credit"]),
        statement_balance=to_decimal(data["statement_balance"]),
        minimum_payment=to_decimal(data["minimum_payment"]),
        due_date=to_date(data["due_date"]),
    )


def _profile(data: dict[str, Any]) -> CustomerProfile:
    manager = data.get("manager")
    return CustomerProfile(
        customer_id=data["customer_id"],
        name=data["name"],
        masked_phone=data["masked_phone"],
        vip=bool(data["vip"]),
        risk_level=data.get("risk_level"),
        risk_label=data.get("risk_label"),
        risk_assessed_at=to_optional_datetime(data.get("risk_assessed_at")),
        risk_expires_at=to_optional_datetime(data.get("risk_expires_at")),
        risk_assessment_valid=bool(data.get("risk_assessment_valid")),
        manager=(
            RelationshipManager(
                manager_id=manager["manager_id"],
                name=manager["name"],
                title=manager["title"],
                branch_id=manager["branch_id"],
                branch_name=manager.get("branch_name"),
                phone=manager["phone"],
                extension=manager["extension"],
                masked_mobile=manager["masked_mobile"],
            )
            if manager
            else None
        ),
    )


class AccountsClient(ServiceClient):
    """Identity (one-time codes, bindings) and the customer's money and cards."""

    @classmethod
    def from_settings(cls, settings: Settings) -> AccountsClient:
        return cls(settings.bank_url, timeout=settings.service_timeout)

    async def request_otp(
        self, channel: str, channel_user_id: str, phone: str | None = None
    ) -> OtpSent:
        """Send a code: binding when ``phone`` is given, else step-up of the bound customer."""
        body: dict[str, Any] = {"channel": channel, "channel_user_id": channel_user_id}
        if phone is not None:
            body["phone"] = phone
        data = await self.request("POST", "/auth/otp", json_body=body)
        return OtpSent(
            masked_phone=data["masked_phone"],
            expires_in=int(data["expires_in"]),
            resend_after=int(data["resend_after"]),
        )

    async def verify_otp(self, channel: str, channel_user_id: str, code: str) -> Session:
        body = {"channel": channel, "channel_user_id": channel_user_id, "code": code}
        return _session(await self.request("POST", "/auth/otp/verify", json_body=body))

    async def get_binding(self, channel: str, channel_user_id: str) -> Binding | None:
        """The customer bound to the chat user, or ``None`` when unbound."""
        try:
            data = await self.request(
                "GET", f"/bindings/{segment(channel)}/{segment(channel_user_id)}"
            )
        except NotFound:
            return None
        return Binding(
            customer_id=data["customer_id"],
            customer_name=data["customer_name"],
            masked_phone=data["masked_phone"],
            vip=bool(data["vip"]),
        )

    async def get_profile(self, token: str) -> CustomerProfile:
        """The bound customer: VIP status, risk level, personal manager (VIPs only)."""
        return _profile(await self.request("GET", "/customers/me", token=token))

    async def list_accounts(self, token: str) -> list[Account]:
        return [_account(a) for a in await self.request("GET", "/accounts", token=token)]

    async def statement(
        self,
        token: str,
        *,
        account_last4: str | None = None,
        start: date | None = None,
        end: date | None = None,
        kind: str | None = None,
        merchant: str | None = None,
        limit: int = 10,
    ) -> Statement:
        """Transactions newest first (at most ``limit``) and totals over all that match
        (needs a recent verification). ``start``/``end``: Beijing dates, inclusive;
        ``kind``: 消费 (purchases), 支出 (every outflow), 收入 (every inflow), 转账, 转入,
        转出, 缴费."""
        params = {
            "account_last4": account_last4,
            "start": start,
            "end": end,
            "kind": kind,
            "merchant": merchant,
            "limit": limit,
        }
        data = await self.request("GET", "/transactions", params=params, token=token)
        return Statement(
            items=tuple(_transaction(t) for t in data["items"]),
            summary=_summary(data["summary"]),
        )

    async def list_transactions(
        self,
        token: str,
        *,
        account_last4: str | None = None,
        start: date | None = None,
        end: date | None = None,
        kind: str | None = None,
        merchant: str | None = None,
        limit: int = 10,
    ) -> list[Transaction]:
        """The items of :meth:`statement` (newest first)."""
        statement = await self.statement(
            token,
            account_last4=account_last4,
            start=start,
            end=end,
            kind=kind,
            merchant=merchant,
            limit=limit,
        )
        return list(statement.items)

    async def list_payees(self, token: str) -> list[Payee]:
        return [_payee(p) for p in await self.request("GET", "/payees", token=token)]

    async def quote_transfer(
        self,
        token: str,
        *,
        payee: str,
        amount: Decimal,
        channel: str,
        payee_name: str | None = None,
    ) -> TransferQuote:
        """What the transfer would do. ``payee_name`` (with a full account number as
        ``payee``): the holder's name the customer gave; for an account of this bank a
        wrong name raises BadRequest with ``reason == "name_mismatch"``."""
        body: dict[str, Any] = {"payee": payee, "amount": str(amount), "channel": channel}
        if payee_name is not None:
            body["payee_name"] = payee_name
        return _quote(await self.request("POST", "/transfers/quote", json_body=body, token=token))

    async def create_transfer(
        self,
        token: str,
        *,
        payee: str,
        amount: Decimal,
        channel: str,
        idempotency_key: str,
        payee_name: str | None = None,
    ) -> Transfer:
        """Execute once per ``idempotency_key``; a retry returns the first result (the
        same key with another payee, amount, channel or payee_name: IdempotencyConflict)."""
        body: dict[str, Any] = {
            "payee": payee,
            "amount": str(amount),
            "channel": channel,
            "idempotency_key": idempotency_key,
        }
        if payee_name is not None:
            body["payee_name"] = payee_name
        return _transfer(await self.request("POST", "/transfers", json_body=body, token=token))

    async def list_cards(self, token: str) -> list[Card]:
        return [_card(c) for c in await self.request("GET", "/cards", token=token)]

    async def _card_action(self, token: str, last4: str, action: str) -> Card:
        path = f"/cards/{segment(last4)}/{action}"
        return _card(await self.request("POST", path, token=token))

    async def report_card_lost(self, token: str, last4: str) -> Card:
        """Permanent: the card becomes ``lost`` and must be replaced."""
        return await self._card_action(token, last4, "report-lost")

    async def freeze_card(self, token: str, last4: str) -> Card:
        return await self._card_action(token, last4, "freeze")

    async def unfreeze_card(self, token: str, last4: str) -> Card:
        return await self._card_action(token, last4, "unfreeze")

    async def credit_card_bill(self, token: str, last4: str | None = None) -> CreditCardBill:
        data = await self.request("GET", "/credit-card/bill", params={"last4": last4}, token=token)
        return _bill(data)

    async def bank_now(self) -> datetime:
        """The bank's current time (aware, +08:00): the sandbox clock when it is set. Use
        it instead of the host's clock; ``bank_now().date()`` is the Beijing date."""
        data = await self.request("GET", "/time")
        return to_datetime(data["now"])

    async def sms_outbox(self, phone: str) -> list[dict[str, Any]]:
        """Sandbox only: the messages "sent" to ``phone``, newest first."""
        return list(await self.request("GET", "/sandbox/sms-outbox", params={"phone": phone}))

    async def sandbox_reset(self) -> dict[str, Any]:
        """Sandbox only (tests): every customer's state back to the seeded demo data;
        ``{"reset": True, "seeded_at": ..., "now": ...}``. The clock does not move."""
        return dict(await self.request("POST", "/sandbox/reset", json_body={}))
