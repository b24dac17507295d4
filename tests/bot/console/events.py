"""Realistic Rasa event streams for the console's tests (not a test module).

Events are dicts as Rasa publishes them (``Event.as_dict()``): what the rules in
data/rules/ and the actions in actions/ produce for a conversation, e.g. a transfer
started before the customer is verified (verify_form asks the phone number and the
one-time code, then transfer_form asks payee and amount). :class:`Script` stamps them
one second apart; ``for_sender`` adds the ``sender_id`` the event broker adds.
"""

from __future__ import annotations

import uuid
from typing import Any

T0 = 1_795_000_000.0  # 2026-11-18, the sandbox's clock

PAYEE_BUTTONS = [
    {"title": "李娜（尾号8888）", "payload": '/inform{"payee": "李娜"}'},
    {"title": "王芳（尾号6666）", "payload": '/inform{"payee": "王芳"}'},
]
CARD_BUTTONS = [
    {"title": "储蓄卡（尾号1234）", "payload": '/inform{"card_last4": "1234"}'},
    {"title": "信用卡（尾号5678）", "payload": '/inform{"card_last4": "5678"}'},
]


class Script:
    """Builds one conversation's events in order, one second apart."""

    def __init__(self, t0: float = T0, channel: str = "socketio") -> None:
        self.events: list[dict[str, Any]] = []
        self.t = t0
        self.channel = channel

    def _add(self, event: dict[str, Any]) -> Script:
        self.t += 1.0
        event["timestamp"] = self.t
        self.events.append(event)
        return self

    def user(
        self,
        text: str,
        intent: str,
        confidence: float = 0.95,
        entities: list[dict[str, Any]] | None = None,
    ) -> Script:
        message_id = uuid.uuid4().hex
        return self._add(
            {
                "event": "user",
                "text": text,
                "parse_data": {
                    "text": text,
                    "intent": {"name": intent, "confidence": confidence},
                    "entities": entities or [],
                    "intent_ranking": [{"name": intent, "confidence": confidence}],
                    "message_id": message_id,
                },
                "input_channel": self.channel,
                "message_id": message_id,
            }
        )

    def bot(
        self, text: str, utter: str | None = None, buttons: list[dict[str, str]] | None = None
    ) -> Script:
        return self._add(
            {
                "event": "bot",
                "text": text,
                "data": {"buttons": buttons} if buttons else {},
                "metadata": {"utter_action": utter} if utter else {},
            }
        )

    def action(self, name: str, policy: str = "RulePolicy") -> Script:
        return self._add({"event": "action", "name": name, "policy": policy, "confidence": 1.0})

    def listen(self) -> Script:
        return self.action("action_listen")

    def slot(self, name: str, value: Any) -> Script:
        return self._add({"event": "slot", "name": name, "value": value})

    def loop(self, name: str | None) -> Script:
        return self._add({"event": "active_loop", "name": name})

    def event(self, kind: str) -> Script:
        return self._add({"event": kind})

    def for_sender(self, sender_id: str) -> list[dict[str, Any]]:
        return [{"sender_id": sender_id, **event} for event in self.events]

    # -- pieces of real conversations ------------------------------------------------

    def session_start(self) -> Script:
        return self.action("action_session_start").event("session_started").listen()

    def greet_by_button(self) -> Script:
        """rasa-webchat's initPayload "/greet", then the menu as buttons."""
        return (
            self.user("/greet", "greet", 1.0)
            .action("action_greet")
            .bot(
                "您好，我是沪银智能助手，请问有什么可以帮您？",
                "utter_greet",
                buttons=[
                    {"title": "查余额", "payload": "/check_balance"},
                    {"title": "转账", "payload": "/transfer_money"},
                    {"title": "网点排队", "payload": "/branch_queue_status"},
                ],
            )
            .listen()
        )

    def verify(self, request: str) -> Script:
        """``request`` finds the customer unverified: verify_form asks the phone number
        and the one-time code (the rules of data/rules/accounts.yml)."""
        return (
            self.action(f"action_{request}")
            .slot("pending_request", request)
            .slot("otp_requested", False)
            .slot("otp_code", None)
            .slot("phone", None)
            .slot("verify_locked", False)
            .bot("为了您的账户安全，需要先验证您的身份。", "utter_need_verification")
            .action("verify_form")
            .loop("verify_form")
            .slot("requested_slot", "phone")
            .bot("请输入您在本行预留的手机号。", "utter_ask_phone")
            .listen()
            .user(
                "13800138000",
                "inform",
                0.97,
                [{"entity": "phone", "value": "13800138000", "start": 0, "end": 11}],
            )
            .slot("phone", "13800138000")
            .action("verify_form")
            .slot("phone", "13800138000")
            .slot("otp_requested", True)
            .bot("验证码已发送至138****8000，请输入6位验证码。", "utter_otp_sent")
            .slot("requested_slot", "otp_code")
            .listen()
            .user(
                "123456",
                "inform",
                0.93,
                [{"entity": "otp_code", "value": "123456", "start": 0, "end": 6}],
            )
            .slot("otp_code", "123456")
            .action("verify_form")
            .slot("otp_code", "verified")
            .slot("otp_requested", False)
            .slot("phone", None)
            .slot("auth_token", "bank-session-token-secret")
            .slot("customer_id", "C0001")
            .slot("customer_name", "张伟")
            .slot("vip", False)
            .slot("step_up_until", self.t + 600)
            .bot("验证成功，张伟您好！", "utter_verified")
            .loop(None)
            .slot("requested_slot", None)
        )

    def transfer_started_unverified(self) -> Script:
        """我要转账 -> verification -> transfer_form: payee by button, asked the amount."""
        return (
            self.user("我要转账", "transfer_money", 0.96)
            .verify("transfer_money")
            .action("action_transfer_money")
            .slot("pending_request", None)
            .slot("transfer_confirmed", None)
            .slot("transfer_key", "9f1c2e")
            .action("transfer_form")
            .loop("transfer_form")
            .slot("requested_slot", "payee")
            .action("action_ask_payee")
            .bot("请问要转给谁？", "utter_ask_payee", buttons=PAYEE_BUTTONS)
            .listen()
            .user('/inform{"payee": "李娜"}', "inform", 1.0, [{"entity": "payee", "value": "李娜"}])
            .slot("payee", "李娜")
            .action("transfer_form")
            .slot("payee", "李娜")
            .slot("requested_slot", "amount")
            .bot("请问要转多少钱？", "utter_ask_amount")
            .listen()
        )

    def card_lost_started_unverified(self) -> Script:
        """我的卡丢了 -> verification -> card_form asks which card."""
        return (
            self.user("我的卡丢了", "report_card_lost", 0.95)
            .verify("report_card_lost")
            .action("action_report_card_lost")
            .slot("pending_request", None)
            .slot("card_operation", "report_card_lost")
            .action("card_form")
            .loop("card_form")
            .slot("requested_slot", "card_last4")
            .action("action_ask_card_last4")
            .bot("请问是哪张卡？", "utter_ask_card_last4", buttons=CARD_BUTTONS)
            .listen()
        )

    def handoff_from_form(self, text: str = "转人工", ticket: str | None = "HO20261118001") -> Script:
        """The customer asks for a person inside a form (data/rules/support.yml)."""
        self.user(text, "human_handoff", 0.98)
        self.action("action_deactivate_loop").loop(None)
        return self.handoff(ticket)

    def handoff(self, ticket: str | None = "HO20261118001") -> Script:
        self.action("action_human_handoff")
        self.bot(f"好的，已为您登记转人工（编号 {ticket}），请稍候。", "utter_handoff_recorded")
        if ticket:
            self.slot("handoff_ticket_id", ticket)
        return self.slot("offer_next", None).listen()

    def fraud_report(self, ticket: str = "HO20261118009") -> Script:
        """我被骗了: the advice, urgent_reason set by action_fraud_help, then the handoff."""
        return (
            self.user("我被骗了，刚转了五万给冒充客服的人", "report_fraud", 0.94)
            .action("action_fraud_help")
            .bot("请立即拨打110报警，并拨打96110反诈专线……", "utter_fraud_help")
            .slot("urgent_reason", "fraud")
            .slot("offer_next", {"request": "freeze_card"})
            .handoff(ticket)
        )


def transfer_then_handoff() -> list[dict[str, Any]]:
    """The issue's case: a transfer started unverified (phone, code), payee given, then
    转人工 while the bot asks the amount."""
    return Script().session_start().transfer_started_unverified().handoff_from_form().events
