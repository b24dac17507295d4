"""Binding a test chat user through the real verification actions."""

from __future__ import annotations

from typing import Any

from rasa_sdk.executor import CollectingDispatcher

from actions.verification import ValidateVerifyForm
from bot.services.factory import ServiceFactory
from tests.actions.conftest import make_tracker


async def verified_slots(
    bank: ServiceFactory,
    domain: dict[str, Any],
    phone: str = "13800138000",
    *,
    sender: str = "tester",
    channel: str = "rest",
) -> dict[str, Any]:
    """Runs validate_phone and validate_otp_code with the code from the SMS outbox."""
    form = ValidateVerifyForm()
    dispatcher = CollectingDispatcher()
    tracker = make_tracker(text=phone, sender=sender, channel=channel, active_loop="verify_form")
    result = await form.validate_phone(phone, dispatcher, tracker, domain)
    assert result["phone"] == phone, dispatcher.messages
    code = (await bank.accounts.sms_outbox(phone))[0]["code"]
    tracker = make_tracker(
        {"phone": phone, "otp_requested": True}, text=code, sender=sender, channel=channel,
        active_loop="verify_form",
    )
    slots = await form.validate_otp_code(code, dispatcher, tracker, domain)
    assert slots["auth_token"], dispatcher.messages
    return slots
