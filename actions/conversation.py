"""Conversation-level actions: greeting, session start, restart, cancelling a task,
explaining a form step, bare yes/no answers and elliptical follow-ups."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from rasa_sdk import Action
from rasa_sdk.events import (
    ActionExecuted,
    ConversationPaused,
    EventType,
    FollowupAction,
    Restarted,
    SessionStarted,
    SlotSet,
)

from actions.accounts import STATEMENT_FILTERS, TRANSFER_SLOTS
from actions.base import (
    context_of,
    fresh_offer,
    latest_entities,
    latest_intent,
    latest_text,
    phone_numbers,
    redirect,
    restate,
    services,
    waiting_for_staff,
)
from actions.branches import QUEUE_SLOTS
from actions.cards import CARD_SLOTS
from actions.products import RISK_SLOTS
from actions.support import RECOVER_MONEY, ActionHumanHandoff
from bot.nlu.answers import (
    accepts_offer,
    card_effect_question,
    fx_request,
    is_follow_up,
    person_name,
    statement_kind,
)
from bot.nlu.time_range import parse_term_days, parse_time_range
from bot.services.errors import ServiceUnavailable, VerificationRequired

TASK_SLOTS = (
    *TRANSFER_SLOTS,
    *CARD_SLOTS,
    *QUEUE_SLOTS,
    *RISK_SLOTS,
    "complaint_text",
    "pending_request",
    "pending_text",
    "phone",
    "otp_code",
    "otp_requested",
    "verify_locked",
    "time_range",
    "txn_kind",
    "merchant",
)


class ActionCancelTask(Action):
    """Clears every task slot; says so only when something was under way (a goodbye
    in the middle of a task says goodbye instead)."""

    def name(self) -> str:
        return "action_cancel_task"

    async def run(self, dispatcher, tracker, domain) -> list[EventType]:
        busy = any(
            tracker.get_slot(name) not in (None, False)
            for name in ("pending_request", "payee", "amount", "card_operation", "branch", "risk_q1")
        )
        if latest_intent(tracker) == "goodbye":
            dispatcher.utter_message(response="utter_goodbye")
        elif not busy and fresh_offer(tracker) is not None:
            # "不用了 不去了" to the question just asked: declined, nothing to cancel.
            dispatcher.utter_message(response="utter_ok_anything_else")
            return [SlotSet("offer_next", None)]
        elif not busy and (
            context_of(tracker).get("topic") == "queue_ticket" or TICKET_WORDS.search(latest_text(tracker))
        ):
            # "算了 取消吧" just after taking a number: that number is what goes.
            return [SlotSet("context", None), *redirect(tracker, "cancel_queue_ticket")]
        else:
            dispatcher.utter_message(
                response="utter_cancelled" if busy else "utter_nothing_to_cancel"
            )
        return [
            *(SlotSet(name, None) for name in dict.fromkeys(TASK_SLOTS)),
            SlotSet("offer_next", None),
        ]


def after_task(context: dict[str, Any]) -> str:
    """Which task the last answer finished, for "what now" (see utter_next_after_*)."""
    topic = str(context.get("topic") or "")
    if topic == "card":
        return f"card_{context.get('operation')}"
    if topic == "transfer" and context.get("held"):
        return "transfer_held"
    return topic


class ActionExplainStep(Action):
    """Inside a form, a message that did not answer the question: say why the step
    asks what it asks (the form then asks again). Outside a form: what we can do."""

    def name(self) -> str:
        return "action_explain_step"

    async def run(self, dispatcher, tracker, domain) -> list[EventType]:
        requested = tracker.get_slot("requested_slot") if tracker.active_loop.get("name") else None
        if not requested:
            # "为什么要验证码" after the task: why verification; "那我现在要干嘛": what
            # follows the task just done; else what we can do.
            text = latest_text(tracker)
            next_step = f"utter_next_after_{after_task(context_of(tracker))}"
            if VERIFY_WORDS.search(text):
                response = "utter_why_verification"
            elif WHAT_NOW.search(text) and next_step in domain.get("responses", {}):
                response = next_step
            else:
                response = "utter_explain_nothing"
            dispatcher.utter_message(response=response)
            return []
        intent = latest_intent(tracker)
        if requested.startswith("card_") and card_effect_question(latest_text(tracker)):
            # "挂失了钱会不会没了" while a card is being chosen: what freezing and
            # reporting a card mean, then the step is asked again.
            dispatcher.utter_message(response="utter_faq/freeze_vs_loss")
            return []
        if intent == "affirm" and not requested.endswith("confirmed"):
            dispatcher.utter_message(response="utter_not_confirm_step")
        elif intent in ("nlu_fallback", "inform"):
            dispatcher.utter_message(response="utter_not_understood_step")
        slot = "risk_question" if requested.startswith("risk_q") else requested
        response = f"utter_explain_{slot}"
        if response not in domain.get("responses", {}):
            response = "utter_explain_nothing"
        dispatcher.utter_message(response=response)
        return []


class ActionYesOrNo(Action):
    """A bare yes or no outside a task: it accepts (or declines) the question the bot
    asked just before, if there was one; otherwise it is answered plainly."""

    def name(self) -> str:
        return "action_yes_or_no"

    async def run(self, dispatcher, tracker, domain) -> list[EventType]:
        pending = fresh_offer(tracker)
        yes = latest_intent(tracker) == "affirm"
        if pending is not None and yes:
            return [
                SlotSet("offer_next", None),
                *redirect(tracker, str(pending["intent"]), pending.get("entities") or {}),
            ]
        if yes:
            dispatcher.utter_message(response="utter_nothing_to_confirm")
        else:
            dispatcher.utter_message(response="utter_ok_anything_else")
        return [SlotSet("offer_next", None)]


MORTGAGE_WORDS = re.compile(r"首套|二套|第二套|商贷|商业|公积金|组合|利率|利息|提前|违约金|月供|年限")
STAFF_WAIT = re.compile(r"多久|多长时间|还要等|接通|轮到|怎么还没|还没人|人呢")
TICKET_FOLLOW_UP = re.compile(r"多久|什么时候|啥时候|几天|退回|退款|退钱|回复|进度|处理到哪")
# "号不要了 取消掉": the queue number is what goes.
TICKET_WORDS = re.compile(r"号不要|排队号|取的号|拿的号|退号|号取消|取消.{0,3}号|不排了")
VERIFY_WORDS = re.compile(r"手机号|验证码|短信码|号码|验证")
WHAT_NOW = re.compile(r"现在|接下来|下一步|然后|之后|那我|我该|我要|还要|还需要")
BILL_REPAY = re.compile(r"怎么还|如何还|还款|在哪还|哪里还|怎么交")
QUEUE_WORDS = re.compile(r"排队|人多|几个人|等多久|要等")
BRANCH_WORDS = re.compile(r"几点|开门|关门|营业|周末|周六|周日|地址|在哪|电话|怎么走|开着")
FX_WORDS = re.compile(r"现钞|现汇|现金|卖出|买入|卖|买")
# What is left of "那淘宝呢" once the follow-up words go: the thing asked about.
BARE_FOLLOW_UP = re.compile(r"^(?:那|那么|还有|再看看|再查查|再|也)|(?:的)?(?:呢|吗)?[?？。!！\s]*$|\s")
SAME_AGAIN = re.compile(r"也|一样|同样|照样|照着|再来|也来|也给|也转")


class ActionFollowUp(Action):
    """"港币呢", "那饿了么呢", "信用卡的呢": entities without a request, resolved against
    the topic of the last answer (the ``context`` slot) and served by the same rules
    as a full request."""

    def name(self) -> str:
        return "action_follow_up"

    async def run(self, dispatcher, tracker, domain) -> list[EventType]:
        context = context_of(tracker)
        topic = context.get("topic")
        pending = fresh_offer(tracker)
        if pending is not None and accepts_offer(latest_text(tracker)):
            # "要", "嗯 也解了吧" to "还要解冻信用卡吗": yes to what was just offered.
            return [
                SlotSet("offer_next", None),
                *redirect(tracker, str(pending["intent"]), pending.get("entities") or {}),
            ]

        def said(entity: str) -> str | None:
            values = latest_entities(tracker, entity)
            return str(values[-1]) if values else None

        currency, amount = said("currency"), said("amount")
        if currency or (amount and topic == "fx"):
            # The exchange action reads the words too ("买2000欧": which way).
            return restate(
                tracker, "exchange_rate", latest_text(tracker),
                tracker.latest_message.get("entities") or [],
            )
        changed = {name: said(name) for name in STATEMENT_FILTERS if said(name)}
        text = latest_text(tracker)
        if topic == "statement" and "time_range" not in changed and (
            parse_time_range(text, date(2100, 1, 1)) is not None
        ):
            changed["time_range"] = text  # "京东只看10月份的": the month is in the words
        if topic == "statement" and not changed and is_follow_up(text):
            bare = BARE_FOLLOW_UP.sub("", text)
            if 2 <= len(bare) <= 6 and statement_kind(bare) is None:
                changed["merchant"] = bare  # "那淘宝呢": another merchant the NLU did not tag
        if topic == "statement" and said("payee") and "merchant" not in changed:
            # "转给李娜的呢": her transfers, the same period.
            changed.update(merchant=said("payee"), txn_kind="转出")
        if changed and topic != "statement" and not said("card_last4"):
            # A statement asked for in words the NLU was unsure of ("上个越美团化了多少"):
            # the statement action reads the period and kind from the words themselves.
            return restate(
                tracker, "transaction_history", latest_text(tracker),
                tracker.latest_message.get("entities") or [],
            )
        if changed and topic == "statement":
            filters = {name: context.get(name) for name in STATEMENT_FILTERS}
            if "merchant" in changed or "txn_kind" in changed:
                # "那饿了么呢" replaces the merchant or kind, keeps the period.
                filters["merchant"] = filters["txn_kind"] = None
            return redirect(tracker, "transaction_history", {**filters, **changed})
        account_type = said("account_type") or said("card_last4")
        if account_type and topic == "card" and context.get("operation"):
            entity = "card_last4" if said("card_last4") else "account_type"
            return redirect(tracker, str(context["operation"]), {entity: account_type})
        if account_type and topic == "balance":
            return redirect(tracker, "check_balance", {"account_type": said("account_type")})
        branch, area = said("branch"), said("area")
        if branch or area:
            intent = "branch_queue_status" if topic == "queue" else "find_branch"
            return redirect(tracker, intent, {"branch": branch, "area": area})
        if said("product") or said("product_type") or said("term"):
            return redirect(
                tracker,
                "product_inquiry",
                {"product": said("product"), "product_type": said("product_type"), "term": said("term")},
            )
        payee = said("payee") or person_name(latest_text(tracker))
        same_again = SAME_AGAIN.search(latest_text(tracker))
        if topic == "transfer" and payee and context.get("amount") and same_again:
            # "王芳也一样来一份": the same amount to another payee (confirmed as usual).
            return redirect(
                tracker, "transfer_money", {"payee": payee, "amount": amount or context["amount"]}
            )
        if amount and topic == "transfer" and tracker.get_slot("last_payee"):
            # "李娜那1000呢" names the payee; "再来1000" means the last one.
            payee = said("payee") or person_name(latest_text(tracker)) or tracker.get_slot("last_payee")
            return redirect(tracker, "transfer_money", {"payee": payee, "amount": amount})
        if topic == "mortgage" and MORTGAGE_WORDS.search(latest_text(tracker)):
            # "二套呢", "商贷呢", "公积金的呢": the same question about another loan.
            return restate(tracker, "ask_mortgage", latest_text(tracker))
        if STAFF_WAIT.search(latest_text(tracker)) and await waiting_for_staff(tracker):
            # "多久能接通" while waiting for a person: the place and wait in the queue.
            return await ActionHumanHandoff().run(dispatcher, tracker, domain)
        resolved = await self._by_words(dispatcher, tracker, context)
        if resolved is not None:
            return resolved
        if latest_intent(tracker) == "nlu_fallback":
            # Nothing to resolve against: ask which request it was (two-stage fallback).
            return [FollowupAction("action_two_stage_fallback")]
        dispatcher.utter_message(response="utter_default")
        return []

    async def _by_words(
        self, dispatcher, tracker, context: dict[str, Any]
    ) -> list[EventType] | None:
        """A follow-up without entities ("起购多少", "那怎么还呢", "换成现钞呢"),
        read with the words that matter for the last topic."""
        text = latest_text(tracker)
        topic = context.get("topic")
        if BILL_REPAY.search(text) and re.search(r"信用卡", text):
            # "那信用卡怎么还款呢": the ways to repay, whatever came before.
            dispatcher.utter_message(
                response="utter_faq/credit_card_repayment", **await phone_numbers()
            )
            return []
        if topic == "media":
            # A journalist pressing for a comment after the referral: the same referral.
            return redirect(tracker, "media_inquiry")
        if topic == "fraud" and RECOVER_MONEY.search(text):
            # "那三万块钱你们能帮我拦下来吗": what the bank and the police can do.
            numbers = await phone_numbers()
            dispatcher.utter_message(
                response="utter_fraud_recovery", hotline=numbers.get("card_loss_hotline", "")
            )
            return []
        if topic in ("dispute", "complaint") and TICKET_FOLLOW_UP.search(text):
            # "大概多久能退回来" after a dispute: its number, state and reply date.
            return redirect(tracker, "ticket_status")
        fx_correction = topic == "fx" and len(text) <= 24 and fx_request(text).direction is not None
        if not (is_follow_up(text) or len(text) <= 12 or fx_correction):
            return None
        if topic == "bill" and (BILL_REPAY.search(text) or "最低" in text):
            dispatcher.utter_message(
                response="utter_faq/credit_card_repayment", **await phone_numbers()
            )
            return []
        if topic == "product" and context.get("product"):
            return redirect(tracker, "product_inquiry", {"product": context["product"]})
        if topic in ("branch", "queue") and context.get("branch"):
            if QUEUE_WORDS.search(text):
                return redirect(tracker, "branch_queue_status", {"branch": context["branch"]})
            if BRANCH_WORDS.search(text):
                return redirect(tracker, "find_branch", {"branch": context["branch"]})
        if topic == "fx" and FX_WORDS.search(text):
            wanted = fx_request(text)
            updated = {
                **context,
                "cash": context.get("cash") if wanted.cash is None else wanted.cash,
                "direction": wanted.direction or context.get("direction"),
            }
            return [
                SlotSet("context", updated),
                *redirect(
                    tracker,
                    "exchange_rate",
                    {"currency": context.get("currency"), "amount": context.get("amount")},
                ),
            ]
        if topic == "statement" and parse_time_range(text, date(2100, 1, 1)) is not None:
            # "11月呢": another period, the same merchant and kind.
            filters = {name: context.get(name) for name in STATEMENT_FILTERS}
            return redirect(tracker, "transaction_history", {**filters, "time_range": text})
        if topic in ("recommend", "products") and parse_term_days(text) is not None:
            return redirect(tracker, "recommend_product" if topic == "recommend" else "product_inquiry",
                            {"term": text})
        return None


class ActionGreet(Action):
    """Greets; a bound VIP is greeted as such, with the personal manager's contact."""

    def name(self) -> str:
        return "action_greet"

    async def run(self, dispatcher, tracker, domain) -> list[EventType]:
        token = tracker.get_slot("auth_token")
        if token and tracker.get_slot("vip"):
            try:
                profile = await services().accounts.get_profile(token)
            except (ServiceUnavailable, VerificationRequired):
                profile = None
            if profile is not None and profile.vip and profile.manager is not None:
                dispatcher.utter_message(
                    response="utter_greet_vip",
                    name=profile.name,
                    manager=profile.manager.name,
                    manager_title=profile.manager.title,
                    manager_phone=profile.manager.phone,
                )
                return []
        dispatcher.utter_message(response="utter_greet")
        return []


# Slots that describe one session only; everything else carries over.
SESSION_ONLY = (
    "offer_made", "offer_pending", "offer_code", "offer_next", "context", "last_payee",
    "urgent_reason", *TASK_SLOTS,
)


class ActionSessionStart(Action):
    """A new session keeps the binding but forgets tasks and this session's offer.

    A conversation a staff member has taken over stays paused (SessionStarted
    resets Rasa's tracker, which would let the bot answer again): only the
    console's hand-back resumes it.
    """

    def name(self) -> str:
        return "action_session_start"

    async def run(self, dispatcher, tracker, domain) -> list[EventType]:
        carried = [
            SlotSet(name, value)
            for name, value in tracker.current_slot_values().items()
            if name not in SESSION_ONLY and name != "requested_slot" and value is not None
        ]
        paused = [ConversationPaused()] if tracker.is_paused() else []
        return [SessionStarted(), *carried, *paused, ActionExecuted("action_listen")]


class ActionRestart(Action):
    """``/restart`` starts over like Rasa's own action, unless staff hold the conversation.

    Rasa handles a restart even in a paused conversation, and its Restarted event
    unpauses it: the bot would answer beside the staff member who took it over.
    There the request is only logged (staff see it in the transcript); the console's
    hand-back is what gives the conversation back to the bot.
    """

    def name(self) -> str:
        return "action_restart"

    async def run(self, dispatcher, tracker, domain) -> list[EventType]:
        if tracker.is_paused():
            return [FollowupAction("action_listen")]
        return [Restarted()]  # silent, as Rasa's is without an utter_restart response
