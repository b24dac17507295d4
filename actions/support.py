"""Hand-over to a person: record the request so staff can pick it up."""

from __future__ import annotations

import json
import re

from rasa_sdk import Action
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.base import channel_of, services
from bot.formatting import long_date
from bot.services.errors import ServiceUnavailable


class ActionHumanHandoff(Action):
    def name(self) -> str:
        return "action_human_handoff"

    async def run(self, dispatcher: CollectingDispatcher, tracker, domain) -> list[EventType]:
        previous = [
            e.get("parse_data", {}).get("intent", {}).get("name")
            for e in tracker.events
            if e.get("event") == "user"
        ]
        summary = {
            "intents": [name for name in previous[-5:] if name],
            "pending_request": tracker.get_slot("pending_request"),
            "active_loop": (tracker.active_loop or {}).get("name"),
            "bound": bool(tracker.get_slot("customer_id")),
        }
        try:
            ticket = await services().support.create_ticket(
                "handoff",
                channel_of(tracker),
                tracker.sender_id,
                text=tracker.latest_message.get("text"),
                summary=json.dumps(summary, ensure_ascii=False),
            )
        except ServiceUnavailable:
            dispatcher.utter_message(response="utter_service_unavailable")
            return []
        dispatcher.utter_message(response="utter_handoff_recorded", ticket_id=ticket.ticket_id)
        return []


# A complaint this short names no incident ("我要投诉"): ask what happened.
MIN_COMPLAINT_CHARS = 8
GENERIC_COMPLAINT = re.compile(r"我要|我想|投诉|举报|意见|建议|反映|[\s,，。!！?？~～]")


class ActionPrepareComplaint(Action):
    """Keeps the complaint text when the message already says what happened."""

    def name(self) -> str:
        return "action_prepare_complaint"

    async def run(self, dispatcher, tracker, domain) -> list[EventType]:
        text = (tracker.latest_message.get("text") or "").strip()
        substantive = len(GENERIC_COMPLAINT.sub("", text)) >= MIN_COMPLAINT_CHARS
        return [SlotSet("complaint_text", text if substantive else None)]


class ActionSubmitComplaint(Action):
    """Records the complaint; the ticket also marks the conversation for staff."""

    def name(self) -> str:
        return "action_submit_complaint"

    async def run(self, dispatcher, tracker, domain) -> list[EventType]:
        text = tracker.get_slot("complaint_text")
        reset = [SlotSet("complaint_text", None)]
        if not text:
            return reset
        try:
            ticket = await services().support.create_ticket(
                "complaint", channel_of(tracker), tracker.sender_id, text=str(text)
            )
        except ServiceUnavailable:
            dispatcher.utter_message(response="utter_service_unavailable")
            return reset
        dispatcher.utter_message(
            response="utter_complaint_recorded",
            ticket_id=ticket.ticket_id,
            category=ticket.category or "",
            reply_due=long_date(ticket.reply_due) if ticket.reply_due else "",
        )
        return reset


# Intents that are never offered as a clarification choice.
NOT_OFFERED = {"nlu_fallback", "out_of_scope", "inform", "affirm", "deny", "greet", "goodbye", "thank"}


class ActionDefaultAskAffirmation(Action):
    """First stage of the two-stage fallback: the top candidates as buttons."""

    def name(self) -> str:
        return "action_default_ask_affirmation"

    async def run(self, dispatcher, tracker, domain) -> list[EventType]:
        ranking = tracker.latest_message.get("intent_ranking") or []
        responses = domain.get("responses", {})
        buttons = []
        for candidate in ranking:
            name = candidate.get("name")
            title = responses.get(f"utter_title_{name}")
            if name in NOT_OFFERED or not title:
                continue
            buttons.append({"title": title[0]["text"], "payload": f"/{name}"})
            if len(buttons) == 3:
                break
        none_of_these = responses.get("utter_none_of_these", [{"text": "-"}])[0]["text"]
        buttons.append({"title": none_of_these, "payload": "/deny"})
        dispatcher.utter_message(response="utter_ask_affirmation", buttons=buttons)
        return []
