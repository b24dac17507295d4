"""Balances, transaction history and transfers."""

from __future__ import annotations

import contextlib
import uuid
from datetime import date
from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.base import BankAction, channel_of, services, skip_cleared, slot_str
from actions.products import offer_events
from bot.formatting import card_label, format_cny, parse_amount, short_date
from bot.nlu.time_range import parse_time_range
from bot.services.errors import (
    BadRequest,
    InsufficientFunds,
    InvalidCardState,
    LimitExceeded,
    PayeeNotFound,
    ServiceUnavailable,
    VerificationRequired,
)

MAX_LINES = 10
TRANSFER_SLOTS = (
    "payee",
    "amount",
    "transfer_confirmed",
    "transfer_payee_display",
    "transfer_amount_display",
    "transfer_fee_display",
    "transfer_review",
    "transfer_key",
)


def utter_limit_exceeded(
    dispatcher: CollectingDispatcher, exc: LimitExceeded, amount: Any, channel: str
) -> None:
    """utter_limit_exceeded_<single|daily>_<web|wechat> with the bank's numbers."""
    kind = "daily" if exc.details.get("kind") == "daily" else "single"
    dispatcher.utter_message(
        response=f"utter_limit_exceeded_{kind}_{channel}",
        amount=format_cny(amount),
        limit=format_cny(exc.details.get("limit", "0")),
        remaining=format_cny(exc.details.get("remaining", "0")),
    )


def reset_transfer() -> list[EventType]:
    return [SlotSet(name, None) for name in TRANSFER_SLOTS]


class ActionCheckBalance(BankAction):
    intent = "check_balance"

    async def perform(self, dispatcher, tracker, domain, token) -> list[EventType]:
        accounts = await services().accounts.list_accounts(token)
        wanted = slot_str(tracker, "account_type")
        shown = [a for a in accounts if not wanted or a.account_type == wanted] or accounts
        if not shown:
            dispatcher.utter_message(response="utter_no_accounts")
        for account in shown:
            if account.account_type == "信用卡":
                dispatcher.utter_message(
                    response="utter_credit_line",
                    last4=account.last4,
                    available=format_cny(account.available),
                    balance=format_cny(account.balance),
                )
            else:
                dispatcher.utter_message(
                    response="utter_balance_line",
                    account_type=account.account_type,
                    last4=account.last4,
                    available=format_cny(account.available),
                )
        offer = await offer_events(dispatcher, tracker, token)
        return [SlotSet("account_type", None), *offer]


class ActionTransactionHistory(BankAction):
    intent = "transaction_history"
    sensitive = True

    async def perform(self, dispatcher, tracker, domain, token) -> list[EventType]:
        phrase = slot_str(tracker, "time_range")
        period = parse_time_range(phrase, date.today()) if phrase else None
        kind = slot_str(tracker, "txn_kind")
        merchant = slot_str(tracker, "merchant")
        transactions = await services().accounts.list_transactions(
            token,
            account_last4=slot_str(tracker, "card_last4"),
            start=period[0] if period else None,
            end=period[1] if period else None,
            kind=kind,
            merchant=merchant,
            limit=50,
        )
        label = "".join(x for x in (phrase, merchant, kind) if x)
        # Without any filter the replies say "recent" in their own wording.
        suffix = "" if label else "_recent"
        if not transactions:
            dispatcher.utter_message(response=f"utter_no_transactions{suffix}", period=label)
        else:
            lines = "\n".join(
                f"{short_date(t.posted_at)} {t.merchant or t.counterparty or t.description} "
                f"{format_cny(t.amount)}"
                for t in transactions[:MAX_LINES]
            )
            dispatcher.utter_message(
                response=f"utter_transactions{suffix}",
                period=label,
                count=len(transactions),
                lines=lines,
            )
            if len(transactions) > MAX_LINES:
                dispatcher.utter_message(response="utter_transactions_more", shown=MAX_LINES)
        return [SlotSet(name, None) for name in ("time_range", "txn_kind", "merchant", "card_last4")]


class ActionTransferMoney(BankAction):
    """Starts a transfer: a fresh verification first, then transfer_form."""

    intent = "transfer_money"
    sensitive = True

    async def perform(self, dispatcher, tracker, domain, token) -> list[EventType]:
        # Keep a payee/amount the customer already named; start a new idempotency key.
        return [
            SlotSet("transfer_confirmed", None),
            SlotSet("transfer_key", uuid.uuid4().hex),
        ]


class ActionAskPayee(Action):
    """Asks for the payee and offers the saved payees as buttons."""

    def name(self) -> str:
        return "action_ask_payee"

    async def run(self, dispatcher, tracker, domain) -> list[EventType]:
        buttons = await payee_buttons(tracker)
        dispatcher.utter_message(response="utter_ask_payee", buttons=buttons)
        return []


async def payee_buttons(tracker: Tracker) -> list[dict[str, str]]:
    token = tracker.get_slot("auth_token")
    if not token:
        return []
    try:
        payees = await services().accounts.list_payees(token)
    except (ServiceUnavailable, VerificationRequired):
        return []
    return [
        {"title": card_label(p.name, p.last4), "payload": f'/inform{{"payee": "{p.name}"}}'}
        for p in payees
    ]


class ValidateTransferForm(FormValidationAction):
    """Checks payee and amount against the bank (quote) before asking to confirm."""

    def name(self) -> str:
        return "validate_transfer_form"

    async def _quote(
        self,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        payee: str,
        amount: Any,
    ) -> dict[str, Any]:
        value = parse_amount(amount)
        if value is None:
            return {}
        try:
            quote = await services().accounts.quote_transfer(
                tracker.get_slot("auth_token"),
                payee=payee,
                amount=value,
                channel=channel_of(tracker),
            )
        except LimitExceeded as exc:
            utter_limit_exceeded(dispatcher, exc, value, channel_of(tracker))
            return {"amount": None}
        except InsufficientFunds as exc:
            dispatcher.utter_message(
                response="utter_insufficient_funds",
                available=format_cny(exc.details.get("available", "0")),
            )
            return {"amount": None}
        except BadRequest:
            dispatcher.utter_message(response="utter_invalid_amount")
            return {"amount": None}
        except InvalidCardState as exc:
            # The paying card is frozen or reported lost: end the form, nothing moves.
            state = "lost" if exc.details.get("state") == "lost" else "frozen"
            dispatcher.utter_message(response=f"utter_transfer_card_blocked_{state}")
            return {"requested_slot": None}
        return {
            "transfer_payee_display": card_label(quote.payee_name, quote.payee_last4),
            "transfer_amount_display": format_cny(quote.amount),
            "transfer_fee_display": format_cny(quote.fee),
            "transfer_review": quote.review,
        }

    @skip_cleared
    async def validate_payee(self, slot_value, dispatcher, tracker, domain) -> dict[str, Any]:
        payee = str(slot_value or "").strip()
        token = tracker.get_slot("auth_token")
        digits = "".join(ch for ch in payee if ch.isdigit())
        if 16 <= len(digits) <= 19 and len(digits) == len(payee.replace(" ", "")):
            payee = digits
        else:
            payees = await services().accounts.list_payees(token)
            match = next((p for p in payees if p.name == payee or p.name in payee), None)
            if match is None:
                dispatcher.utter_message(
                    response="utter_payee_not_found",
                    payee=payee,
                    buttons=await payee_buttons(tracker),
                )
                return {"payee": None}
            payee = match.name
        result: dict[str, Any] = {"payee": payee}
        amount = tracker.get_slot("amount")
        if amount and "amount" not in tracker.slots_to_validate():
            result.update(await self._quote(dispatcher, tracker, payee, amount))
        return result

    @skip_cleared
    async def validate_amount(self, slot_value, dispatcher, tracker, domain) -> dict[str, Any]:
        value = parse_amount(slot_value)
        if value is None:
            dispatcher.utter_message(response="utter_invalid_amount")
            return {"amount": None}
        result: dict[str, Any] = {"amount": str(value)}
        payee = tracker.get_slot("payee")
        if payee:
            # An unknown payee is reported by validate_payee.
            with contextlib.suppress(PayeeNotFound):
                result.update(await self._quote(dispatcher, tracker, payee, value))
        return result

    @skip_cleared
    async def validate_transfer_confirmed(
        self, slot_value, dispatcher, tracker, domain
    ) -> dict[str, Any]:
        changed = tracker.slots_to_validate()
        if "amount" in changed or "payee" in changed:
            # A correction ("不对，是五千") re-asks with the new details.
            return {"transfer_confirmed": None}
        return {"transfer_confirmed": slot_value}


class ActionExecuteTransfer(Action):
    """Runs the confirmed transfer once, with the form's idempotency key."""

    def name(self) -> str:
        return "action_execute_transfer"

    async def run(self, dispatcher, tracker, domain) -> list[EventType]:
        if not tracker.get_slot("transfer_confirmed"):
            dispatcher.utter_message(response="utter_transfer_cancelled")
            return reset_transfer()
        amount = parse_amount(tracker.get_slot("amount"))
        if amount is None or not tracker.get_slot("payee"):
            dispatcher.utter_message(response="utter_transfer_cancelled")
            return reset_transfer()
        key = tracker.get_slot("transfer_key") or uuid.uuid4().hex
        try:
            transfer = await services().accounts.create_transfer(
                tracker.get_slot("auth_token"),
                payee=tracker.get_slot("payee"),
                amount=amount,
                channel=channel_of(tracker),
                idempotency_key=key,
            )
        except VerificationRequired:
            dispatcher.utter_message(response="utter_verification_expired")
            return reset_transfer()
        except LimitExceeded as exc:
            utter_limit_exceeded(dispatcher, exc, amount, channel_of(tracker))
            return reset_transfer()
        except InvalidCardState as exc:
            state = "lost" if exc.details.get("state") == "lost" else "frozen"
            dispatcher.utter_message(response=f"utter_transfer_card_blocked_{state}")
            return reset_transfer()
        except InsufficientFunds as exc:
            dispatcher.utter_message(
                response="utter_insufficient_funds",
                available=format_cny(exc.details.get("available", "0")),
            )
            return reset_transfer()
        except ServiceUnavailable:
            dispatcher.utter_message(response="utter_service_unavailable")
            return reset_transfer()
        if transfer.status == "held_for_review":
            dispatcher.utter_message(response="utter_transfer_held", transfer_id=transfer.transfer_id)
        else:
            dispatcher.utter_message(
                response="utter_transfer_done",
                payee=card_label(transfer.payee_name, transfer.payee_last4),
                amount=format_cny(transfer.amount),
                from_last4=transfer.from_last4,
                balance=format_cny(transfer.balance_after),
                transfer_id=transfer.transfer_id,
            )
        return reset_transfer()
