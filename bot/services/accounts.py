"""Client of the bank's account service: binding, accounts, transfers and cards."""

from __future__ import annotations

from datetime import date
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
        """Transactions newest first (needs a recent verification)."""
        params = {
            "account_last4": account_last4,
            "start": start,
            "end": end,
            "kind": kind,
            "merchant": merchant,
            "limit": limit,
        }
        data = await self.request("GET", "/transactions", params=params, token=token)
        return [_transaction(t) for t in data]

    async def list_payees(self, token: str) -> list[Payee]:
        return [_payee(p) for p in await self.request("GET", "/payees", token=token)]

    async def quote_transfer(
        self, token: str, *, payee: str, amount: Decimal, channel: str
    ) -> TransferQuote:
        body = {"payee": payee, "amount": str(amount), "channel": channel}
        return _quote(await self.request("POST", "/transfers/quote", json_body=body, token=token))

    async def create_transfer(
        self, token: str, *, payee: str, amount: Decimal, channel: str, idempotency_key: str
    ) -> Transfer:
        """Execute once per ``idempotency_key``; a retry returns the first result."""
        body = {
            "payee": payee,
            "amount": str(amount),
            "channel": channel,
            "idempotency_key": idempotency_key,
        }
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

    async def sms_outbox(self, phone: str) -> list[dict[str, Any]]:
        """Sandbox only: the messages "sent" to ``phone``, newest first."""
        return list(await self.request("GET", "/sandbox/sms-outbox", params={"phone": phone}))
