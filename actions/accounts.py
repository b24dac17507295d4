"""Balances, transaction history and transfers."""

from __future__ import annotations

import contextlib
import re
import uuid
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.base import (
    BankAction,
    TaskFormValidation,
    channel_of,
    context_of,
    is_payload,
    is_side_question,
    latest_entities,
    latest_intent,
    latest_text,
    redirect,
    request_text,
    services,
    set_context,
    skip_cleared,
    slot_str,
)
from actions.products import offer_events
from bot.formatting import card_label, format_cny, long_date, parse_amount, short_date
from bot.nlu.answers import (
    account_digits,
    after_correction,
    both_ways,
    card_type_named,
    confirmation,
    correction_end,
    firm_confirmation,
    is_follow_up,
    is_question,
    longest_digit_run,
    looks_like_amount,
    person_name,
    plausible_name,
    statement_kind,
    statement_refinement,
)
from bot.nlu.time_range import parse_time_range, period_label
from bot.services.errors import (
    BadRequest,
    InsufficientFunds,
    InvalidCardState,
    LimitExceeded,
    PayeeNotFound,
    ServiceUnavailable,
    VerificationRequired,
)

MAX_LINES = 10
TRANSFER_SLOTS = (
    "payee",
    "payee_name",
    "amount",
    "transfer_confirmed",
    "transfer_payee_display",
    "transfer_amount_display",
    "transfer_fee_display",
    "transfer_review",
    "transfer_key",
)


def utter_limit_exceeded(
    dispatcher: CollectingDispatcher, exc: LimitExceeded, amount: Any, channel: str
) -> None:
    """utter_limit_exceeded_<single|daily>_<web|wechat> with the bank's numbers."""
    kind = "daily" if exc.details.get("kind") == "daily" else "single"
    dispatcher.utter_message(
        response=f"utter_limit_exceeded_{kind}_{channel}",
        amount=format_cny(amount),
        limit=format_cny(exc.details.get("limit", "0")),
        remaining=format_cny(exc.details.get("remaining", "0")),
    )


def reset_transfer() -> list[EventType]:
    return [SlotSet(name, None) for name in TRANSFER_SLOTS]


class ActionCheckBalance(BankAction):
    intent = "check_balance"

    async def perform(self, dispatcher, tracker, domain, token) -> list[EventType]:
        accounts = await services().accounts.list_accounts(token)
        wanted = slot_str(tracker, "account_type")
        shown = [a for a in accounts if not wanted or a.account_type == wanted] or accounts
        if not shown:
            dispatcher.utter_message(response="utter_no_accounts")
        for account in shown:
            if account.account_type == "信用卡":
                dispatcher.utter_message(
                    response="utter_credit_line",
                    last4=account.last4,
                    available=format_cny(account.available),
                    balance=format_cny(account.balance),
                )
            else:
                dispatcher.utter_message(
                    response="utter_balance_line",
                    account_type=account.account_type,
                    last4=account.last4,
                    available=format_cny(account.available),
                )
        offer = await offer_events(dispatcher, tracker, token)
        return [SlotSet("account_type", None), set_context("balance"), *offer]


STATEMENT_FILTERS = ("time_range", "txn_kind", "merchant", "card_last4")
REPAYMENT = re.compile(r"还信用卡|还款|还了|还钱")
# "就这两笔? 一共多少": about the items just listed, so their filters stay.
ABOUT_SHOWN = re.compile(r"这(?:几|两|三|些)?笔|一共|总共|合计|加起来|总计")


def statement_filters(tracker: Tracker) -> dict[str, str | None]:
    """This request's filters; an elliptical follow-up ("那饿了么呢") keeps the ones of
    the previous statement it does not change."""
    filters = {name: slot_str(tracker, name) for name in STATEMENT_FILTERS}
    context = context_of(tracker)
    text = latest_text(tracker)
    if (
        context.get("topic") == "statement"
        and not is_payload(tracker)
        and (is_follow_up(text) or (len(text) <= 16 and ABOUT_SHOWN.search(text)))
    ):
        replaces_kind = filters["merchant"] or filters["txn_kind"]
        for name in STATEMENT_FILTERS:
            if filters[name] is None and not (replaces_kind and name in ("merchant", "txn_kind")):
                filters[name] = context.get(name)
    return filters


def narrowed_statement(tracker: Tracker) -> list[EventType] | None:
    """"就消费呢 不算转账还款那些" right after a statement: the same period, that kind
    (whatever intent the NLU gave it); None otherwise."""
    context = context_of(tracker)
    text = latest_text(tracker)
    if context.get("topic") != "statement" or is_payload(tracker) or not statement_refinement(text):
        return None
    filters = {name: context.get(name) for name in STATEMENT_FILTERS}
    filters.update(merchant=None, txn_kind=statement_kind(text))
    return redirect(tracker, "transaction_history", filters)


class ActionTransactionHistory(BankAction):
    """A statement by period, kind and merchant, dated by the bank's clock (Beijing
    time), with totals of what went out and came in."""

    intent = "transaction_history"
    sensitive = True

    async def perform(self, dispatcher, tracker, domain, token) -> list[EventType]:
        filters = statement_filters(tracker)
        phrase, merchant = filters["time_range"], filters["merchant"]
        kind_said = filters["txn_kind"]
        said = request_text(tracker, self.intent)
        # The words decide when they name both ways or a kind the entity missed
        # ("收入和支出各多少", "水电煤一共交了多少").
        if is_payload(tracker):
            kind = statement_kind(kind_said)
        elif both_ways(said):
            kind = None
        else:
            kind = statement_kind(said) or statement_kind(kind_said)
        filters["txn_kind"] = kind
        today = (await services().accounts.bank_now()).date()
        context = context_of(tracker)
        earlier = (
            parse_time_range(str(context["time_range"]), today)
            if context.get("topic") == "statement" and context.get("time_range") else None
        )
        period = parse_time_range(phrase, today, context=earlier) if phrase else None
        whole = None if is_payload(tracker) else parse_time_range(said, today, context=earlier)
        from_sentence = False
        if whole and (period is None or (whole != period and whole[0] <= period[0] and period[1] <= whole[1])):
            # The period is in the words even when the NLU missed it or cut it short
            # ("10月星巴克花了多少", "10月1号到7号" tagged as 10月1号).
            phrase, period, filters["time_range"] = said, whole, said
            from_sentence = True
        if not filters["card_last4"] and not is_payload(tracker):
            # "这个月信用卡刷了哪些": the statement of the card of that type.
            tagged = latest_entities(tracker, "account_type")
            wanted = card_type_named(said) or (str(tagged[0]) if tagged else None)
            # "上个月还信用卡还了多少": repayments go out of the savings card.
            if wanted and not (wanted == "信用卡" and REPAYMENT.search(said)):
                cards = await services().accounts.list_cards(token)
                of_type = [c for c in cards if c.card_type == wanted]
                if len(of_type) == 1:
                    filters["card_last4"] = of_type[0].last4
        statement = await services().accounts.statement(
            token,
            account_last4=filters["card_last4"],
            start=period[0] if period else None,
            end=period[1] if period else None,
            kind=kind,
            merchant=merchant,
            limit=MAX_LINES,
        )
        transactions, summary = statement.items, statement.summary
        spoken = re.sub(r"(?:的)?[呢吗？?。!！\s]+$", "", phrase or "")
        # The customer's words name the period only when they are just the period.
        when = spoken if spoken and len(spoken) <= 6 and not from_sentence else (
            period_label(period, today) if period else None
        )
        label = "".join(x for x in (when, f"在{merchant}" if merchant else None, kind) if x)
        # Without any filter the replies say "recent" in their own wording.
        suffix = "" if label else "_recent"
        if not transactions:
            dispatcher.utter_message(response=f"utter_no_transactions{suffix}", period=label)
        else:
            lines = "\n".join(
                f"{short_date(t.posted_at)} {t.merchant or t.counterparty or t.description} "
                f"{format_cny(t.amount)}"
                for t in transactions
            )
            dispatcher.utter_message(
                response=f"utter_transactions{suffix}",
                period=label,
                count=summary.count,
                lines=lines,
            )
            if summary.has_more:
                dispatcher.utter_message(response="utter_transactions_more", shown=len(transactions))
            totals = {"period": label or "以上", "spent": format_cny(summary.spending_total),
                      "income": format_cny(summary.income_total), "count": summary.count}
            if kind in ("收入",):
                dispatcher.utter_message(response="utter_transactions_income_total", **totals)
            elif kind in ("消费", "支出", "缴费") or (merchant and not summary.income_total):
                dispatcher.utter_message(response="utter_transactions_spent_total", **totals)
            else:
                dispatcher.utter_message(response="utter_transactions_total", **totals)
        if period:
            dispatcher.utter_message(
                response="utter_transactions_period", start=long_date(period[0]), end=long_date(period[1])
            )
        return [
            *(SlotSet(name, None) for name in STATEMENT_FILTERS),
            set_context("statement", **filters),
        ]


# "再给她转一千": the payee of the last transfer.
PRONOUN_PAYEE = re.compile(r"[他她]|ta|TA|同一个人|还是给|再给|再转", re.IGNORECASE)


class ActionTransferMoney(BankAction):
    """Starts a transfer: a fresh verification first, then transfer_form."""

    intent = "transfer_money"
    sensitive = True
    one_step = False

    async def run(self, dispatcher, tracker, domain) -> list[EventType]:
        if not latest_entities(tracker, "amount") and (narrowed := narrowed_statement(tracker)):
            return narrowed  # "转账的呢" right after a statement: its transfers
        return await super().run(dispatcher, tracker, domain)

    async def perform(self, dispatcher, tracker, domain, token) -> list[EventType]:
        # Keep a payee/amount the customer already named; start a new idempotency key.
        events: list[EventType] = [
            SlotSet("transfer_confirmed", None),
            SlotSet("transfer_key", uuid.uuid4().hex),
        ]
        text = request_text(tracker, self.intent)
        account = account_digits(text) or next(iter(latest_entities(tracker, "account_number")), None)
        corrected = after_correction(text)
        if corrected and not account:
            # "转五百给王芳 哦不对 是给李娜": the first payee named after the correction.
            payees = await services().accounts.list_payees(token)
            named = sorted((p for p in payees if p.name in corrected), key=lambda p: corrected.index(p.name))
            if named:
                events.append(SlotSet("payee", named[0].name))
        if account:
            events += [SlotSet("payee", str(account)), SlotSet("payee_name", _holder_name(tracker, text))]
        elif (
            not tracker.get_slot("payee")
            and tracker.get_slot("last_payee")
            and PRONOUN_PAYEE.search(text)
            and not is_payload(tracker)
        ):
            events.append(SlotSet("payee", tracker.get_slot("last_payee")))
        return events


def _holder_name(tracker: Tracker, text: str) -> str | None:
    """The account holder's name said with a new account number, if any."""
    named = [str(v) for v in latest_entities(tracker, "payee") if plausible_name(str(v))]
    return named[-1] if named else person_name(text)


class ActionAskPayee(Action):
    """Asks for the payee and offers the saved payees as buttons."""

    def name(self) -> str:
        return "action_ask_payee"

    async def run(self, dispatcher, tracker, domain) -> list[EventType]:
        buttons = await payee_buttons(tracker)
        dispatcher.utter_message(response="utter_ask_payee", buttons=buttons)
        return []


class ActionAskPayeeName(Action):
    """A new account number: asks for the holder's name (the bank checks it)."""

    def name(self) -> str:
        return "action_ask_payee_name"

    async def run(self, dispatcher, tracker, domain) -> list[EventType]:
        dispatcher.utter_message(
            response="utter_ask_payee_name", last4=str(tracker.get_slot("payee") or "")[-4:]
        )
        return []


async def payee_buttons(tracker: Tracker) -> list[dict[str, str]]:
    token = tracker.get_slot("auth_token")
    if not token:
        return []
    try:
        payees = await services().accounts.list_payees(token)
    except (ServiceUnavailable, VerificationRequired):
        return []
    return [
        {"title": card_label(p.name, p.last4), "payload": f'/inform{{"payee": "{p.name}"}}'}
        for p in payees
    ]


def _denied(name: str, text: str) -> bool:
    """"不是李娜 是小李": the name is mentioned to be ruled out."""
    return bool(re.search(rf"(?:不是|不给|别给|不要给|不转给){re.escape(name)}", text))


def _payee_before(tracker: Tracker) -> Any:
    """The payee as it was before the latest message (its slot may already hold the
    value being validated)."""
    seen_user = False
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            seen_user = True
        elif seen_user and event.get("event") == "slot" and event.get("name") == "payee":
            return event.get("value")
    return None


def _is_account(payee: Any) -> bool:
    return bool(payee) and str(payee).isdigit()


# A name corrected at the confirmation is said as one ("收款人是王五", "这笔是给王芳的").
NAME_CORRECTION = re.compile(r"收款人|户名|名字|叫|是给|转给|给的")


class ValidateTransferForm(TaskFormValidation):
    """Checks payee and amount against the bank (quote) before asking to confirm."""

    def name(self) -> str:
        return "validate_transfer_form"

    async def required_slots(self, domain_slots, dispatcher, tracker, domain) -> list[str]:
        payee_name = ["payee_name"] if _is_account(tracker.get_slot("payee")) else []
        return ["payee", *payee_name, "amount", "transfer_confirmed"]

    async def is_answer(self, slot: str, value: Any, tracker: Tracker) -> bool:
        text = str(value or "")
        if slot == "amount":
            return bool(latest_entities(tracker, "amount")) or (
                looks_like_amount(text) and not is_side_question(tracker)
            )
        if slot == "payee":
            if account_digits(text) or longest_digit_run(text) >= 8:
                return True
            if latest_entities(tracker, "payee") or is_payload(tracker):
                return True
            if is_side_question(tracker) or latest_intent(tracker) in ("affirm", "deny"):
                return False
            return person_name(text) is not None
        if slot == "transfer_confirmed":
            if is_question(latest_text(tracker)):
                return False  # "为啥要审核啊": answered, then the confirmation asked again
            if NAME_CORRECTION.search(text) and person_name(text):
                return True  # "收款人应该是王五": a correction, see validate_transfer_confirmed
            if latest_entities(tracker, "amount"):
                return True  # "那改成九千": a new amount, see validate_transfer_confirmed
            return isinstance(value, bool) or confirmation(text) is not None
        if slot == "payee_name":
            if latest_entities(tracker, "payee"):
                return True
            return not is_side_question(tracker) and person_name(text) is not None
        return True

    async def _quote(
        self,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        payee: str,
        amount: Any,
    ) -> dict[str, Any]:
        value = parse_amount(amount)
        if value is None:
            return {}
        if _is_account(payee) and not tracker.get_slot("payee_name"):
            return {}  # the holder's name is asked first
        try:
            quote = await services().accounts.quote_transfer(
                tracker.get_slot("auth_token"),
                payee=payee,
                amount=value,
                channel=channel_of(tracker),
                payee_name=tracker.get_slot("payee_name") if _is_account(payee) else None,
            )
        except LimitExceeded as exc:
            utter_limit_exceeded(dispatcher, exc, value, channel_of(tracker))
            return {"amount": None}
        except InsufficientFunds as exc:
            dispatcher.utter_message(
                response="utter_insufficient_funds",
                available=format_cny(exc.details.get("available", "0")),
            )
            return {"amount": None}
        except BadRequest as exc:
            if exc.details.get("reason") == "name_mismatch":
                dispatcher.utter_message(response="utter_payee_name_mismatch", last4=payee[-4:])
                return {"payee_name": None}
            dispatcher.utter_message(response="utter_invalid_amount")
            return {"amount": None}
        except InvalidCardState as exc:
            # The paying card is frozen or reported lost: end the form, nothing moves.
            state = "lost" if exc.details.get("state") == "lost" else "frozen"
            dispatcher.utter_message(response=f"utter_transfer_card_blocked_{state}")
            return {"requested_slot": None}
        if quote.new_payee and quote.review_threshold is not None:
            dispatcher.utter_message(
                response="utter_new_payee_rule", threshold=format_cny(quote.review_threshold)
            )
        return {
            "transfer_payee_display": card_label(quote.payee_name, quote.payee_last4),
            "transfer_amount_display": format_cny(quote.amount),
            "transfer_fee_display": format_cny(quote.fee),
            "transfer_review": quote.review,
        }

    async def _quote_if_ready(self, dispatcher, tracker, result: dict[str, Any]) -> dict[str, Any]:
        """Quotes once payee (with the holder's name for an account) and amount are known."""
        payee = result.get("payee", tracker.get_slot("payee"))
        amount = result.get("amount", tracker.get_slot("amount"))
        if payee and amount:
            with contextlib.suppress(PayeeNotFound):  # reported by validate_payee
                result.update(await self._quote(dispatcher, tracker, payee, amount))
        return result

    @skip_cleared
    async def validate_payee(self, slot_value, dispatcher, tracker, domain) -> dict[str, Any]:
        text = str(slot_value or "").strip()
        account = account_digits(text)
        if account:
            result: dict[str, Any] = {"payee": account}
            name = _holder_name(tracker, latest_text(tracker))
            if name and "payee_name" not in tracker.slots_to_validate():
                result["payee_name"] = name
            tracker.slots.update(result)
            if "amount" in tracker.slots_to_validate():
                return result  # validate_amount quotes
            return await self._quote_if_ready(dispatcher, tracker, result)
        run = longest_digit_run(text)
        if run >= 8:
            dispatcher.utter_message(response="utter_invalid_account_number", digits=run)
            return {"payee": None}
        payees = await services().accounts.list_payees(tracker.get_slot("auth_token"))
        said = latest_text(tracker)
        # "是给王芳 不是李娜": every name said is a candidate, the ruled-out one is not.
        candidates = [text, *(str(v) for v in latest_entities(tracker, "payee"))]
        corrected = after_correction(said)
        if corrected:
            # "转五百给王芳 哦不对 是给李娜": the first name after the correction wins.
            named = sorted((p for p in payees if p.name in corrected), key=lambda p: corrected.index(p.name))
            candidates = [p.name for p in named] + candidates
        match = next(
            (
                p
                for candidate in candidates
                for p in payees
                if (p.name == candidate or p.name in candidate) and not _denied(p.name, said)
            ),
            None,
        )
        if match is None and _is_account(earlier := _payee_before(tracker)):
            # "收款人不叫这个 他叫刘洋" once the account number is known: the holder's name
            # is corrected, the account stays.
            holder = person_name(text) or (text if re.fullmatch(r"[\u4e00-\u9fff·]{2,4}", text) else None)
            if holder:
                result = {"payee": earlier, "payee_name": holder}
                tracker.slots.update(result)
                return await self._quote_if_ready(dispatcher, tracker, result)
        if match is None:
            name = person_name(text)
            dispatcher.utter_message(
                response="utter_payee_not_found",
                payee=name or text[:20],
                buttons=await payee_buttons(tracker),
            )
            # "给新同事周杰转2500": the holder's name of the account number asked next.
            return {"payee": None, "payee_name": name or tracker.get_slot("payee_name")}
        result = {"payee": match.name, "payee_name": None}
        tracker.slots.update(result)
        if "amount" in tracker.slots_to_validate():
            return result
        return await self._quote_if_ready(dispatcher, tracker, result)

    @skip_cleared
    async def validate_payee_name(self, slot_value, dispatcher, tracker, domain) -> dict[str, Any]:
        if not _is_account(tracker.get_slot("payee")):
            return {"payee_name": None}
        named = [str(v) for v in latest_entities(tracker, "payee") if plausible_name(str(v))]
        name = named[-1] if named else person_name(str(slot_value))
        if not name:
            dispatcher.utter_message(response="utter_ask_payee_name", last4=str(tracker.get_slot("payee"))[-4:])
            return {"payee_name": None}
        result: dict[str, Any] = {"payee_name": name}
        tracker.slots.update(result)
        if "amount" in tracker.slots_to_validate():
            return result
        return await self._quote_if_ready(dispatcher, tracker, result)

    @skip_cleared
    async def validate_amount(self, slot_value, dispatcher, tracker, domain) -> dict[str, Any]:
        # The first amount said: "是500 多打了个0", "先转五万 剩下一万明天再转".
        entities = [
            e for e in tracker.latest_message.get("entities") or [] if e.get("entity") == "amount"
        ]
        corrected = correction_end(latest_text(tracker))
        if corrected is not None and any((e.get("start") or 0) >= corrected for e in entities):
            # "转五百 哦不对 六百": the amount after the correction.
            entities = [e for e in entities if (e.get("start") or 0) >= corrected]
        said = [parse_amount(e.get("value")) for e in entities]
        said = [a for a in said if a is not None]
        value = said[0] if said else parse_amount(slot_value)
        if value is None:
            dispatcher.utter_message(response="utter_invalid_amount")
            return {"amount": None}
        result: dict[str, Any] = {"amount": str(value)}
        if tracker.get_slot("requested_slot") == "payee" and not tracker.get_slot("payee"):
            # "两万" at the payee prompt: keep the amount, ask for the payee again.
            dispatcher.utter_message(response="utter_amount_noted", amount=format_cny(value))
        tracker.slots.update(result)
        return await self._quote_if_ready(dispatcher, tracker, result)

    @skip_cleared
    async def validate_transfer_confirmed(
        self, slot_value, dispatcher, tracker, domain
    ) -> dict[str, Any]:
        changed = tracker.slots_to_validate()
        if "amount" in changed or "payee" in changed or "payee_name" in changed:
            # A correction ("不对，是五千") re-asks with the new details.
            return {"transfer_confirmed": None}
        text = latest_text(tracker)
        if slot_value is True and (is_payload(tracker) or firm_confirmation(text)):
            return {"transfer_confirmed": True}
        if latest_entities(tracker, "amount") and confirmation(text) is not True:
            # "那改成九千 免得审核": the amount corrected, the confirmation asked again.
            first = str(latest_entities(tracker, "amount")[0])
            result = await self.validate_amount(first, dispatcher, tracker, domain)
            return {**result, "transfer_confirmed": None}
        said = False if slot_value is False else (
            True if slot_value is True else confirmation(str(slot_value))
        )
        if said is True and not is_payload(tracker) and not firm_confirmation(text):
            # Money moves on a yes that commits, never on "哦 那就行".
            dispatcher.utter_message(response="utter_explain_transfer_confirmed")
            return {"transfer_confirmed": None}
        name = person_name(text) if said is not True and NAME_CORRECTION.search(text) else None
        payee = tracker.get_slot("payee")
        if name and name not in (payee, tracker.get_slot("payee_name")):
            # "不对 收款人是王五": the payee (or the account holder's name) corrected, the
            # confirmation asked again with it; nothing is cancelled.
            if _is_account(payee):
                result = await self.validate_payee_name(name, dispatcher, tracker, domain)
            else:
                result = await self.validate_payee(name, dispatcher, tracker, domain)
            return {**result, "transfer_confirmed": None}
        return {"transfer_confirmed": said}


class ActionExecuteTransfer(Action):
    """Runs the confirmed transfer once, with the form's idempotency key."""

    def name(self) -> str:
        return "action_execute_transfer"

    async def run(self, dispatcher, tracker, domain) -> list[EventType]:
        if not tracker.get_slot("transfer_confirmed"):
            dispatcher.utter_message(response="utter_transfer_cancelled")
            return reset_transfer()
        amount = parse_amount(tracker.get_slot("amount"))
        if amount is None or not tracker.get_slot("payee"):
            dispatcher.utter_message(response="utter_transfer_cancelled")
            return reset_transfer()
        key = tracker.get_slot("transfer_key") or uuid.uuid4().hex
        payee = str(tracker.get_slot("payee"))
        try:
            transfer = await services().accounts.create_transfer(
                tracker.get_slot("auth_token"),
                payee=payee,
                amount=amount,
                channel=channel_of(tracker),
                idempotency_key=key,
                payee_name=tracker.get_slot("payee_name") if _is_account(payee) else None,
            )
        except VerificationRequired:
            dispatcher.utter_message(response="utter_verification_expired")
            return reset_transfer()
        except LimitExceeded as exc:
            utter_limit_exceeded(dispatcher, exc, amount, channel_of(tracker))
            return reset_transfer()
        except InvalidCardState as exc:
            state = "lost" if exc.details.get("state") == "lost" else "frozen"
            dispatcher.utter_message(response=f"utter_transfer_card_blocked_{state}")
            return reset_transfer()
        except InsufficientFunds as exc:
            dispatcher.utter_message(
                response="utter_insufficient_funds",
                available=format_cny(exc.details.get("available", "0")),
            )
            return reset_transfer()
        except ServiceUnavailable:
            dispatcher.utter_message(response="utter_service_unavailable")
            return reset_transfer()
        held = transfer.status == "held_for_review"
        remembered = [SlotSet("last_payee", payee), set_context(
            "transfer", payee=payee, amount=str(transfer.amount), held=held or None
        )]
        if held:
            dispatcher.utter_message(response="utter_transfer_held", transfer_id=transfer.transfer_id)
        else:
            dispatcher.utter_message(
                response="utter_transfer_done",
                payee=card_label(transfer.payee_name, transfer.payee_last4),
                amount=format_cny(transfer.amount),
                from_last4=transfer.from_last4,
                balance=format_cny(transfer.balance_after),
                transfer_id=transfer.transfer_id,
            )
        return [*reset_transfer(), *remembered]
