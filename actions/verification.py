"""Binding a chat user to a customer and step-up verification with one-time codes."""

from __future__ import annotations

import re
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.base import (
    TaskFormValidation,
    bank_time,
    channel_of,
    is_step_up_fresh,
    latest_entities,
    latest_text,
    phone_numbers,
    services,
    skip_cleared,
    verification_events,
)
from bot.nlu.answers import RESEND, looks_like_code, looks_like_phone, spelled_digits
from bot.services.errors import (
    CustomerNotFound,
    OtpExpired,
    OtpInvalid,
    OtpLocked,
    OtpNotRequested,
    VerificationRequired,
)

PHONE_RE = re.compile(r"(?:\+?86)?(1[3-9]\d{9})")
OTP_RE = re.compile(r"\d{6}")
# "我这个号码早就不用了 换了新号": no code can arrive; how to change the number instead.
PHONE_CHANGED = re.compile(r"换了?(?:新)?号|号码?.{0,4}(?:不用了|停了|停机|注销)|不是这个号|新号码|换手机号")
# Short waits are the resend interval; longer ones are a lock-out after failed tries.
RESEND_WAIT_MAX = 120


def _locked(dispatcher: CollectingDispatcher, exc: OtpLocked) -> dict[str, Any]:
    retry_after = int(exc.details.get("retry_after", 600))
    if retry_after <= RESEND_WAIT_MAX:
        dispatcher.utter_message(response="utter_otp_wait", seconds=retry_after)
        return {}
    dispatcher.utter_message(response="utter_otp_locked", minutes=max(1, (retry_after + 59) // 60))
    return {"verify_locked": True, "pending_request": None}


async def _phone_changed(dispatcher: CollectingDispatcher, slot: str) -> dict[str, Any]:
    """The reserved number is no longer the customer's: how to change it (no code can
    reach them); the step is asked again for those who still have the old one."""
    dispatcher.utter_message(response="utter_faq/change_phone_number", **await phone_numbers())
    return {slot: None}


class ValidateVerifyForm(TaskFormValidation):
    """verify_form: phone (only when not bound yet), then the one-time code."""

    def name(self) -> str:
        return "validate_verify_form"

    async def is_answer(self, slot: str, value: Any, tracker: Tracker) -> bool:
        """Digits (or asking for a new code); "我忘了密码咋办" at the phone step is a
        question, not a malformed phone number."""
        if PHONE_CHANGED.search(latest_text(tracker)):
            return True  # "手机号换了 咋整": answered by the validation, then asked again
        if slot == "phone":
            return bool(latest_entities(tracker, "phone")) or looks_like_phone(str(value))
        if slot == "otp_code":
            return bool(latest_entities(tracker, "otp_code")) or looks_like_code(str(value))
        return True

    async def required_slots(
        self,
        domain_slots: list[str],
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> list[str]:
        if tracker.get_slot("verify_locked"):
            return []
        if tracker.get_slot("customer_id"):
            return ["otp_code"]
        binding = await services().accounts.get_binding(channel_of(tracker), tracker.sender_id)
        return ["otp_code"] if binding else ["phone", "otp_code"]

    @skip_cleared
    async def validate_phone(
        self,
        slot_value: Any,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> dict[str, Any]:
        if PHONE_CHANGED.search(latest_text(tracker)):
            return await _phone_changed(dispatcher, "phone")
        match = PHONE_RE.fullmatch(re.sub(r"[\s-]", "", str(slot_value or ""))) or PHONE_RE.search(
            re.sub(r"[\s-]", "", spelled_digits(str(slot_value or "")))
        )
        if not match:
            dispatcher.utter_message(response="utter_invalid_phone")
            return {"phone": None}
        phone = match.group(1)
        try:
            sent = await services().accounts.request_otp(
                channel_of(tracker), tracker.sender_id, phone=phone
            )
        except CustomerNotFound:
            dispatcher.utter_message(response="utter_phone_not_found")
            return {"phone": None}
        except OtpLocked as exc:
            return {"phone": None, **_locked(dispatcher, exc)}
        dispatcher.utter_message(response="utter_otp_sent", masked_phone=sent.masked_phone)
        return {"phone": phone, "otp_requested": True}

    @skip_cleared
    async def validate_otp_code(
        self,
        slot_value: Any,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> dict[str, Any]:
        text = str(slot_value or "").strip()
        if PHONE_CHANGED.search(latest_text(tracker)):
            return await _phone_changed(dispatcher, "otp_code")
        if RESEND.search(tracker.latest_message.get("text") or ""):
            return {"otp_code": None, "otp_requested": False}
        match = OTP_RE.search(re.sub(r"\s", "", text)) or OTP_RE.search(
            re.sub(r"\s", "", spelled_digits(text))
        )
        if not match:
            dispatcher.utter_message(response="utter_invalid_otp_format")
            return {"otp_code": None}
        try:
            session = await services().accounts.verify_otp(
                channel_of(tracker), tracker.sender_id, match.group(0)
            )
        except OtpInvalid as exc:
            dispatcher.utter_message(
                response="utter_otp_invalid", attempts_left=exc.details.get("attempts_left", 0)
            )
            return {"otp_code": None}
        except (OtpExpired, OtpNotRequested):
            dispatcher.utter_message(response="utter_otp_expired")
            return {"otp_code": None, "otp_requested": False}
        except OtpLocked as exc:
            return {"otp_code": None, **_locked(dispatcher, exc)}
        dispatcher.utter_message(
            response="utter_verified_vip" if session.vip else "utter_verified",
            customer_name=session.customer_name,
        )
        return {
            # The code itself is not kept in the tracker.
            "otp_code": "verified",
            "otp_requested": False,
            "phone": None,
            "auth_token": session.token,
            "customer_id": session.customer_id,
            "customer_name": session.customer_name,
            "vip": session.vip,
            # The bank's expiry, compared with the bank's clock (a sandbox clock can be
            # moved ahead: a stale verification must then be stale here too).
            "step_up_until": session.step_up_expires_at.timestamp(),
        }


class ActionAskOtpCode(Action):
    """Sends a code to the bound phone when none is pending, then asks for it."""

    def name(self) -> str:
        return "action_ask_otp_code"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        events: list[EventType] = []
        if not tracker.get_slot("otp_requested"):
            try:
                sent = await services().accounts.request_otp(
                    channel_of(tracker), tracker.sender_id, phone=tracker.get_slot("phone")
                )
            except OtpLocked as exc:
                locked = _locked(dispatcher, exc)
                if locked:
                    # The form ends on its next validation; don't ask for a code.
                    return [SlotSet(k, v) for k, v in locked.items()]
            except (CustomerNotFound, VerificationRequired):
                dispatcher.utter_message(response="utter_ask_phone")
                return [SlotSet("customer_id", None), SlotSet("requested_slot", "phone")]
            else:
                dispatcher.utter_message(response="utter_otp_sent", masked_phone=sent.masked_phone)
                events.append(SlotSet("otp_requested", True))
        dispatcher.utter_message(response="utter_ask_otp_code")
        return events


class ActionBindAccount(Action):
    """bind_account: verify (binding) unless a fresh verification exists."""

    def name(self) -> str:
        return "action_bind_account"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        fresh = is_step_up_fresh(tracker, await bank_time())
        if tracker.get_slot("pending_request") == "bind_account" and fresh:
            dispatcher.utter_message(response="utter_bind_done")
            return [SlotSet("pending_request", None)]
        if fresh:
            dispatcher.utter_message(
                response="utter_bound_already", customer_name=tracker.get_slot("customer_name")
            )
            return [SlotSet("pending_request", None)]
        return verification_events(dispatcher, tracker, "bind_account", "bind")


class ActionVerificationDone(Action):
    """After verify_form ended without a request to resume (e.g. a lock-out)."""

    def name(self) -> str:
        return "action_verification_done"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        return [
            SlotSet("verify_locked", False),
            SlotSet("pending_request", None),
            SlotSet("otp_code", None),
            SlotSet("otp_requested", False),
        ]

