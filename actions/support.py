"""Hand-over to a person: record the request so staff can pick it up."""

from __future__ import annotations

import json

from rasa_sdk import Action
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher

from actions.base import channel_of, services
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
