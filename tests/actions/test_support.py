"""Hand-over requests are recorded in the bank's support service."""

from __future__ import annotations

from rasa_sdk.executor import CollectingDispatcher

from actions.support import ActionHumanHandoff
from tests.actions.conftest import make_tracker


async def test_handoff_records_a_ticket(bank, domain_dict) -> None:
    dispatcher = CollectingDispatcher()
    await ActionHumanHandoff().run(
        dispatcher, make_tracker(text="转人工", intent="human_handoff", sender="needs-help"), domain_dict
    )
    message = dispatcher.messages[0]
    assert message["response"] == "utter_handoff_recorded"
    assert message["ticket_id"].startswith("H")
