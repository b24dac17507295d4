"""Product, suitability, risk assessment, FX and offer actions against the real bank."""

from __future__ import annotations

from rasa_sdk.executor import CollectingDispatcher

from actions.accounts import ActionCheckBalance
from actions.products import (
    ActionAskRiskQ1,
    ActionExchangeRate,
    ActionOfferReply,
    ActionProductInquiry,
    ActionRecommendProduct,
    ActionSubmitRiskAssessment,
    ValidateRiskForm,
)
from tests.actions.conftest import make_tracker, responses, slots_of
from tests.actions.helpers import verified_slots


async def test_investment_answers_carry_the_disclosure(bank, domain_dict) -> None:
    dispatcher = CollectingDispatcher()
    await ActionProductInquiry().run(dispatcher, make_tracker({"product_type": "理财"}), domain_dict)
    names = responses(dispatcher)
    assert "utter_product_summary" in names
    assert names[-1] == "utter_risk_disclosure"


async def test_deposits_alone_need_no_disclosure(bank, domain_dict) -> None:
    dispatcher = CollectingDispatcher()
    await ActionProductInquiry().run(dispatcher, make_tracker({"product_type": "定期"}), domain_dict)
    assert "utter_risk_disclosure" not in responses(dispatcher)
    assert "utter_product_summary_deposit" in responses(dispatcher)


async def test_two_named_products_are_compared(bank, domain_dict) -> None:
    dispatcher = CollectingDispatcher()
    tracker = make_tracker({"product": ["沪银稳盈180天", "沪银睿远一年持有"]})
    await ActionProductInquiry().run(dispatcher, tracker, domain_dict)
    assert responses(dispatcher)[0] == "utter_products_compare_intro"
    assert sum(r == "utter_product_summary" for r in responses(dispatcher)) == 2


async def test_a_product_above_the_level_is_refused_politely(bank, domain_dict) -> None:
    slots = await verified_slots(bank, domain_dict)  # 张伟, C3
    dispatcher = CollectingDispatcher()
    tracker = make_tracker({**slots, "product": ["沪银科技创新股票基金"]})
    await ActionProductInquiry().run(dispatcher, tracker, domain_dict)
    refusal = next(m for m in dispatcher.messages if m["response"] == "utter_product_not_suitable")
    assert refusal["customer_level"] == "C3" and refusal["product_level"] == "R5"


async def test_recommendations_stay_within_the_level(bank, domain_dict) -> None:
    slots = await verified_slots(bank, domain_dict)
    dispatcher = CollectingDispatcher()
    tracker = make_tracker({**slots, "amount": "50000", "term": "一年"})
    await ActionRecommendProduct().run(dispatcher, tracker, domain_dict)
    assert dispatcher.messages[0]["response"] == "utter_recommend_intro"
    levels = [m.get("risk_level") for m in dispatcher.messages if m["response"] == "utter_product_summary"]
    assert levels and all(level in ("R1", "R2", "R3") for level in levels)
    assert responses(dispatcher)[-1] == "utter_risk_disclosure"


async def test_risk_questionnaire_sets_the_level(bank, domain_dict) -> None:
    slots = await verified_slots(bank, domain_dict)
    dispatcher = CollectingDispatcher()
    await ActionAskRiskQ1().run(dispatcher, make_tracker(slots), domain_dict)
    assert len(dispatcher.messages[0]["buttons"]) >= 3
    form = ValidateRiskForm()
    assert await form.validate_risk_q1("选b", dispatcher, make_tracker(slots), domain_dict) == {"risk_q1": "B"}
    assert await form.validate_risk_q1("Z", dispatcher, make_tracker(slots), domain_dict) == {"risk_q1": None}
    answers = {f"risk_q{i}": "A" for i in range(1, 7)}
    dispatcher = CollectingDispatcher()
    await ActionSubmitRiskAssessment().run(dispatcher, make_tracker({**slots, **answers}), domain_dict)
    result = dispatcher.messages[0]
    assert result["response"] == "utter_risk_result" and result["level"] == "C1"


async def test_fx_conversion_uses_the_right_side(bank, domain_dict) -> None:
    dispatcher = CollectingDispatcher()
    entities = [
        {"entity": "amount", "value": "1000", "start": 0, "end": 4},
        {"entity": "currency", "value": "美元", "start": 4, "end": 6},
        {"entity": "currency", "value": "人民币", "start": 9, "end": 12},
    ]
    tracker = make_tracker({"amount": "1000"}, text="1000美元是多少人民币", entities=entities)
    await ActionExchangeRate().run(dispatcher, tracker, domain_dict)
    message = dispatcher.messages[0]
    assert message["response"] == "utter_fx_conversion"
    assert message["amount_to"].endswith("CNY") and message["rate_label"] == "现汇买入价"


async def test_offer_once_then_declined_for_good(bank, domain_dict) -> None:
    slots = await verified_slots(bank, domain_dict)
    dispatcher = CollectingDispatcher()
    events = slots_of(await ActionCheckBalance().run(dispatcher, make_tracker(slots), domain_dict))
    assert "utter_offer" in responses(dispatcher)
    assert events["offer_pending"] is True and events["offer_made"] is True
    again = CollectingDispatcher()
    await ActionCheckBalance().run(again, make_tracker({**slots, "offer_made": True}), domain_dict)
    assert "utter_offer" not in responses(again)

    dispatcher = CollectingDispatcher()
    tracker = make_tracker({**slots, **events}, intent="deny")
    await ActionOfferReply().run(dispatcher, tracker, domain_dict)
    assert responses(dispatcher) == ["utter_offer_declined"]
    fresh = CollectingDispatcher()
    await ActionCheckBalance().run(fresh, make_tracker(slots), domain_dict)
    assert "utter_offer" not in responses(fresh)
