"""actions/conversation.py: session start and restart keep a staff takeover paused."""

from __future__ import annotations

from typing import Any

from rasa_sdk.executor import CollectingDispatcher

from actions.conversation import ActionRestart, ActionSessionStart
from tests.actions.conftest import make_tracker


async def test_restart_starts_over_silently(domain_dict: dict[str, Any]) -> None:
    dispatcher = CollectingDispatcher()
    tracker = make_tracker({"payee": "李娜"}, text="/restart", intent="restart")
    events = await ActionRestart().run(dispatcher, tracker, domain_dict)
    assert events == [{"event": "restart", "timestamp": None}]
    assert dispatcher.messages == []


async def test_restart_in_a_conversation_staff_hold_changes_nothing(
    domain_dict: dict[str, Any],
) -> None:
    dispatcher = CollectingDispatcher()
    tracker = make_tracker(text="/restart", intent="restart", paused=True)
    events = await ActionRestart().run(dispatcher, tracker, domain_dict)
    # No Restarted event (it would unpause the bot); listen for the next message.
    assert [e["event"] for e in events] == ["followup"]
    assert events[0]["name"] == "action_listen"
    assert dispatcher.messages == []


async def test_a_new_session_keeps_the_binding_and_the_pause(domain_dict: dict[str, Any]) -> None:
    slots = {"auth_token": "t-1", "customer_name": "张伟", "payee": "李娜", "amount": 500}
    for paused in (False, True):
        tracker = make_tracker(slots, paused=paused)
        events = await ActionSessionStart().run(CollectingDispatcher(), tracker, domain_dict)
        kinds = [e["event"] for e in events]
        assert kinds[0] == "session_started" and kinds[-1] == "action"
        carried = {e["name"]: e["value"] for e in events if e["event"] == "slot"}
        assert carried.get("auth_token") == "t-1" and "payee" not in carried
        assert "amount" not in carried
        assert ("pause" in kinds) is paused
