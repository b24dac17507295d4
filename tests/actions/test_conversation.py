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


def _redirected(events: list[dict]) -> dict | None:
    """The request a follow-up was turned into (the UserUttered it returns)."""
    user = [e for e in events if e.get("event") == "user"]
    if not user:
        return None
    parse = user[0]["parse_data"]
    said = {} if parse["text"].startswith("/") else {"text": parse["text"]}
    return {"intent": parse["intent"]["name"], **said, **{e["entity"]: e["value"] for e in parse["entities"]}}


async def test_follow_ups_resolve_against_the_last_topic(domain_dict) -> None:
    from actions.conversation import ActionFollowUp

    statement = {"topic": "statement", "time_range": "上个月", "merchant": "美团", "txn_kind": "支出"}
    cases = [
        # "港币呢" after an exchange question: the same question in HKD, in the customer's
        # words (the exchange action keeps the amount and reads which way from them)
        (
            {"topic": "fx", "currency": "USD", "amount": "1000"},
            "港币呢",
            [{"entity": "currency", "value": "港币"}],
            {"intent": "exchange_rate", "currency": "港币", "text": "港币呢"},
        ),
        # "那饿了么呢": another merchant, the same month (the kind goes with the merchant)
        (
            statement,
            "那饿了么呢",
            [{"entity": "merchant", "value": "饿了么"}],
            {"intent": "transaction_history", "time_range": "上个月", "merchant": "饿了么"},
        ),
        # "信用卡也冻一下" said as a bare "信用卡的呢" after a freeze
        (
            {"topic": "card", "operation": "freeze_card"},
            "信用卡的呢",
            [{"entity": "account_type", "value": "信用卡"}],
            {"intent": "freeze_card", "account_type": "信用卡"},
        ),
        # "二套呢" after the mortgage rates: the same question, in the customer's words
        ({"topic": "mortgage", "prepay": False}, "二套呢", [], {"intent": "ask_mortgage", "text": "二套呢"}),
        # "大概多久能退回来" after a dispute: where that ticket stands
        ({"topic": "dispute", "ticket_id": "D20261118-0001"}, "大概多久能退回来", [], {"intent": "ticket_status"}),
        # "起购多少" about the product just shown
        ({"topic": "product", "product": "沪银睿远一年持有"}, "起购多少", [],
         {"intent": "product_inquiry", "product": "沪银睿远一年持有"}),
    ]
    for context, text, entities, expected in cases:
        tracker = make_tracker({"context": context}, text=text, intent="inform", entities=entities)
        events = await ActionFollowUp().run(CollectingDispatcher(), tracker, domain_dict)
        assert _redirected(events) == expected, text


async def test_an_unresolvable_message_goes_to_the_two_stage_fallback(bank, domain_dict) -> None:
    from actions.conversation import ActionFollowUp

    tracker = make_tracker(text="嗯那个就是说吧", intent="nlu_fallback")
    events = await ActionFollowUp().run(CollectingDispatcher(), tracker, domain_dict)
    assert events == [{"event": "followup", "name": "action_two_stage_fallback", "timestamp": None}]

    dispatcher = CollectingDispatcher()
    tracker = make_tracker({"context": {"topic": "bill"}}, text="那怎么还呢", intent="inform")
    assert await ActionFollowUp().run(dispatcher, tracker, domain_dict) == []
    assert [m["response"] for m in dispatcher.messages] == ["utter_faq/credit_card_repayment"]
