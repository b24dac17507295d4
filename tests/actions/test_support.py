"""Hand-over requests are recorded in the bank's support service."""

from __future__ import annotations

from rasa_sdk.executor import CollectingDispatcher

from actions.support import ActionFraudHelp, ActionHumanHandoff, ActionSubmitComplaint
from tests.actions.conftest import make_tracker, responses, slots_of


async def test_handoff_records_a_ticket(bank_at_ten, domain_dict) -> None:
    dispatcher = CollectingDispatcher()
    await ActionHumanHandoff().run(
        dispatcher, make_tracker(text="转人工", intent="human_handoff", sender="needs-help"), domain_dict
    )
    message = dispatcher.messages[0]
    assert message["response"] == "utter_handoff_recorded"
    assert message["ticket_id"].startswith("H")
    assert message["hours"] == "每天 8:00-22:00" and message["wait"] >= 1


async def test_asking_again_keeps_one_ticket_and_says_so(bank_at_ten, domain_dict) -> None:
    first, second = CollectingDispatcher(), CollectingDispatcher()
    tracker = make_tracker(text="转人工", intent="human_handoff", sender="asks-twice")
    await ActionHumanHandoff().run(first, tracker, domain_dict)
    await ActionHumanHandoff().run(second, tracker, domain_dict)
    assert second.messages[0]["response"] == "utter_handoff_existing"
    assert second.messages[0]["ticket_id"] == first.messages[0]["ticket_id"]


async def test_at_night_the_hours_and_the_24_hour_line_are_given(
    bank_at_night, domain_dict
) -> None:
    dispatcher = CollectingDispatcher()
    tracker = make_tracker(text="转人工", intent="human_handoff", sender="night-owl")
    events = await ActionHumanHandoff().run(dispatcher, tracker, domain_dict)
    message = dispatcher.messages[0]
    assert message["response"] == "utter_handoff_after_hours"
    assert message["next_open"] == "11月19日 08:00" and message["hotline"]
    assert slots_of(events)["handoff_ticket_id"] == message["ticket_id"]


async def test_a_fraud_victim_gets_the_police_advice_and_an_urgent_person(
    bank_at_ten, domain_dict
) -> None:
    dispatcher = CollectingDispatcher()
    tracker = make_tracker(
        {"payee": "李娜", "amount": "5000"}, text="我被骗了 转了五万给骗子", intent="report_fraud"
    )
    events = await ActionFraudHelp().run(dispatcher, tracker, domain_dict)
    assert responses(dispatcher) == ["utter_fraud_help"]
    assert slots_of(events)["urgent_reason"] == "fraud"
    assert slots_of(events)["payee"] is None  # a transfer under way stops
    dispatcher = CollectingDispatcher()
    await ActionHumanHandoff().run(
        dispatcher, make_tracker({"urgent_reason": "fraud"}, text="我被骗了"), domain_dict
    )
    assert responses(dispatcher) == ["utter_handoff_recorded_urgent"]


async def test_one_complaint_ticket_takes_the_later_details(bank_at_ten, domain_dict) -> None:
    first = CollectingDispatcher()
    events = await ActionSubmitComplaint().run(
        first, make_tracker({"complaint_text": "人民广场支行排队一个多小时没人管"}, sender="angry"), domain_dict
    )
    ticket = slots_of(events)["complaint_ticket_id"]
    more = CollectingDispatcher()
    tracker = make_tracker(
        {"complaint_text": "还有那个保安也很凶", "complaint_ticket_id": ticket}, sender="angry"
    )
    events = await ActionSubmitComplaint().run(more, tracker, domain_dict)
    assert responses(more) == ["utter_details_added"]
    assert slots_of(events)["complaint_ticket_id"] == ticket
    tickets = await bank_at_ten.support.list_tickets("angry", kind="complaint")
    assert [t.ticket_id for t in tickets] == [ticket] and tickets[0].details_count == 1


async def test_that_branchs_number_right_after_the_branch(bank_at_ten, domain_dict) -> None:
    from actions.support import ActionContacts

    context = {"topic": "branch", "branch": "徐家汇支行"}
    dispatcher = CollectingDispatcher()
    await ActionContacts().run(
        dispatcher, make_tracker({"context": context}, text="那个网点电话多少", intent="ask_hotline"), domain_dict
    )
    assert responses(dispatcher) == ["utter_branch_phone"]
    assert dispatcher.messages[0]["name"] == "徐家汇支行"
    # Without a branch just talked about: the bank's numbers.
    dispatcher = CollectingDispatcher()
    await ActionContacts().run(dispatcher, make_tracker(text="客服电话多少", intent="ask_hotline"), domain_dict)
    assert responses(dispatcher)[0] == "utter_contacts_header"
