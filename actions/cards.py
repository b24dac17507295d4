"""Card loss report, temporary freeze and unfreeze, and the credit card bill."""

from __future__ import annotations

import re
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.base import (
    BankAction,
    TaskFormValidation,
    bank_time,
    context_of,
    is_payload,
    is_side_question,
    is_step_up_fresh,
    latest_entities,
    latest_intent,
    latest_text,
    offer,
    phone_numbers,
    request_text,
    restate,
    services,
    set_context,
    skip_cleared,
    slot_str,
)
from bot.formatting import card_label, format_cny, long_date
from bot.nlu.answers import (
    FREEZE,
    LOST,
    UNFREEZE,
    card_effect_question,
    card_request,
    card_type_named,
    confirmation,
    firm_confirmation,
    is_question,
    looks_like_card,
    spelled_digits,
)
from bot.services.errors import (
    CardNotFound,
    InvalidCardState,
    NotFound,
    ServiceUnavailable,
    VerificationRequired,
)
from bot.services.types import Card

# Which card states each operation can start from (the bank enforces the same).
ELIGIBLE_STATES = {
    "report_card_lost": {"active", "frozen"},
    "freeze_card": {"active"},
    "unfreeze_card": {"frozen"},
    None: {"active", "frozen"},  # freeze or loss report, not decided yet
}
OPERATION_NAMES = {FREEZE: "临时冻结", LOST: "挂失", UNFREEZE: "解冻"}
# "两张都冻了", "储蓄卡和信用卡都…": every card, one after the other.
EVERY_CARD = re.compile(r"两张|都冻|都挂|都解|全部|所有的卡|(?:储蓄卡|借记卡).{0,3}(?:和|跟|还有).{0,3}信用卡|信用卡.{0,3}(?:和|跟|还有).{0,3}(?:储蓄卡|借记卡)")
CARD_SLOTS = ("card_last4", "card_confirmed", "card_display", "card_operation", "account_type")


def card_buttons(cards: list[Card]) -> list[dict[str, str]]:
    return [
        {
            "title": card_label(card.card_type, card.last4),
            "payload": f'/inform{{"card_last4": "{card.last4}"}}',
        }
        for card in cards
    ]


def current_operation(tracker: Tracker) -> str | None:
    """The form's operation; this turn's raw answer ("先冻起来吧") read as one."""
    value = tracker.get_slot("card_operation")
    if value in OPERATION_NAMES or value is None:
        return value
    return card_request(str(value)).last


async def eligible_cards(tracker: Tracker, operation: str | None) -> list[Card]:
    cards = await services().accounts.list_cards(tracker.get_slot("auth_token"))
    return [c for c in cards if c.state in ELIGIBLE_STATES[operation]]


async def explain_state(
    dispatcher: CollectingDispatcher,
    tracker: Tracker,
    operation: str | None,
    last4: str | None = None,
    card_type: str | None = None,
) -> bool:
    """A card the customer named that exists but cannot take ``operation`` (储蓄卡
    already frozen): says its state, never "not found". False when there is no such card."""
    cards = await services().accounts.list_cards(tracker.get_slot("auth_token"))
    named = [
        c for c in cards
        if (last4 and c.last4 == last4) or (not last4 and card_type and c.card_type == card_type)
    ]
    if len(named) != 1 or named[0].state in ELIGIBLE_STATES[operation]:
        return False
    card = named[0]
    display = card_label(card.card_type, card.last4)
    if card.state == "lost":
        dispatcher.utter_message(response="utter_card_already_lost", card_display=display)
    elif card.state == "frozen":
        dispatcher.utter_message(response="utter_card_already_frozen", card_display=display)
    else:
        dispatcher.utter_message(response="utter_card_state_conflict_active", card_display=display)
    return True


def requested_operation(tracker: Tracker, intent: str) -> str | None:
    """The operation the latest message asks for; None when it could mean a freeze or
    a permanent loss report (the form then asks). A button names it outright."""
    named = [str(v) for v in latest_entities(tracker, "card_operation") if v in OPERATION_NAMES]
    if named:
        return named[-1]
    text = request_text(tracker, intent)
    if text.startswith("/"):
        return intent
    request = card_request(text)
    in_card_form = (tracker.active_loop or {}).get("name") == "card_form"
    if in_card_form and request.last in (FREEZE, UNFREEZE):
        return request.last  # a change of mind towards the reversible operation
    if request.operation is not None or request.last is not None or request.loss_event:
        return request.operation
    # No operation word at all: a reversible request is taken at its word, a
    # permanent loss report never is.
    return None if intent == LOST else intent


class CardRequestAction(BankAction):
    """Starts card_form for one card operation (a fresh verification first)."""

    sensitive = True
    one_step = False

    async def run(self, dispatcher, tracker, domain) -> list[EventType]:
        # A stolen card: the police advice and a person on offer come before anything
        # else, verification included.
        resuming = tracker.get_slot("pending_request") == self.intent
        stolen = card_request(latest_text(tracker)).stolen
        if not resuming and not is_step_up_fresh(tracker, await bank_time()) and stolen:
            dispatcher.utter_message(response="utter_stolen_card_advice")
        events = await super().run(dispatcher, tracker, domain)
        # A person asked for later, however it is asked, is put first in the queue.
        return [SlotSet("urgent_reason", "stolen_card"), *events] if stolen else events

    async def perform(self, dispatcher, tracker, domain, token) -> list[EventType]:
        operation = requested_operation(tracker, self.intent)
        previous = tracker.get_slot("card_operation")
        in_card_form = (tracker.active_loop or {}).get("name") == "card_form"
        if in_card_form and previous and operation and operation != previous:
            # "还是先冻结吧": a change of mind, said back so the customer sees it.
            dispatcher.utter_message(
                response="utter_card_operation_switched", operation=OPERATION_NAMES[operation]
            )
        cards = await eligible_cards(tracker, operation)
        if not cards:
            dispatcher.utter_message(response=f"utter_no_card_for_{operation or LOST}")
            return [*(SlotSet(s, None) for s in CARD_SLOTS), FollowupAction("action_listen")]
        said = request_text(tracker, self.intent)
        stolen = card_request(said).stolen
        every_card = bool(EVERY_CARD.search(said))
        events: list[EventType] = [
            SlotSet("card_operation", operation),
            SlotSet("card_confirmed", None),
            set_context("card", operation=operation, stolen=stolen, every_card=every_card),
        ]
        wanted_last4 = slot_str(tracker, "card_last4")
        # The words first: "是储蓄卡 不是信用卡" tags both types.
        wanted_type = card_type_named(request_text(tracker, self.intent)) or slot_str(
            tracker, "account_type"
        )
        chosen = [c for c in cards if c.last4 == wanted_last4] if wanted_last4 else []
        if not chosen and wanted_type:
            chosen = [c for c in cards if c.card_type == wanted_type]
        if not chosen and (wanted_last4 or wanted_type) and await explain_state(
            dispatcher, tracker, operation, wanted_last4, wanted_type
        ):
            # "储蓄卡先冻结" when it already is: its state, not another card.
            return [*(SlotSet(s, None) for s in CARD_SLOTS), FollowupAction("action_listen")]
        if not chosen and not wanted_last4 and (len(cards) == 1 or every_card):
            chosen = cards[:1]  # "两张卡都冻上": one after the other, the first now
        if len(chosen) == 1:
            card = chosen[0]
            events += [
                SlotSet("card_last4", card.last4),
                SlotSet("card_display", card_label(card.card_type, card.last4)),
            ]
        else:
            events += [SlotSet("card_last4", None), SlotSet("card_display", None)]
        return events


class ActionReportCardLost(CardRequestAction):
    intent = "report_card_lost"


class ActionFreezeCard(CardRequestAction):
    intent = "freeze_card"


class ActionUnfreezeCard(CardRequestAction):
    intent = "unfreeze_card"


class ActionAskCardOperation(Action):
    """Freeze or loss report? Freeze first; a theft also gets the police advice."""

    def name(self) -> str:
        return "action_ask_card_operation"

    async def run(self, dispatcher, tracker, domain) -> list[EventType]:
        stolen = bool(context_of(tracker).get("stolen"))
        dispatcher.utter_message(
            response="utter_ask_card_operation_stolen" if stolen else "utter_ask_card_operation"
        )
        return []


class ActionAskCardLast4(Action):
    def name(self) -> str:
        return "action_ask_card_last4"

    async def run(self, dispatcher, tracker, domain) -> list[EventType]:
        operation = current_operation(tracker)
        try:
            cards = await eligible_cards(tracker, operation)
        except (ServiceUnavailable, VerificationRequired):
            cards = []
        dispatcher.utter_message(response="utter_ask_card_last4", buttons=card_buttons(cards))
        return []


def _other_card_type(tracker: Tracker) -> str | None:
    """A card type named at the confirmation that is not the card being confirmed."""
    named = card_type_named(latest_text(tracker))
    display = str(tracker.get_slot("card_display") or "")
    return named if named and display and named not in display else None


class ValidateCardForm(TaskFormValidation):
    def name(self) -> str:
        return "validate_card_form"

    async def is_answer(self, slot: str, value: Any, tracker: Tracker) -> bool:
        text = str(value or "")
        if slot == "card_operation":
            if is_payload(tracker):
                return True
            if card_effect_question(latest_text(tracker)) or is_question(latest_text(tracker)):
                # "挂了以后卡里的钱还在不在": answered, never taken as choosing 挂失.
                return False
            if value in OPERATION_NAMES or latest_entities(tracker, "card_operation"):
                return True
            if latest_intent(tracker) in ("dispute_charge", "report_fraud"):
                return False  # another request: its own rule takes over
            request = card_request(text)
            return request.last is not None and not is_side_question(tracker)
        if slot == "card_confirmed":
            if _other_card_type(tracker):
                return True  # "是储蓄卡啊 不是信用卡": another card, see validate_card_confirmed
            named = card_request(latest_text(tracker)).last
            if named is not None and named != tracker.get_slot("card_operation"):
                # "好吧 那就冻结吧" at the loss report's confirmation: a change of mind
                # (validate_card_confirmed switches), never a yes to the permanent one.
                return True
            if is_question(latest_text(tracker)):
                return False  # "挂失了钱会不会没了": answered, then asked again
            return isinstance(value, bool) or confirmation(text) is not None
        if slot == "card_last4":
            if card_effect_question(latest_text(tracker)):
                return False  # "信用卡冻结了账单还要还吗": answered, then the card asked again
            if latest_entities(tracker, "card_last4") or latest_entities(tracker, "account_type"):
                return True
            if EVERY_CARD.search(latest_text(tracker)) and not is_question(latest_text(tracker)):
                return True
            return looks_like_card(text) and not is_side_question(tracker)
        return True

    @skip_cleared
    async def validate_card_operation(
        self, slot_value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        operation = slot_value if slot_value in OPERATION_NAMES else card_request(str(slot_value)).last
        if operation is None:
            dispatcher.utter_message(response="utter_explain_card_operation")
            return {"card_operation": None}
        result: dict[str, Any] = {"card_operation": operation, "card_confirmed": None}
        eligible = await eligible_cards(tracker, operation)
        chosen = slot_str(tracker, "card_last4")
        if chosen and chosen not in {c.last4 for c in eligible}:
            result.update(card_last4=None, card_display=None)
            chosen = None
        named = card_type_named(latest_text(tracker))
        of_type = [c for c in eligible if c.card_type == named] if named and not chosen else []
        if len(of_type) == 1:
            # "还是直接挂失吧 是储蓄卡": the card said with the choice.
            card = of_type[0]
            result.update(card_last4=card.last4, card_display=card_label(card.card_type, card.last4))
        return result

    @skip_cleared
    async def validate_card_last4(
        self, slot_value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        text = str(slot_value or "")
        # "尾号伍陆柒捌", "幺二三四": digits said in words count as digits.
        digits = "".join(ch for ch in spelled_digits(text) if ch.isdigit())[-4:]
        operation = current_operation(tracker)
        cards = await eligible_cards(tracker, operation)
        card = next((c for c in cards if c.last4 == digits), None) if digits else None
        if card is None and cards and EVERY_CARD.search(latest_text(tracker)):
            # "两张都冻": one card after the other, the first one now.
            card = cards[0]
            return {
                "card_last4": card.last4,
                "card_display": card_label(card.card_type, card.last4),
                "context": {**context_of(tracker), "every_card": True},
            }
        if card is None and not digits:
            named = card_type_named(latest_text(tracker)) or slot_str(tracker, "account_type")
            of_type = [c for c in cards if c.card_type == named] if named else []
            card = of_type[0] if len(of_type) == 1 else None
        if card is None and await explain_state(
            dispatcher, tracker, operation, digits or None,
            None if digits else (card_type_named(latest_text(tracker)) or slot_str(tracker, "account_type")),
        ):
            # "是尾号1234那张" when it is already frozen: its state, then the choice again.
            return {"card_last4": None}
        if card is None:
            dispatcher.utter_message(
                response="utter_card_not_found",
                card_last4=digits or "",
                buttons=card_buttons(cards),
            )
            return {"card_last4": None}
        return {"card_last4": card.last4, "card_display": card_label(card.card_type, card.last4)}

    @skip_cleared
    async def validate_card_confirmed(
        self, slot_value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        changed = tracker.slots_to_validate()
        if "card_last4" in changed or "card_operation" in changed:
            return {"card_confirmed": None}
        operation = tracker.get_slot("card_operation")
        other_type = _other_card_type(tracker)
        if other_type:
            # The card at the confirmation is not the one meant: that one, if it can.
            of_type = [c for c in await eligible_cards(tracker, operation) if c.card_type == other_type]
            if len(of_type) == 1:
                card = of_type[0]
                return {
                    "card_last4": card.last4,
                    "card_display": card_label(card.card_type, card.last4),
                    "card_confirmed": None,
                }
            if not await explain_state(dispatcher, tracker, operation, card_type=other_type):
                dispatcher.utter_message(response=f"utter_no_card_for_{operation or LOST}")
            return {"card_confirmed": False}  # nothing done to the card on screen
        named = card_request(latest_text(tracker)).last
        if named is not None and named != operation:
            return await self._switch(named, dispatcher, tracker)
        if (
            operation == LOST
            and (slot_value is True or confirmation(str(slot_value)) is True)
            and not is_payload(tracker)
            and not firm_confirmation(latest_text(tracker))
        ):
            # "哦 钱还在就行": a permanent loss report needs a yes that commits.
            dispatcher.utter_message(response="utter_explain_card_confirmed")
            return {"card_confirmed": None}
        if isinstance(slot_value, bool):
            return {"card_confirmed": slot_value}
        if EVERY_CARD.search(latest_text(tracker)) and confirmation(str(slot_value)) is not False:
            # "两张都冻上": yes to this card, and the other one next.
            return {"card_confirmed": True, "context": {**context_of(tracker), "every_card": True}}
        return {"card_confirmed": confirmation(str(slot_value))}

    async def _switch(
        self, operation: str, dispatcher: CollectingDispatcher, tracker: Tracker
    ) -> dict[str, Any]:
        """Another operation named at the confirmation: ask to confirm that one."""
        eligible = {c.last4 for c in await eligible_cards(tracker, operation)}
        if tracker.get_slot("card_last4") not in eligible:
            # The card cannot take the other operation ("不挂了" at a frozen card's loss
            # report): its state, and nothing is done; the loss is never asked again.
            if not await explain_state(
                dispatcher, tracker, operation, last4=tracker.get_slot("card_last4")
            ):
                dispatcher.utter_message(response=f"utter_no_card_for_{operation}")
            return {"card_confirmed": False}
        dispatcher.utter_message(
            response="utter_card_operation_switched", operation=OPERATION_NAMES[operation]
        )
        return {"card_operation": operation, "card_confirmed": None}


class ActionAskCardConfirmed(Action):
    """Asks to confirm with the wording of the operation (loss is permanent)."""

    def name(self) -> str:
        return "action_ask_card_confirmed"

    async def run(self, dispatcher, tracker, domain) -> list[EventType]:
        operation = tracker.get_slot("card_operation") or LOST
        dispatcher.utter_message(
            response=f"utter_ask_card_confirmed_{operation}",
            card_display=tracker.get_slot("card_display"),
        )
        return []


class ActionSubmitCardRequest(Action):
    def name(self) -> str:
        return "action_submit_card_request"

    async def run(self, dispatcher, tracker, domain) -> list[EventType]:
        reset = [SlotSet(s, None) for s in CARD_SLOTS]
        display = tracker.get_slot("card_display")
        operation = tracker.get_slot("card_operation")
        if not tracker.get_slot("card_confirmed") or operation not in OPERATION_NAMES:
            dispatcher.utter_message(response="utter_card_request_cancelled")
            return reset
        accounts = services().accounts
        calls = {
            LOST: (accounts.report_card_lost, "utter_card_reported_lost"),
            FREEZE: (accounts.freeze_card, "utter_card_frozen"),
            UNFREEZE: (accounts.unfreeze_card, "utter_card_unfrozen"),
        }
        call, response = calls[operation]
        try:
            await call(tracker.get_slot("auth_token"), tracker.get_slot("card_last4"))
        except InvalidCardState as exc:
            state = str(exc.details.get("state", ""))
            if state == "lost":
                dispatcher.utter_message(response="utter_card_already_lost", card_display=display)
            else:
                dispatcher.utter_message(
                    response=f"utter_card_state_conflict_{'frozen' if state == 'frozen' else 'active'}",
                    card_display=display,
                )
            return reset
        except CardNotFound:
            dispatcher.utter_message(
                response="utter_card_not_found", card_last4=tracker.get_slot("card_last4")
            )
            return reset
        except VerificationRequired:
            dispatcher.utter_message(response="utter_verification_expired")
            return reset
        except ServiceUnavailable:
            dispatcher.utter_message(response="utter_service_unavailable")
            return reset
        dispatcher.utter_message(response=response, card_display=display)
        events = [*reset, set_context("card", operation=operation)]
        if context_of(tracker).get("every_card"):
            # "两张都冻了": the next card of the same operation is offered right away.
            others = [
                c for c in await eligible_cards(tracker, operation)
                if c.last4 != tracker.get_slot("card_last4")
            ]
            if others:
                card = others[0]
                dispatcher.utter_message(
                    response="utter_card_next",
                    operation=OPERATION_NAMES[operation],
                    card_display=card_label(card.card_type, card.last4),
                )
                events.append(offer(operation, card_last4=card.last4))
        return events


# Words asking for the items of a period rather than the current bill.
PAST_ITEMS = re.compile(
    r"明细|流水|记录|每一笔|哪几笔|哪些|(?:还|花|刷|消费|用)了(?:多少|什么|啥|哪些)"
)


class ActionCreditCardBill(BankAction):
    intent = "credit_card_bill"

    async def perform(self, dispatcher, tracker, domain, token) -> list[EventType]:
        said = request_text(tracker, self.intent)
        if not is_payload(tracker) and PAST_ITEMS.search(said):
            # "10月份的账单明细", "上个月信用卡还了多少": the items of a period, not this bill.
            return restate(tracker, "transaction_history", said)
        try:
            bill = await services().accounts.credit_card_bill(
                token, slot_str(tracker, "card_last4")
            )
        except NotFound:
            dispatcher.utter_message(response="utter_no_credit_card")
            return [SlotSet("card_last4", None)]
        dispatcher.utter_message(
            response="utter_credit_card_bill",
            last4=bill.card_last4,
            statement_balance=format_cny(bill.statement_balance),
            minimum_payment=format_cny(bill.minimum_payment),
            due_date=long_date(bill.due_date),
            credit_limit=format_cny(bill.credit_limit),
            available_credit=format_cny(bill.available_credit),
        )
        return [SlotSet("card_last4", None), set_context("bill")]


class ActionLostPhone(Action):
    """A lost or stolen phone: what to do for mobile banking, the freeze offered."""

    def name(self) -> str:
        return "action_lost_phone"

    async def run(self, dispatcher, tracker, domain) -> list[EventType]:
        numbers = await phone_numbers()
        dispatcher.utter_message(
            response="utter_lost_phone",
            hotline=numbers.get("hotline", ""),
            hotline_hours=numbers.get("hotline_hours", ""),
        )
        return [offer("freeze_card")]


class ActionCardRetained(Action):
    """A card kept by an ATM: where to collect it, the card-loss line, a freeze offered."""

    def name(self) -> str:
        return "action_card_retained"

    async def run(self, dispatcher, tracker, domain) -> list[EventType]:
        numbers = await phone_numbers()
        dispatcher.utter_message(
            response="utter_card_retained",
            hotline=numbers.get("card_loss_hotline", ""),
            hotline_hours=numbers.get("card_loss_hotline_hours", ""),
        )
        return [offer("freeze_card")]
