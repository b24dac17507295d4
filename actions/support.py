"""Hand-over to a person, complaints and disputes with their tickets, fraud help, the
bank's phone numbers, the press office, FAQ answers and the relationship manager."""

from __future__ import annotations

import json
import re
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.accounts import TRANSFER_SLOTS, narrowed_statement
from actions.base import (
    AnswerAction,
    BankAction,
    TaskFormValidation,
    channel_of,
    context_of,
    is_side_question,
    latest_entities,
    latest_intent,
    latest_text,
    offer,
    phone_numbers,
    services,
    set_context,
)
from bot.formatting import day_and_time, format_cny, long_date
from bot.nlu.answers import (
    TICKET_ID,
    card_effect_question,
    is_question,
)
from bot.services.errors import NotFound, ServiceError, ServiceUnavailable
from bot.services.types import SupportTicket

# "还追得回来吗", "能帮我拦下来吗": about getting the money back.
RECOVER_MONEY = re.compile(r"追回|追得回|追不回|拦下|拦截|拦住|要回来|拿回来|退回来|能回来|找回|止付|撤回")
# Urgent reasons the staff console shows first (the slot urgent_reason carries them).
URGENT_REASONS = ("fraud", "stolen_card", "disputed_transfer")
# "转错账了", "打错卡号": a transfer to the wrong account rather than a scam.
WRONG_TRANSFER = re.compile(r"转错|打错|汇错|输错|填错|写错|转给了别人|错转")


def _summary(tracker: Tracker) -> str:
    previous = [
        e.get("parse_data", {}).get("intent", {}).get("name")
        for e in tracker.events
        if e.get("event") == "user"
    ]
    return json.dumps(
        {
            "intents": [name for name in previous[-5:] if name],
            "pending_request": tracker.get_slot("pending_request"),
            "active_loop": (tracker.active_loop or {}).get("name"),
            "bound": bool(tracker.get_slot("customer_id")),
        },
        ensure_ascii=False,
    )


class ActionHumanHandoff(Action):
    """Puts the conversation in the staff queue (one open hand-off per conversation),
    urgent when ``urgent_reason`` says so, and tells the customer the hours and wait."""

    def name(self) -> str:
        return "action_human_handoff"

    async def run(self, dispatcher: CollectingDispatcher, tracker, domain) -> list[EventType]:
        reason = tracker.get_slot("urgent_reason")
        reason = reason if reason in URGENT_REASONS else None
        complaint: list[EventType] = []
        text = latest_text(tracker)
        if COMPLAINT_WORDS.search(text) and _substantive(HANDOFF_WORDS.sub("", text)):
            # "排了一个半小时 我要投诉 顺便给我转人工": the complaint is recorded too.
            complaint = await ActionSubmitComplaint().record(dispatcher, tracker, text)
        try:
            ticket = await services().support.create_ticket(
                "handoff",
                channel_of(tracker),
                tracker.sender_id,
                text=latest_text(tracker),
                summary=_summary(tracker),
                priority="urgent" if reason else "normal",
                reason=reason,
            )
        except ServiceUnavailable:
            dispatcher.utter_message(response="utter_service_unavailable")
            return []
        values = {
            "ticket_id": ticket.ticket_id,
            "position": ticket.position or 0,
            "wait": ticket.expected_wait_minutes or 1,
            "hours": ticket.hours or "",
        }
        if ticket.within_hours is False:
            numbers = await phone_numbers()
            dispatcher.utter_message(
                response="utter_handoff_after_hours",
                next_open=day_and_time(ticket.next_open),
                hotline=numbers.get("card_loss_hotline", ""),
                **values,
            )
        elif ticket.existing and not reason:
            dispatcher.utter_message(response="utter_handoff_existing", **values)
        elif reason:
            dispatcher.utter_message(response="utter_handoff_recorded_urgent", **values)
        else:
            dispatcher.utter_message(response="utter_handoff_recorded", **values)
        return [*complaint, SlotSet("handoff_ticket_id", ticket.ticket_id), SlotSet("offer_next", None)]


COMPLAINT_WORDS = re.compile(r"投诉|举报")
HANDOFF_WORDS = re.compile(r"顺便|然后|再|并且|给我|帮我|转人工|人工客服|人工|客服|找个人|真人")


class ActionFraudHelp(Action):
    """A fraud victim (or a transfer to the wrong account): the police and 96110 advice
    and a freeze offer now; the hand-off that follows is urgent."""

    def name(self) -> str:
        return "action_fraud_help"

    async def run(self, dispatcher, tracker, domain) -> list[EventType]:
        wrong_transfer = bool(WRONG_TRANSFER.search(latest_text(tracker)))
        numbers = await phone_numbers()
        if context_of(tracker).get("topic") == "fraud" and RECOVER_MONEY.search(latest_text(tracker)):
            # The advice was just given: "还追得回来吗" gets what can be done, not it again.
            dispatcher.utter_message(
                response="utter_fraud_recovery", hotline=numbers.get("card_loss_hotline", "")
            )
            return []
        dispatcher.utter_message(
            response="utter_disputed_transfer_help" if wrong_transfer else "utter_fraud_help",
            hotline=numbers.get("card_loss_hotline", ""),
        )
        reason = "disputed_transfer" if wrong_transfer else "fraud"
        # A transfer or card task under way stops here: nothing moves on a scammer's cue.
        stopped = [SlotSet(name, None) for name in (*TRANSFER_SLOTS, "card_confirmed", "pending_request")]
        return [
            *stopped, SlotSet("urgent_reason", reason), offer("freeze_card"), set_context("fraud")
        ]


async def _latest_open(tracker: Tracker, kind: str) -> SupportTicket | None:
    """The conversation's open ticket of ``kind`` created in this session, if any."""
    ticket_id = tracker.get_slot("complaint_ticket_id") if kind == "complaint" else None
    tickets = await services().support.list_tickets(
        tracker.sender_id, channel=channel_of(tracker), kind=kind
    )
    open_tickets = [t for t in tickets if t.status != "closed"]
    if ticket_id:
        return next((t for t in open_tickets if t.ticket_id == ticket_id), None)
    return None


class ActionDisputeCharge(Action):
    """A duplicate or unrecognised charge: registered as a dispute with a reply date;
    what the customer adds later goes to the same ticket."""

    def name(self) -> str:
        return "action_dispute_charge"

    async def run(self, dispatcher, tracker, domain) -> list[EventType]:
        support = services().support
        text = latest_text(tracker)
        try:
            previous = tracker.get_slot("dispute_ticket_id")
            if previous:
                try:
                    ticket = await support.add_ticket_details(
                        previous, channel_of(tracker), tracker.sender_id, text
                    )
                except ServiceError:
                    previous = None
                else:
                    dispatcher.utter_message(
                        response="utter_details_added",
                        ticket_id=ticket.ticket_id,
                        reply_due=long_date(ticket.reply_due) if ticket.reply_due else "",
                    )
                    return []
            ticket = await support.create_ticket(
                "dispute", channel_of(tracker), tracker.sender_id, text=text, summary=_summary(tracker)
            )
        except ServiceUnavailable:
            dispatcher.utter_message(response="utter_service_unavailable")
            return []
        kind = dispute_kind(text)
        dispatcher.utter_message(
            response=f"utter_dispute_recorded_{kind}",
            ticket_id=ticket.ticket_id,
            reply_due=long_date(ticket.reply_due) if ticket.reply_due else "",
        )
        # Money taken without the customer: the hand-off that follows is urgent.
        urgent = {"transfer": "disputed_transfer", "unauthorised": "stolen_card"}.get(kind)
        return [
            SlotSet("dispute_ticket_id", ticket.ticket_id),
            set_context("dispute", ticket_id=ticket.ticket_id),
            offer("freeze_card"),
            *([SlotSet("urgent_reason", urgent)] if urgent else []),
        ]


DUPLICATE_CHARGE = re.compile(r"重复|两次|两遍|多扣|扣了两|扣两")
UNKNOWN_TRANSFER = re.compile(r"转给|转账|转帐|转走|转出|被转|汇给|汇款")
UNAUTHORISED = re.compile(r"盗刷|不是我|没刷过|没消费|没买过|不认识|我根本没|被刷")


def dispute_kind(text: str) -> str:
    """duplicate (taken twice), transfer (a transfer the customer did not make),
    unauthorised (a charge they did not make) or other."""
    if DUPLICATE_CHARGE.search(text):
        return "duplicate"
    if UNKNOWN_TRANSFER.search(text):
        return "transfer"
    if UNAUTHORISED.search(text):
        return "unauthorised"
    return "other"


# A complaint this short names no incident ("我要投诉"): ask what happened.
MIN_COMPLAINT_CHARS = 8
GENERIC_COMPLAINT = re.compile(r"我要|我想|投诉|举报|意见|建议|反映|[\s,，。!！?？~～]")


def _substantive(text: str) -> bool:
    return len(GENERIC_COMPLAINT.sub("", text)) >= MIN_COMPLAINT_CHARS


class ActionPrepareComplaint(Action):
    """Keeps the complaint text when the message already says what happened."""

    def name(self) -> str:
        return "action_prepare_complaint"

    async def run(self, dispatcher, tracker, domain) -> list[EventType]:
        text = latest_text(tracker).strip()
        dispute = tracker.get_slot("dispute_ticket_id")
        if dispute and context_of(tracker).get("topic") == "dispute" and ADDING.search(text):
            # "订单号是JD88812345 补充一下" right after a dispute: it goes to that ticket.
            try:
                ticket = await services().support.add_ticket_details(
                    dispute, channel_of(tracker), tracker.sender_id, text
                )
            except ServiceUnavailable:
                dispatcher.utter_message(response="utter_service_unavailable")
            else:
                dispatcher.utter_message(
                    response="utter_details_added",
                    ticket_id=ticket.ticket_id,
                    reply_due=long_date(ticket.reply_due) if ticket.reply_due else "",
                )
            return [SlotSet("complaint_text", None), FollowupAction("action_listen")]
        return [SlotSet("complaint_text", text if _substantive(text) else None)]


# "补充下 是昨天下午三点 3号窗口": more about what was just reported.
ADDING = re.compile(r"补充|追加|另外|还有就是|再说一下")


class ValidateComplaintForm(TaskFormValidation):
    """What happened: any account of it, but not a question asked meanwhile."""

    def name(self) -> str:
        return "validate_complaint_form"

    async def is_answer(self, slot: str, value: Any, tracker: Tracker) -> bool:
        text = str(value or "")
        if is_question(text) and len(text) <= 20:
            return False  # "投诉一般多久能处理": a question about complaints, answered first
        return not is_side_question(tracker) and latest_intent(tracker) not in ("affirm", "deny")


class ActionSubmitComplaint(Action):
    """Records the complaint, or adds to the one this session opened: one ticket per
    complaint. The ticket also marks the conversation for staff."""

    def name(self) -> str:
        return "action_submit_complaint"

    async def run(self, dispatcher, tracker, domain) -> list[EventType]:
        text = tracker.get_slot("complaint_text")
        reset: list[EventType] = [SlotSet("complaint_text", None)]
        if not text:
            return reset
        return [*reset, *await self.record(dispatcher, tracker, str(text))]

    async def record(self, dispatcher, tracker, text: str) -> list[EventType]:
        """A new complaint ticket, or ``text`` added to the one this session opened."""
        support = services().support
        try:
            open_ticket = await _latest_open(tracker, "complaint")
            if open_ticket is not None:
                ticket = await support.add_ticket_details(
                    open_ticket.ticket_id, channel_of(tracker), tracker.sender_id, text
                )
                dispatcher.utter_message(
                    response="utter_details_added",
                    ticket_id=ticket.ticket_id,
                    reply_due=long_date(ticket.reply_due) if ticket.reply_due else "",
                )
                return [SlotSet("complaint_ticket_id", ticket.ticket_id)]
            ticket = await support.create_ticket(
                "complaint", channel_of(tracker), tracker.sender_id, text=text
            )
        except ServiceUnavailable:
            dispatcher.utter_message(response="utter_service_unavailable")
            return []
        dispatcher.utter_message(
            response="utter_complaint_recorded",
            ticket_id=ticket.ticket_id,
            category=ticket.category or "",
            reply_due=long_date(ticket.reply_due) if ticket.reply_due else "",
        )
        return [SlotSet("complaint_ticket_id", ticket.ticket_id)]


KIND_NAMES = {"complaint": "投诉", "dispute": "交易争议", "handoff": "转人工"}
STATUS_NAMES = {"open": "已受理，等待处理", "in_progress": "处理中", "closed": "已办结"}


class ActionTicketStatus(Action):
    """"多久给我回复" / "编号多少来着": the chat user's latest complaint, dispute or
    hand-off, its number, state and reply date."""

    def name(self) -> str:
        return "action_ticket_status"

    async def run(self, dispatcher, tracker, domain) -> list[EventType]:
        try:
            tickets = await services().support.list_tickets(
                tracker.sender_id, channel=channel_of(tracker)
            )
        except ServiceUnavailable:
            dispatcher.utter_message(response="utter_service_unavailable")
            return []
        # Complaints and disputes first: they are what a customer follows up.
        ranked = sorted(tickets, key=lambda t: (t.kind == "handoff", -t.created_at.timestamp()))
        named = TICKET_ID.search(latest_text(tracker))
        if named:
            # "我上次的编号是C20261110-0005": that ticket, or say it cannot be found here.
            ticket_id = named.group(0).upper()
            ranked = [t for t in ranked if t.ticket_id == ticket_id]
            if not ranked:
                dispatcher.utter_message(response="utter_ticket_not_found", ticket_id=ticket_id)
                return [offer("human_handoff")]
        if COMPLAINT_WORDS.search(latest_text(tracker)) and not any(
            t.kind == "complaint" for t in ranked
        ):
            # "投诉编号多少" with no complaint: never another ticket's number instead.
            dispatcher.utter_message(response="utter_no_complaint_yet")
            return []
        if not ranked:
            dispatcher.utter_message(response="utter_no_tickets")
            return []
        for ticket in ranked[:2]:
            due = ""
            if ticket.reply_due and ticket.status != "closed":
                due = domain_text(domain, "utter_ticket_due", reply_due=long_date(ticket.reply_due))
            dispatcher.utter_message(
                response="utter_ticket_status",
                kind=KIND_NAMES.get(ticket.kind, ticket.kind),
                ticket_id=ticket.ticket_id,
                created=day_and_time(ticket.created_at),
                status=STATUS_NAMES.get(ticket.status, ticket.status),
                due=due,
            )
        return []


def domain_text(domain: dict[str, Any], response: str, **values: Any) -> str:
    """The first text of a response, filled: for a sentence used inside another."""
    variations = domain.get("responses", {}).get(response) or [{}]
    text = str(variations[0].get("text", ""))
    for key, value in values.items():
        text = text.replace("{" + key + "}", str(value))
    return text


# Which numbers a question about phone numbers most likely wants.
CONTACT_TOPICS = (
    (re.compile(r"信用卡"), ("credit_card", "customer_service")),
    (re.compile(r"挂失|冻结|丢|被盗|被偷|盗刷"), ("card_loss", "customer_service")),
    (re.compile(r"房贷|贷款|公积金"), ("mortgage", "customer_service")),
    (re.compile(r"诈骗|被骗|报警|反诈"), ("anti_fraud", "card_loss")),
    (re.compile(r"贵宾|vip|VIP"), ("vip", "customer_service")),
    (re.compile(r"媒体|记者|采访"), ("press_office",)),
)
DEFAULT_CONTACTS = ("customer_service", "card_loss", "credit_card", "online_staff")


THAT_BRANCH = re.compile(r"(?:那个|这个|那家|这家|那|这)(?:网点|支行|营业厅|分行)|网点电话|支行电话")


class ActionContacts(AnswerAction):
    """The bank's phone numbers and hours, those the question is about first."""

    intent = "ask_hotline"

    def name(self) -> str:
        return "action_contacts"

    async def answer(self, dispatcher, tracker, domain) -> list[EventType]:
        text = latest_text(tracker)
        branch_named = latest_entities(tracker, "branch")
        context = context_of(tracker)
        if not branch_named and context.get("branch") and THAT_BRANCH.search(text):
            # "那个网点电话多少" right after a branch: that branch's number.
            branch_named = [context["branch"]]
        if branch_named:
            # "徐家汇支行电话多少": that branch's own number.
            found = await services().branches.list_branches(q=str(branch_named[-1]))
            if found:
                dispatcher.utter_message(
                    response="utter_branch_phone", name=found[0].name, phone=found[0].phone,
                    address=found[0].address,
                )
                return []
        # "信用卡中心电话多少 还有挂失打哪个号": every line asked for, in order.
        asked = [code for pattern, codes in CONTACT_TOPICS if pattern.search(text) for code in codes]
        codes = tuple(dict.fromkeys(asked)) or DEFAULT_CONTACTS
        try:
            contacts = {c.code: c for c in await services().support.contacts()}
        except ServiceUnavailable:
            dispatcher.utter_message(response="utter_service_unavailable")
            return []
        dispatcher.utter_message(response="utter_contacts_header")
        for code in codes:
            contact = contacts.get(code)
            if contact is None:
                continue
            phones = "、".join(p for p in (contact.phone, *contact.other_phones) if p)
            dispatcher.utter_message(
                response="utter_contact_line",
                name=contact.name,
                phone=phones or (contact.note or ""),
                hours=contact.hours,
            )
        return []


class ActionPressOffice(Action):
    """Journalists: no statement from the bot, the press office's contact instead."""

    def name(self) -> str:
        return "action_press_office"

    async def run(self, dispatcher, tracker, domain) -> list[EventType]:
        try:
            office = await services().support.contact("press_office")
        except (ServiceUnavailable, NotFound):
            dispatcher.utter_message(response="utter_service_unavailable")
            return []
        dispatcher.utter_message(
            response="utter_press_office",
            name="新闻办公室",
            phone=office.phone or "",
            email=office.email or "",
            hours=office.hours,
        )
        # "那你就简单说两句": still the press office, however it is pressed.
        return [set_context("media")]


# utter_faq/<topic>: one response per FAQ topic (domain/faq.yml).
FAQ_RESPONSES = "utter_faq" + "/"


class ActionFaq(AnswerAction):
    """The FAQ answer the ResponseSelector picked, with the bank's numbers filled in."""

    intent = "faq"

    def name(self) -> str:
        return "action_faq"

    async def answer(self, dispatcher, tracker, domain) -> list[EventType]:
        if narrowed := narrowed_statement(tracker):
            return narrowed
        selector = (tracker.latest_message.get("response_selector") or {}).get("faq") or {}
        response = str((selector.get("response") or {}).get("utter_action") or "")
        if card_effect_question(latest_text(tracker)):
            # "锁了以后工资还能打进来吗": what a stopped card still does, whatever topic
            # the selector leaned to.
            response = "utter_faq/freeze_vs_loss"
        if not response.startswith(FAQ_RESPONSES) or response not in domain.get("responses", {}):
            dispatcher.utter_message(response="utter_default")
            return []
        dispatcher.utter_message(response=response, **await phone_numbers(), **limit_values())
        return []


def limit_values() -> dict[str, str]:
    """{web_single_limit}, {wechat_daily_limit} ...: the transfer limits in force."""
    values = {}
    for channel, limits in services().settings.limits.items():
        values[f"{channel}_single_limit"] = format_cny(limits.single)
        values[f"{channel}_daily_limit"] = format_cny(limits.daily)
    return values


class ActionRelationshipManager(BankAction):
    """A VIP's relationship manager: name, title and a masked contact from the bank."""

    intent = "ask_manager"

    def name(self) -> str:
        return "action_relationship_manager"

    async def perform(self, dispatcher, tracker, domain, token) -> list[EventType]:
        profile = await services().accounts.get_profile(token)
        manager = profile.manager
        if manager is None:
            dispatcher.utter_message(response="utter_no_manager")
            return []
        desk = domain_text(domain, "utter_manager_desk", desk_phone=manager.phone) if manager.phone else ""
        where = (
            domain_text(domain, "utter_manager_branch", branch=manager.branch_name)
            if manager.branch_name else ""
        )
        dispatcher.utter_message(
            response="utter_manager",
            manager=manager.name,
            title=manager.title,
            phone=manager.masked_mobile,
            desk=desk,
            where=where,
        )
        # "她在哪个网点 几点关门": the manager's branch is the one talked about now.
        return [set_context("branch", branch=manager.branch_name)] if manager.branch_name else []


# Intents that are never offered as a clarification choice.
NOT_OFFERED = {"nlu_fallback", "out_of_scope", "inform", "affirm", "deny", "greet", "goodbye", "thank"}


class ActionDefaultAskAffirmation(Action):
    """First stage of the two-stage fallback: the top candidates as buttons."""

    def name(self) -> str:
        return "action_default_ask_affirmation"

    async def run(self, dispatcher, tracker, domain) -> list[EventType]:
        ranking = tracker.latest_message.get("intent_ranking") or []
        responses = domain.get("responses", {})
        buttons = []
        for candidate in ranking:
            name = candidate.get("name")
            title = responses.get(f"utter_title_{name}")
            if name in NOT_OFFERED or not title:
                continue
            buttons.append({"title": title[0]["text"], "payload": f"/{name}"})
            if len(buttons) == 3:
                break
        none_of_these = responses.get("utter_none_of_these", [{"text": "-"}])[0]["text"]
        buttons.append({"title": none_of_these, "payload": "/deny"})
        dispatcher.utter_message(response="utter_ask_affirmation", buttons=buttons)
        return []
