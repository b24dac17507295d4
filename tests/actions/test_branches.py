"""Branch and queue actions against the real bank at a Wednesday 10:00."""

from __future__ import annotations

from rasa_sdk.executor import CollectingDispatcher

from actions.branches import (
    ActionBranchQueueStatus,
    ActionCancelQueueTicket,
    ActionCheckQueueTicket,
    ActionFindBranch,
    ActionTakeQueueTicket,
    ValidateQueueForm,
)
from tests.actions.conftest import make_tracker, responses, slots_of


async def test_find_branch_by_name_alias(bank_at_ten, domain_dict) -> None:
    dispatcher = CollectingDispatcher()
    events = await ActionFindBranch().run(dispatcher, make_tracker({"branch": "人广"}), domain_dict)
    assert dispatcher.messages[0]["response"] == "utter_branch_open"
    assert dispatcher.messages[0]["name"] == "人民广场支行"
    assert slots_of(events)["branch"] == "人民广场支行"


async def test_shared_location_finds_the_nearest(bank_at_ten, domain_dict) -> None:
    dispatcher = CollectingDispatcher()
    tracker = make_tracker(metadata={"location": {"lat": 31.1955, "lng": 121.4365}})
    events = await ActionFindBranch().run(dispatcher, tracker, domain_dict)
    first = dispatcher.messages[0]
    assert first["response"] == "utter_branch_open_near"
    assert first["name"] == "徐家汇支行"
    assert slots_of(events)["location_lat"] == 31.1955


async def test_busy_branch_suggests_a_shorter_queue(bank_at_ten, domain_dict) -> None:
    dispatcher = CollectingDispatcher()
    tracker = make_tracker({"branch": "人民广场支行", "service_type": "个人业务"})
    await ActionBranchQueueStatus().run(dispatcher, tracker, domain_dict)
    divert = next(m for m in dispatcher.messages if m["response"] == "utter_queue_divert")
    assert divert["alt_name"] == "静安寺支行"
    assert divert["wait"] > divert["alt_wait"]


async def test_take_check_and_cancel_a_ticket_at_the_suggested_branch(bank_at_ten, domain_dict) -> None:
    form = ValidateQueueForm()
    dispatcher = CollectingDispatcher()
    tracker = make_tracker(
        {"branch": "人民广场支行", "queue_branch_id": "SH001"}, sender="q1", validated={"service_type": "个人业务"}
    )
    checked = await form.validate_service_type("个人业务", dispatcher, tracker, domain_dict)
    assert checked["queue_alt_branch_name"] == "静安寺支行"
    required = await form.required_slots([], dispatcher, make_tracker(checked), domain_dict)
    assert required == ["branch", "service_type", "queue_divert"]
    slots = {"branch": "人民广场支行", "queue_branch_id": "SH001", "queue_divert": True, **checked}
    await ActionTakeQueueTicket().run(dispatcher, make_tracker(slots, sender="q1"), domain_dict)
    taken = dispatcher.messages[-1]
    assert taken["response"] == "utter_ticket_taken" and taken["branch"] == "静安寺支行"

    dispatcher = CollectingDispatcher()
    await ActionCheckQueueTicket().run(dispatcher, make_tracker(sender="q1"), domain_dict)
    assert dispatcher.messages[0]["number"] == taken["number"]

    dispatcher = CollectingDispatcher()
    await ActionCancelQueueTicket().run(dispatcher, make_tracker(sender="q1"), domain_dict)
    assert responses(dispatcher) == ["utter_ticket_cancelled"]
    dispatcher = CollectingDispatcher()
    await ActionCheckQueueTicket().run(dispatcher, make_tracker(sender="q1"), domain_dict)
    assert responses(dispatcher) == ["utter_no_ticket"]


async def test_service_a_branch_does_not_offer_is_refused(bank_at_ten, domain_dict) -> None:
    dispatcher = CollectingDispatcher()
    tracker = make_tracker({"branch": "静安寺支行", "queue_branch_id": "SH004"})
    result = await ValidateQueueForm().validate_service_type("外汇", dispatcher, tracker, domain_dict)
    assert result == {"service_type": None}
    assert responses(dispatcher) == ["utter_service_not_offered"]
