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


def fx_tracker(text: str, entities: list[dict]) -> object:
    return make_tracker(text=text, intent="exchange_rate", entities=entities)


async def test_selling_foreign_currency_is_priced_at_the_buying_rate(bank, domain_dict) -> None:
    dispatcher = CollectingDispatcher()
    entities = [
        {"entity": "amount", "value": "1000", "start": 0, "end": 4},
        {"entity": "currency", "value": "美元", "start": 4, "end": 6},
        {"entity": "currency", "value": "人民币", "start": 9, "end": 12},
    ]
    await ActionExchangeRate().run(dispatcher, fx_tracker("1000美元是多少人民币", entities), domain_dict)
    message = dispatcher.messages[0]
    assert message["response"] == "utter_fx_sell"
    assert message["rate_label"] == "现汇买入价" and message["rate"] == "711.20"
    assert message["amount_cny"] == "¥7,112.00"


async def test_buying_foreign_currency_is_priced_at_the_selling_rate(bank, domain_dict) -> None:
    dispatcher = CollectingDispatcher()
    entities = [
        {"entity": "amount", "value": "5000", "start": 1, "end": 5},
        {"entity": "currency", "value": "欧元", "start": 5, "end": 7},
    ]
    await ActionExchangeRate().run(dispatcher, fx_tracker("换5000欧元要多少钱", entities), domain_dict)
    message = dispatcher.messages[0]
    assert message["response"] == "utter_fx_buy"
    assert message["rate_label"] == "现汇卖出价" and message["rate"] == "831.90"
    assert message["amount_cny"] == "¥41,595.00"


async def test_cash_rates_for_banknotes_and_a_follow_up_keeps_the_question(bank, domain_dict) -> None:
    dispatcher = CollectingDispatcher()
    entities = [
        {"entity": "amount", "value": "1000", "start": 3, "end": 7},
        {"entity": "currency", "value": "美元", "start": 7, "end": 9},
    ]
    events = await ActionExchangeRate().run(
        dispatcher, fx_tracker("我要买1000美元现钞", entities), domain_dict
    )
    message = dispatcher.messages[0]
    assert message["rate_label"] == "现钞卖出价" and message["rate"] == "714.20"
    assert message["amount_cny"] == "¥7,142.00"
    context = slots_of(events)["context"]

    dispatcher = CollectingDispatcher()
    tracker = make_tracker(
        {"context": context}, text="港币呢", intent="inform",
        entities=[{"entity": "currency", "value": "港币", "start": 0, "end": 2}],
    )
    await ActionExchangeRate().run(dispatcher, tracker, domain_dict)
    follow_up = dispatcher.messages[0]
    assert follow_up["response"] == "utter_fx_buy" and follow_up["rate_label"] == "现钞卖出价"
    assert follow_up["amount_foreign"].endswith("HKD")


async def test_rates_list_spot_and_cash_on_both_sides(bank, domain_dict) -> None:
    dispatcher = CollectingDispatcher()
    entities = [{"entity": "currency", "value": "美元", "start": 0, "end": 2}]
    await ActionExchangeRate().run(dispatcher, fx_tracker("美元什么价", entities), domain_dict)
    line = next(m for m in dispatcher.messages if m["response"] == "utter_fx_rate_line")
    assert (line["buy"], line["cash_buy"], line["sell"], line["cash_sell"]) == (
        "711.20", "705.40", "714.20", "714.20",
    )


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


async def test_which_earns_more_ranks_by_rate_without_verification(bank, domain_dict) -> None:
    dispatcher = CollectingDispatcher()
    tracker = make_tracker(
        text="三年定期跟三年大额存单 哪个利息高",
        intent="product_inquiry",
        entities=[{"entity": "product", "value": "三年定期"}],
    )
    tracker.slots["product"] = ["三年定期"]
    events = await ActionProductInquiry().run(dispatcher, tracker, domain_dict)
    best = next(m for m in dispatcher.messages if m["response"] == "utter_products_best_rate")
    assert best["rate"] == "1.55%"  # the 3-year certificate of deposit beats the 3-year deposit
    listed = [m for m in dispatcher.messages if m["response"].startswith("utter_product_summary")]
    assert [m["code"] for m in listed] == ["CD3Y", "DEP3Y"]
    assert "pending_request" not in slots_of(events)
