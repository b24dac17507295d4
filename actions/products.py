"""Products with suitability, risk assessment, FX rates and the next-best offer."""

from __future__ import annotations

import re
from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.base import BankAction, services, skip_cleared, slot_str
from bot.formatting import format_cny, long_date, parse_amount, percent, term_label
from bot.nlu.time_range import parse_term_days
from bot.services.errors import (
    BadRequest,
    NotFound,
    ProductNotSuitable,
    RiskAssessmentRequired,
)
from bot.services.types import Product, RiskQuestion

RISK_SLOTS = tuple(f"risk_q{i}" for i in range(1, 7))
INVESTMENT_TYPES = ("wealth", "fund")
CURRENCY_CODES = {
    "人民币": "CNY", "美元": "USD", "美金": "USD", "欧元": "EUR", "港币": "HKD",
    "港元": "HKD", "日元": "JPY", "英镑": "GBP",
}
MAX_LISTED = 4


def slot_list(tracker: Tracker, name: str) -> list[str]:
    value = tracker.get_slot(name)
    if value is None:
        return []
    values = value if isinstance(value, list) else [value]
    return list(dict.fromkeys(str(v) for v in values if v))


def utter_products(dispatcher: CollectingDispatcher, products: list[Product]) -> None:
    """One summary line per product, then the disclosure when any is an investment."""
    for product in products:
        common = {
            "name": product.name,
            "code": product.code,
            "category": product.category,
            "rate_label": product.rate_label,
            "rate": percent(product.reference_rate) if product.reference_rate is not None else "",
        }
        if product.type in INVESTMENT_TYPES:
            dispatcher.utter_message(
                response="utter_product_summary",
                risk_level=product.risk_level,
                term=term_label(product.term_days),
                min_amount=format_cny(product.min_amount),
                **common,
            )
        elif product.type == "deposit":
            dispatcher.utter_message(
                response="utter_product_summary_deposit",
                term=term_label(product.term_days),
                min_amount=format_cny(product.min_amount),
                **common,
            )
        else:
            dispatcher.utter_message(response="utter_product_summary_other", **common)
    if any(p.type in INVESTMENT_TYPES for p in products):
        dispatcher.utter_message(response="utter_risk_disclosure")


async def find_named(names: list[str]) -> list[Product]:
    found: list[Product] = []
    for name in names:
        matches = await services().products.list_products(q=name)
        if matches and matches[0].code not in {p.code for p in found}:
            found.append(matches[0])
    return found


class ActionProductInquiry(Action):
    """Named products (one: details; two: comparison) or a filtered list."""

    def name(self) -> str:
        return "action_product_inquiry"

    async def run(self, dispatcher, tracker, domain) -> list[EventType]:
        reset = [SlotSet(name, None) for name in ("product", "product_type", "term")]
        named = await find_named(slot_list(tracker, "product"))
        if len(named) >= 2:
            comparison = await services().products.compare_products([p.code for p in named])
            dispatcher.utter_message(response="utter_products_compare_intro")
            utter_products(dispatcher, list(comparison.products))
            return reset
        if len(named) == 1:
            product = named[0]
            utter_products(dispatcher, [product])
            dispatcher.utter_message(response="utter_product_detail", description=product.description)
            await self._suitability(dispatcher, tracker, product)
            return reset
        term_days = parse_term_days(slot_str(tracker, "term") or "")
        try:
            products = await services().products.list_products(
                type=slot_str(tracker, "product_type"),
                term_days_max=term_days,
            )
        except BadRequest:
            products = await services().products.list_products()
        if not products:
            dispatcher.utter_message(response="utter_no_products")
            return reset
        dispatcher.utter_message(response="utter_products_intro")
        utter_products(dispatcher, products[:MAX_LISTED])
        return reset

    async def _suitability(self, dispatcher, tracker: Tracker, product: Product) -> None:
        """A bound customer asking for a product above their level is told so."""
        token = tracker.get_slot("auth_token")
        if not token or product.type not in INVESTMENT_TYPES:
            return
        try:
            await services().products.check_suitability(token, product.code)
        except ProductNotSuitable as exc:
            profile = await services().accounts.get_profile(token)
            dispatcher.utter_message(
                response="utter_product_not_suitable",
                customer_level=exc.details.get("customer_risk_level", ""),
                customer_label=profile.risk_label or "",
                max_product_risk=exc.details.get("max_product_risk", ""),
                name=product.name,
                product_level=product.risk_level,
            )
            recommended = await services().products.recommendations(token)
            utter_products(dispatcher, list(recommended.products[:2]))
        except RiskAssessmentRequired:
            dispatcher.utter_message(response="utter_need_risk_assessment")


class ActionRecommendProduct(BankAction):
    """Only products within the customer's assessed risk level, amount and term."""

    intent = "recommend_product"

    async def perform(self, dispatcher, tracker, domain, token) -> list[EventType]:
        reset = [SlotSet(name, None) for name in ("amount", "term", "product_type")]
        amount = parse_amount(tracker.get_slot("amount"))
        term_days = parse_term_days(slot_str(tracker, "term") or "")
        try:
            result = await services().products.recommendations(
                token, amount=amount, term_days=term_days
            )
        except RiskAssessmentRequired:
            dispatcher.utter_message(response="utter_need_risk_assessment")
            return reset
        if not result.products:
            dispatcher.utter_message(response="utter_no_products")
            return reset
        dispatcher.utter_message(
            response="utter_recommend_intro",
            level=result.risk_level,
            label=result.label,
            max_product_risk=result.max_product_risk,
        )
        utter_products(dispatcher, list(result.products[:3]))
        if not any(p.type in INVESTMENT_TYPES for p in result.products[:3]):
            dispatcher.utter_message(response="utter_risk_disclosure")
        return reset


class ActionRiskAssessment(BankAction):
    """Starts risk_form (a bound customer); answers are scored by the bank."""

    intent = "risk_assessment"

    async def perform(self, dispatcher, tracker, domain, token) -> list[EventType]:
        return [SlotSet(name, None) for name in RISK_SLOTS]


_questionnaire_cache: dict[str, RiskQuestion] = {}


async def question(slot: str) -> RiskQuestion:
    if not _questionnaire_cache:
        questionnaire = await services().products.risk_questionnaire()
        _questionnaire_cache.update({f"risk_{q.id}": q for q in questionnaire.questions})
    return _questionnaire_cache[slot]


class AskRiskQuestion(Action):
    """Shows one questionnaire question (from the bank) with its options as buttons."""

    slot = ""

    def name(self) -> str:
        return f"action_ask_{self.slot}"

    async def run(self, dispatcher, tracker, domain) -> list[EventType]:
        q = await question(self.slot)
        number = RISK_SLOTS.index(self.slot) + 1
        dispatcher.utter_message(
            text=f"({number}/{len(RISK_SLOTS)}) {q.text}",
            buttons=[
                {"title": f"{o.id}. {o.text}", "payload": f'/inform{{"risk_answer": "{o.id}"}}'}
                for o in q.options
            ],
        )
        return []


class ActionAskRiskQ1(AskRiskQuestion):
    slot = "risk_q1"


class ActionAskRiskQ2(AskRiskQuestion):
    slot = "risk_q2"


class ActionAskRiskQ3(AskRiskQuestion):
    slot = "risk_q3"


class ActionAskRiskQ4(AskRiskQuestion):
    slot = "risk_q4"


class ActionAskRiskQ5(AskRiskQuestion):
    slot = "risk_q5"


class ActionAskRiskQ6(AskRiskQuestion):
    slot = "risk_q6"


class ValidateRiskForm(FormValidationAction):
    def name(self) -> str:
        return "validate_risk_form"

    async def _answer(self, slot: str, slot_value: Any, dispatcher) -> dict[str, Any]:
        """An option letter of the question (typed "b", "选B" or a button)."""
        q = await question(slot)
        match = re.search(r"[A-Ea-e]", str(slot_value or ""))
        letter = match.group(0).upper() if match else None
        if letter not in {o.id for o in q.options}:
            dispatcher.utter_message(response="utter_risk_answer_invalid")
            return {slot: None}
        return {slot: letter}

    @skip_cleared
    async def validate_risk_q1(self, slot_value, dispatcher, tracker, domain) -> dict[str, Any]:
        return await self._answer("risk_q1", slot_value, dispatcher)

    @skip_cleared
    async def validate_risk_q2(self, slot_value, dispatcher, tracker, domain) -> dict[str, Any]:
        return await self._answer("risk_q2", slot_value, dispatcher)

    @skip_cleared
    async def validate_risk_q3(self, slot_value, dispatcher, tracker, domain) -> dict[str, Any]:
        return await self._answer("risk_q3", slot_value, dispatcher)

    @skip_cleared
    async def validate_risk_q4(self, slot_value, dispatcher, tracker, domain) -> dict[str, Any]:
        return await self._answer("risk_q4", slot_value, dispatcher)

    @skip_cleared
    async def validate_risk_q5(self, slot_value, dispatcher, tracker, domain) -> dict[str, Any]:
        return await self._answer("risk_q5", slot_value, dispatcher)

    @skip_cleared
    async def validate_risk_q6(self, slot_value, dispatcher, tracker, domain) -> dict[str, Any]:
        return await self._answer("risk_q6", slot_value, dispatcher)


class ActionSubmitRiskAssessment(Action):
    def name(self) -> str:
        return "action_submit_risk_assessment"

    async def run(self, dispatcher, tracker, domain) -> list[EventType]:
        answers = {slot.removeprefix("risk_"): tracker.get_slot(slot) for slot in RISK_SLOTS}
        reset = [SlotSet(name, None) for name in RISK_SLOTS]
        if not all(answers.values()):
            dispatcher.utter_message(response="utter_cancelled")
            return reset
        result = await services().products.submit_risk_assessment(
            tracker.get_slot("auth_token"), answers
        )
        dispatcher.utter_message(
            response="utter_risk_result",
            level=result.risk_level,
            label=result.label,
            max_product_risk=result.max_product_risk,
            expires=long_date(result.expires_at),
        )
        return reset


def fx_direction(tracker: Tracker) -> tuple[str | None, str]:
    """(from, to): the currency named right after the amount is what is converted."""
    entities = tracker.latest_message.get("entities") or []
    currencies = [e for e in entities if e.get("entity") == "currency"]
    codes = [CURRENCY_CODES.get(str(e.get("value")), str(e.get("value"))) for e in currencies]
    amount = next((e for e in entities if e.get("entity") == "amount"), None)
    foreign = [c for c in codes if c != "CNY"]
    if not foreign:
        return None, "CNY"
    if amount is not None and currencies:
        after = min(
            currencies, key=lambda e: abs(int(e.get("start", 0)) - int(amount.get("end", 0)))
        )
        first = CURRENCY_CODES.get(str(after.get("value")), str(after.get("value")))
        if first == "CNY":
            return "CNY", foreign[0]
    return foreign[0], "CNY"


class ActionExchangeRate(Action):
    def name(self) -> str:
        return "action_exchange_rate"

    async def run(self, dispatcher, tracker, domain) -> list[EventType]:
        reset = [SlotSet("currency", None), SlotSet("amount", None)]
        source, target = fx_direction(tracker)
        amount = parse_amount(tracker.get_slot("amount"))
        products = services().products
        if source and amount:
            try:
                conversion = await products.convert_fx(amount, source, target)
            except (BadRequest, NotFound):
                dispatcher.utter_message(response="utter_fx_unknown_currency")
                return reset
            dispatcher.utter_message(
                response="utter_fx_conversion",
                amount_from=f"{conversion.amount:,.2f} {conversion.from_currency}",
                amount_to=f"{conversion.result:,.2f} {conversion.to_currency}",
                rate_label=conversion.rate_label,
                rate=f"{conversion.rate:.2f}",
                name=conversion.currency_name,
                note=conversion.note,
            )
            return reset
        rates = await products.fx_rates()
        if source:
            rates = [r for r in rates if r.currency == source] or rates
        dispatcher.utter_message(response="utter_fx_rates_header")
        for rate in rates:
            dispatcher.utter_message(
                response="utter_fx_rate_line",
                name=rate.name,
                currency=rate.currency,
                buy=f"{rate.buy:.2f}",
                sell=f"{rate.sell:.2f}",
            )
        return reset


async def offer_events(dispatcher: CollectingDispatcher, tracker: Tracker, token: str) -> list[EventType]:
    """At most one compliant offer a session, never after the customer declined."""
    if tracker.get_slot("offer_made"):
        return []
    offer = await services().products.next_offer(token, context="balance")
    if offer is None:
        return []
    product = offer.product
    dispatcher.utter_message(
        response="utter_offer",
        name=product.name,
        category=product.category,
        term=term_label(product.term_days),
        min_amount=format_cny(product.min_amount),
        rate_label=product.rate_label,
        rate=percent(product.reference_rate),
    )
    if product.type in INVESTMENT_TYPES:
        dispatcher.utter_message(response="utter_risk_disclosure")
    return [
        SlotSet("offer_made", True),
        SlotSet("offer_pending", True),
        SlotSet("offer_code", product.code),
    ]


class ActionOfferReply(Action):
    """Yes: the product's details. No: remembered by the bank, never offered again."""

    def name(self) -> str:
        return "action_offer_reply"

    async def run(self, dispatcher, tracker, domain) -> list[EventType]:
        done = [SlotSet("offer_pending", False)]
        intent = (tracker.latest_message.get("intent") or {}).get("name")
        token = tracker.get_slot("auth_token")
        if intent == "deny":
            if token:
                await services().products.decline_offers(token)
            dispatcher.utter_message(response="utter_offer_declined")
            return done
        code = tracker.get_slot("offer_code")
        if code:
            product = await services().products.get_product(code)
            utter_products(dispatcher, [product])
            dispatcher.utter_message(response="utter_product_detail", description=product.description)
        return done

