"""Products with suitability, risk assessment, FX rates and the next-best offer."""

from __future__ import annotations

import re
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.base import (
    AnswerAction,
    BankAction,
    TaskFormValidation,
    context_of,
    has_second_request,
    is_payload,
    is_side_question,
    latest_entities,
    latest_intent,
    latest_text,
    offer,
    phone_numbers,
    redirect,
    request_text,
    services,
    set_context,
    skip_cleared,
    slot_str,
)
from bot.formatting import format_cny, long_date, parse_amount, percent, term_label
from bot.nlu.answers import (
    SELL_FOREIGN,
    correction_end,
    fx_request,
    is_follow_up,
    is_question,
    match_option,
)
from bot.nlu.currency import code_of, currencies_in
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


class ActionProductInquiry(AnswerAction):
    """Named products (one: details; two: comparison) or a filtered list."""

    intent = "product_inquiry"

    def name(self) -> str:
        return "action_product_inquiry"

    async def answer(self, dispatcher, tracker, domain) -> list[EventType]:
        reset = [SlotSet(name, None) for name in ("product", "product_type", "term")]
        named = await find_named(slot_list(tracker, "product"))
        if not named and not is_payload(tracker) and (follow_up := product_follow_up(tracker)):
            return [*reset, *follow_up]
        if len(named) >= 2:
            comparison = await services().products.compare_products([p.code for p in named])
            dispatcher.utter_message(response="utter_products_compare_intro")
            utter_products(dispatcher, list(comparison.products))
            return reset
        if len(named) == 1 and not RATE_QUESTION.search(latest_text(tracker)):
            product = named[0]
            utter_products(dispatcher, [product])
            dispatcher.utter_message(response="utter_product_detail", description=product.description)
            await self._suitability(dispatcher, tracker, product)
            return [*reset, set_context("product", product=product.name)]
        if (
            not named
            and context_of(tracker).get("topic") == "recommend"
            and parse_term_days(slot_str(tracker, "term") or latest_text(tracker)) is not None
        ):
            # "其实这钱只能放半年" after a recommendation: recommend again for that term.
            return [*reset, *redirect(tracker, "recommend_product", {"term": slot_str(tracker, "term") or latest_text(tracker)})]
        term_days = parse_term_days(slot_str(tracker, "term") or "") or (
            parse_term_days(latest_text(tracker)) if RATE_QUESTION.search(latest_text(tracker)) else None
        )
        product_type = slot_str(tracker, "product_type")
        if named and RATE_QUESTION.search(latest_text(tracker)):
            product_type = None  # "三年定期跟三年大额存单哪个利息高": across types, same term
        try:
            products = await services().products.list_products(
                type=product_type,
                term_days_max=term_days,
            )
            if RATE_QUESTION.search(latest_text(tracker)):
                # Compare like with like: the term asked about, the kinds named.
                if term_days is not None:
                    products = [p for p in products if p.term_days == term_days] or products
                kinds = {p.type for p in named}
                if slot_str(tracker, "product_type"):
                    kinds |= {p.type for p in await services().products.list_products(
                        type=slot_str(tracker, "product_type"))}
                if kinds:
                    products = [p for p in products if p.type in kinds] or products
        except BadRequest:
            products = await services().products.list_products()
        if RATE_QUESTION.search(latest_text(tracker)):
            # "哪个收益高": the candidates by reference rate, best first, and said so.
            products = sorted(products, key=lambda p: p.reference_rate or 0, reverse=True)
            if products and products[0].reference_rate is not None:
                dispatcher.utter_message(
                    response="utter_products_best_rate",
                    name=products[0].name,
                    rate_label=products[0].rate_label,
                    rate=percent(products[0].reference_rate),
                )
        if not products:
            dispatcher.utter_message(response="utter_no_products")
            return reset
        dispatcher.utter_message(response="utter_products_intro")
        utter_products(dispatcher, products[:MAX_LISTED])
        return [*reset, set_context(
            "products", product_type=slot_str(tracker, "product_type"),
            products=[p.name for p in products[:MAX_LISTED]],
        )]

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


# "起购多少", "保本吗" right after a product: a question about that product.
PRODUCT_ATTRIBUTE = re.compile(
    r"起购|起存|起投|多少钱起|门槛|风险|期限|多久|多长时间|收益|利率|利息|能取|赎回|保本|会亏|亏吗|封闭期"
)


def product_follow_up(tracker: Tracker) -> list[EventType] | None:
    """"风险等级呢" right after a product's details is about that product, not a
    request for a recommendation or an assessment."""
    context = context_of(tracker)
    text = latest_text(tracker)
    if latest_entities(tracker, "product_type") or latest_entities(tracker, "product"):
        return None  # "那基金呢": another kind of product, not the one just shown
    short_question = len(text.strip()) <= 12 and PRODUCT_ATTRIBUTE.search(text)
    if context.get("topic") == "product" and context.get("product") and (
        is_follow_up(text) or short_question
    ):
        return redirect(tracker, "product_inquiry", {"product": context["product"]})
    listed = context.get("products") or []
    if (
        context.get("topic") in ("products", "recommend")
        and listed
        and short_question
        and not RATE_QUESTION.search(text)
    ):
        # "起购多少 能随时取吗" after a list: those products side by side (one: its details).
        return redirect(tracker, "product_inquiry", {"product": listed})
    return None


class ActionRecommendProduct(BankAction):
    """Only products within the customer's assessed risk level, amount and term."""

    intent = "recommend_product"
    one_step = False

    async def run(self, dispatcher, tracker, domain) -> list[EventType]:
        named = latest_entities(tracker, "product")
        if named and not is_payload(tracker) and not SUITS_ME.search(latest_text(tracker)):
            # "我想买科技创新股票基金": that product (and whether it suits), not a list.
            return redirect(tracker, "product_inquiry", {"product": [str(v) for v in named]})
        return product_follow_up(tracker) or await super().run(dispatcher, tracker, domain)

    async def perform(self, dispatcher, tracker, domain, token) -> list[EventType]:
        reset = [SlotSet(name, None) for name in ("term", "product_type")]
        said = latest_entities(tracker, "amount")
        amount = parse_amount(said[-1]) if said else None
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
        return [*reset, set_context("recommend", products=[p.name for p in result.products[:3]])]


class ActionRiskAssessment(BankAction):
    """Starts risk_form (a bound customer); answers are scored by the bank."""

    intent = "risk_assessment"
    one_step = False

    async def run(self, dispatcher, tracker, domain) -> list[EventType]:
        return product_follow_up(tracker) or await super().run(dispatcher, tracker, domain)

    async def perform(self, dispatcher, tracker, domain, token) -> list[EventType]:
        in_form = (tracker.active_loop or {}).get("name") == "risk_form"
        text = request_text(tracker, self.intent)
        if LEVEL_QUESTION.search(text) and not RETAKE.search(text):
            # "我现在是C几": the level on record, not the questionnaire again.
            profile = await services().accounts.get_profile(token)
            if profile.risk_level and profile.risk_assessment_valid:
                dispatcher.utter_message(
                    response="utter_current_risk_level",
                    level=profile.risk_level,
                    label=profile.risk_label or "",
                    expires=long_date(profile.risk_expires_at) if profile.risk_expires_at else "",
                )
                if in_form:
                    return []  # the question asked again; "取消" leaves it
                return [
                    *(SlotSet(name, None) for name in RISK_SLOTS),
                    offer("recommend_product"),
                    FollowupAction("action_listen"),
                ]
        if in_form:
            # "这个评估做完多久有效啊" in the middle of it: explained, the answers kept.
            dispatcher.utter_message(response="utter_explain_risk_question")
            return []
        return [SlotSet(name, None) for name in RISK_SLOTS]


# "科技基金适合我吗": the customer's level is needed (verification), not just the product.
SUITS_ME = re.compile(r"适合我|适不适合|能不能买|我能买|可以买吗|买得了")
LEVEL_QUESTION = re.compile(r"等级是|什么等级|几级|C几|c几|哪个等级|哪一级|是什么型|什么类型|评的是|结果是")
RETAKE = re.compile(r"重新|再做|再评|重做|更新|过期")


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


class ValidateRiskForm(TaskFormValidation):
    def name(self) -> str:
        return "validate_risk_form"

    async def is_answer(self, slot: str, value: Any, tracker: Tracker) -> bool:
        """An option picked by letter, number or words; a question is not an answer."""
        if not slot.startswith("risk_q"):
            return True
        if is_question(latest_text(tracker)) and not re.fullmatch(r"\s*[A-Ha-h1-8]\s*[?？]?\s*", latest_text(tracker)):
            # "这题啥意思 保本的理财还有吗", "这个评估做完多久有效啊": a question, even
            # when a word of it matches an option; explained, then asked again.
            return False
        if latest_entities(tracker, "risk_answer"):
            return True
        q = await question(slot)
        picked = match_option(str(value or ""), [(o.id, o.text) for o in q.options])
        if picked is not None:
            return True
        return not is_side_question(tracker) and latest_intent(tracker) in ("inform", "nlu_fallback")

    async def _answer(self, slot: str, slot_value: Any, dispatcher) -> dict[str, Any]:
        """The option picked: a button, a letter ("b", "选B"), a number ("2", "第二个")
        or free words that fit one option ("30岁到50岁")."""
        q = await question(slot)
        options = [(o.id, o.text) for o in q.options]
        value = str(slot_value or "").strip()
        picked = value.upper() if value.upper() in {o.id for o in q.options} else None
        picked = picked or match_option(value, options)
        if picked is None:
            dispatcher.utter_message(response="utter_risk_answer_invalid")
            return {slot: None}
        return {slot: picked}

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
        # The result asks whether to recommend products at that level: "好的" says yes.
        return [*reset, offer("recommend_product")]


def fx_wanted(tracker: Tracker) -> dict[str, Any]:
    """What the exchange question asks: foreign currency, amount (and whether it is in
    CNY), direction and spot/cash; an elliptical follow-up ("港币呢", "换成现钞呢")
    keeps what the previous exchange answer had and it does not change."""
    entities = tracker.latest_message.get("entities") or []
    tagged = [code_of(e.get("value")) for e in entities if e.get("entity") == "currency"]
    # In the order the customer said them; names the NLU does not tag ("GBP", "软妹币")
    # count too.
    currencies = currencies_in(latest_text(tracker)) or tagged
    foreign = next((c for c in [*currencies, *tagged] if c != "CNY"), None)
    amount_entity = next((e for e in entities if e.get("entity") == "amount"), None)
    amount = parse_amount(amount_entity.get("value")) if amount_entity else None
    request = fx_request(
        latest_text(tracker), amount_entity.get("end") if amount_entity and not is_payload(tracker) else None
    )
    wanted: dict[str, Any] = {
        "currency": foreign,
        "amount": str(amount) if amount else None,
        "amount_in_cny": request.amount_in_cny or ("CNY" in currencies and currencies[0] == "CNY"),
        "direction": request.direction,
        "cash": request.cash,
    }
    context = context_of(tracker)
    text = latest_text(tracker)
    # "不是卖 是买欧元": a short correction of the answer just given is a follow-up too.
    follow_up = is_payload(tracker) or is_follow_up(text) or (
        (len(text) <= 14 or correction_end(text) is not None)
        and not amount
        and request.direction is not None
    )
    if context.get("topic") == "fx" and follow_up:
        for key in ("currency", "amount", "direction", "cash"):
            if wanted[key] is None:
                wanted[key] = context.get(key)
        if not amount and context.get("amount"):
            wanted["amount_in_cny"] = bool(context.get("amount_in_cny"))
    return wanted


class ActionExchangeRate(AnswerAction):
    """Rates (spot and cash, both sides) or a conversion priced on the right side of the
    spread: buying foreign currency at the bank's selling rate, selling at its buying
    rate; the answer says which."""

    intent = "exchange_rate"

    def name(self) -> str:
        return "action_exchange_rate"

    async def answer(self, dispatcher, tracker, domain) -> list[EventType]:
        wanted = fx_wanted(tracker)
        products = services().products
        reset = [SlotSet("currency", None), set_context("fx", **wanted)]
        currency, amount = wanted["currency"], parse_amount(wanted["amount"])
        if currency and amount:
            buy = wanted["direction"] != SELL_FOREIGN or wanted["amount_in_cny"]
            cash = bool(wanted["cash"])
            try:
                if buy:
                    conversion = await products.convert_fx(
                        amount, "CNY", currency,
                        amount_currency="from" if wanted["amount_in_cny"] else "to", cash=cash,
                    )
                else:
                    conversion = await products.convert_fx(amount, currency, "CNY", cash=cash)
            except (BadRequest, NotFound):
                dispatcher.utter_message(response="utter_fx_unknown_currency")
                return reset
            kind = "现钞" if cash else "现汇"
            common = {
                "rate_label": conversion.rate_label,
                "rate": f"{conversion.rate:.2f}",
                "name": conversion.currency_name,
                "kind": kind,
                "note": conversion.note,
            }
            cny = conversion.from_amount if buy else conversion.to_amount
            foreign = conversion.to_amount if buy else conversion.from_amount
            cny_text = format_cny(cny if cny is not None else conversion.result)
            foreign_text = f"{(foreign if foreign is not None else conversion.amount):,.2f} {currency}"
            if buy and wanted["amount_in_cny"]:
                dispatcher.utter_message(
                    response="utter_fx_buy_with_cny", amount_cny=format_cny(amount),
                    amount_foreign=foreign_text, **common,
                )
            elif buy:
                dispatcher.utter_message(
                    response="utter_fx_buy", action="购买", amount_foreign=foreign_text,
                    amount_cny=cny_text, **common,
                )
            else:
                dispatcher.utter_message(
                    response="utter_fx_sell", action="卖出", amount_foreign=foreign_text,
                    amount_cny=cny_text, **common,
                )
            return reset
        rates = await products.fx_rates()
        if currency:
            rates = [r for r in rates if r.currency == currency] or rates
        dispatcher.utter_message(response="utter_fx_rates_header")
        for rate in rates:
            dispatcher.utter_message(
                response="utter_fx_rate_line",
                name=rate.name,
                currency=rate.currency,
                buy=f"{rate.buy:.2f}",
                sell=f"{rate.sell:.2f}",
                cash_buy=f"{rate.cash_buy:.2f}",
                cash_sell=f"{(rate.cash_sell if rate.cash_sell is not None else rate.sell):.2f}",
            )
        dispatcher.utter_message(response="utter_fx_rates_note")
        return reset


class ActionMortgage(AnswerAction):
    """Housing loans: the bank's current rates, or its prepayment rules when the
    customer asks about paying early; the mortgage line for a personal plan."""

    intent = "ask_mortgage"

    def name(self) -> str:
        return "action_mortgage"

    async def answer(self, dispatcher, tracker, domain) -> list[EventType]:
        text = latest_text(tracker)
        rates = await services().products.mortgage_rates()
        numbers = await phone_numbers()
        hotline = numbers.get("mortgage_hotline") or numbers.get("hotline", "")
        context = context_of(tracker)
        # "商贷呢" right after the prepayment rules: still about paying early.
        still_prepaying = (
            context.get("topic") == "mortgage" and context.get("prepay") and len(text) <= 10
            and not re.search(r"利率|利息|多少", text)
        )
        if PREPAY_WORDS.search(text) or still_prepaying:
            lines = "\n".join(
                f"• {rule.name}：{rule.notice}；{rule.min_amount_text}；{rule.fee}。"
                for rule in rates.prepayment
            )
            dispatcher.utter_message(response="utter_mortgage_prepayment", lines=lines, hotline=hotline)
            return [set_context("mortgage", prepay=True)]
        shown = list(rates.commercial) + list(rates.provident_fund)
        if re.search(r"公积金", text) and not re.search(r"商贷|商业", text):
            shown = list(rates.provident_fund)
        lines = "\n".join(f"• {rate.name}：{rate_percent(rate.rate)}" for rate in shown)
        if rates.lpr_5y is not None and shown != list(rates.provident_fund):
            lines += f"\n（商业贷款按5年期以上LPR {rates.lpr_5y:.2f}% 加减点）"
        dispatcher.utter_message(
            response="utter_mortgage_rates", as_of=long_date(rates.as_of), lines=lines,
            note=rates.note or "",
        )
        if re.search(r"转|怎么办|能贷|额度|条件|申请|月供", text):
            dispatcher.utter_message(
                response="utter_mortgage_routing", hotline=hotline,
                hours=numbers.get("mortgage_hotline_hours", ""),
            )
        return [set_context("mortgage", prepay=False)]


def rate_percent(value: Any) -> str:
    """3.05 -> "3.05%", 2.525 -> "2.525%" (never rounded away)."""
    text = f"{value:.3f}"
    return (text[:-1] if text.endswith("0") else text) + "%"


RATE_QUESTION = re.compile(r"哪个.{0,6}(?:高|多|划算|好|合适)|收益.{0,3}高|利率.{0,3}高|利息.{0,3}高|最高|比较一下|哪种.{0,4}(?:高|划算)")
PREPAY_WORDS = re.compile(r"提前还|提前结清|还一部分|部分还款|一次性还清|一次还清|违约金|提前还款")


async def offer_events(dispatcher: CollectingDispatcher, tracker: Tracker, token: str) -> list[EventType]:
    """At most one compliant offer a session, never after the customer declined."""
    if tracker.get_slot("offer_made") or has_second_request(request_text(tracker, "check_balance")):
        # Not while the customer has a second request waiting in the same message.
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

