"""Branches and queues: find a branch, queue status with 分流, tickets."""

from __future__ import annotations

import re
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.base import (
    AnswerAction,
    TaskFormValidation,
    channel_of,
    context_of,
    is_payload,
    is_side_question,
    latest_entities,
    latest_intent,
    latest_text,
    offer,
    redirect,
    services,
    set_context,
    skip_cleared,
    slot_str,
    verification_events,
    waiting_for_staff,
)
from actions.support import ActionHumanHandoff
from bot.formatting import clock_time, day_and_time
from bot.nlu.answers import is_follow_up, is_question
from bot.services.errors import (
    ActiveTicketExists,
    BranchClosed,
    NotFound,
    ServiceNotOffered,
    TicketNotActive,
    VerificationRequired,
    VipOnly,
)
from bot.services.types import Branch, QueueStatus

SERVICE_TYPES = ("个人业务", "对公业务", "外汇", "贵宾")
VIP = "贵宾"
SHORTEST = re.compile(r"人少|人最少|最短|最快|哪个快|不用排|排队少|没什么人")
TAKE_NUMBER = re.compile(r"取号|取个号|帮我取|拿号|拿个号|排个号|领号|领个号|挂个号")
WAIT = re.compile(r"等多久|多久|多长时间|还要等|排到|轮到|几点能|什么时候能|啥时候能|还有几个人|前面还有")
HOURS = re.compile(r"周末|周六|周日|星期六|星期天|礼拜|几点|营业时间|开门|关门|上班时间|下班")
OPEN_NOW = re.compile(r"开着|开门的|营业的|在营业|还开|现在开")
QUEUE_SLOTS = (
    "branch",
    "service_type",
    "queue_branch_id",
    "queue_alt_branch_id",
    "queue_alt_branch_name",
    "queue_divert",
)


def location_of(tracker: Tracker) -> tuple[float | None, float | None, list[EventType]]:
    """Coordinates sent with this message (channel metadata) or remembered before."""
    metadata = tracker.latest_message.get("metadata") or {}
    location = metadata.get("location") if isinstance(metadata, dict) else None
    if isinstance(location, dict):
        try:
            lat, lng = float(location["lat"]), float(location["lng"])
        except (KeyError, TypeError, ValueError):
            lat, lng = 999.0, 999.0  # unusable: ignored below
        if -90 <= lat <= 90 and -180 <= lng <= 180:
            return lat, lng, [SlotSet("location_lat", lat), SlotSet("location_lng", lng)]
    lat, lng = tracker.get_slot("location_lat"), tracker.get_slot("location_lng")
    return (float(lat) if lat is not None else None, float(lng) if lng is not None else None, [])


async def branch_buttons(payload_intent: str) -> list[dict[str, str]]:
    branches = await services().branches.list_branches()
    return [
        {"title": b.name, "payload": f'/{payload_intent}{{"branch": "{b.name}"}}'} for b in branches
    ]


def utter_branch(dispatcher: CollectingDispatcher, branch: Branch) -> None:
    near = "_near" if branch.distance_km is not None else ""
    state = "open" if branch.open_now else "closed"
    dispatcher.utter_message(
        response=f"utter_branch_{state}{near}",
        name=branch.name,
        address=branch.address,
        phone=branch.phone,
        weekday_hours=branch.weekday_hours,
        weekend_hours=branch.weekend_hours or "休息",
        closes_at=clock_time(branch.closes_at),
        opens_at=day_and_time(branch.opens_at),
        distance=f"{branch.distance_km:.1f}" if branch.distance_km is not None else "",
    )


async def resolve_branch(tracker: Tracker) -> tuple[Branch | None, list[EventType]]:
    """The branch the customer means: named, by area, or nearest to a shared location."""
    lat, lng, events = location_of(tracker)
    name, area = slot_str(tracker, "branch"), slot_str(tracker, "area")
    if not (name or area or lat is not None):
        return None, events
    found = await services().branches.list_branches(q=name, area=area, lat=lat, lng=lng)
    return (found[0] if found else None), events


def outside_queue_form(tracker: Tracker, events: list[EventType]) -> list[EventType]:
    """A branch question asked in the middle of taking a ticket leaves the form's
    branch alone (the form validates its own slots)."""
    if (tracker.active_loop or {}).get("name") != "queue_form":
        return events
    return [e for e in events if not (e.get("event") == "slot" and e.get("name") in ("branch", "area"))]


# "她在哪个网点 几点关门", "那家几点开门": the branch just talked about.
POINTING = re.compile(r"那个网点|那个支行|这个网点|这个支行|那家|这家|那边|[她他]在哪|[她他]那")


class ActionFindBranch(AnswerAction):
    intent = "find_branch"

    def name(self) -> str:
        return "action_find_branch"

    async def answer(self, dispatcher, tracker, domain) -> list[EventType]:
        lat, lng, events = location_of(tracker)
        name, area = slot_str(tracker, "branch"), slot_str(tracker, "area")
        context = context_of(tracker)
        text = latest_text(tracker)
        if (
            (name or area)
            and context.get("topic") in ("queue", "queue_ticket")
            and is_follow_up(text)
            and not HOURS.search(text)
            and not is_payload(tracker)
        ):
            # "那陆家嘴呢" right after a queue: that branch's queue, not its address.
            return redirect(tracker, "branch_queue_status", {"branch": name, "area": area})
        # "几点下班" right after a branch: that branch's hours.
        follow_up = is_follow_up(text) or bool(OPEN_NOW.search(text)) or (
            len(text) <= 10 and bool(HOURS.search(text))
        ) or bool(POINTING.search(text))
        if not (name or area or lat is not None) and follow_up and context.get("topic") in (
            "branch",
            "queue",
        ):
            name = context.get("branch")  # "那附近哪个开着": the branch just talked about
        if not (name or area or lat is not None) and HOURS.search(text):
            # "你们周末开门吗": every branch's hours, then the question asked again if any.
            dispatcher.utter_message(response="utter_branch_hours_header")
            for branch in await services().branches.list_branches():
                dispatcher.utter_message(
                    response="utter_branch_hours_line",
                    name=branch.name,
                    weekday_hours=branch.weekday_hours,
                    weekend_hours=branch.weekend_hours or "休息",
                )
            return events
        if not (name or area or lat is not None):
            dispatcher.utter_message(
                response="utter_ask_branch_location", buttons=await branch_buttons("find_branch")
            )
            return events
        found = await services().branches.list_branches(q=name, area=area, lat=lat, lng=lng)
        if not found:
            dispatcher.utter_message(
                response="utter_branch_not_found",
                branch=name or area or "",
                buttons=await branch_buttons("find_branch"),
            )
            return outside_queue_form(
                tracker, [*events, SlotSet("branch", None), SlotSet("area", None)]
            )
        shown = found[: 3 if lat is not None or area else 1]
        if len(shown) == 1 and not shown[0].open_now and OPEN_NOW.search(latest_text(tracker)):
            # "那附近哪个开着": the nearest branches open now, from the closed one.
            closed = shown[0]
            nearby = await services().branches.list_branches(lat=closed.lat, lng=closed.lng)
            open_ones = [b for b in nearby if b.open_now and b.branch_id != closed.branch_id][:2]
            if open_ones:
                dispatcher.utter_message(response="utter_branches_open_nearby", name=closed.name)
                shown = open_ones
        for branch in shown:
            utter_branch(dispatcher, branch)
        dispatcher.utter_message(response="utter_branch_next_steps")
        return outside_queue_form(tracker, [
            *events,
            SlotSet("branch", found[0].name),
            SlotSet("area", None),
            set_context("branch", branch=found[0].name),
            offer("branch_queue_status", branch=found[0].name),
        ])


def utter_divert(dispatcher: CollectingDispatcher, branch: Branch, queue: QueueStatus) -> None:
    alt = queue.alternative
    assert alt is not None
    dispatcher.utter_message(
        response="utter_queue_divert",
        name=branch.name,
        service_type=queue.service_type,
        wait=queue.estimated_wait_minutes,
        alt_name=alt.name,
        alt_distance=f"{alt.distance_km:.1f}",
        alt_wait=alt.estimated_wait_minutes,
    )


class ActionBranchQueueStatus(Action):
    def name(self) -> str:
        return "action_branch_queue_status"

    async def run(self, dispatcher, tracker, domain) -> list[EventType]:
        branch, events = await resolve_branch(tracker)
        if branch is None and WAIT.search(latest_text(tracker)) and await waiting_for_staff(tracker):
            # "要等多久啊" right after asking for a person: the wait for staff.
            # Answered here: a follow-up action would end with the rules' default reply.
            return await ActionHumanHandoff().run(dispatcher, tracker, domain)
        if branch is None and SHORTEST.search(latest_text(tracker)):
            # "哪个人少啊": every branch's wait, shortest first.
            await self._shortest(dispatcher, tracker)
            return events
        if branch is None:
            dispatcher.utter_message(
                response="utter_ask_branch", buttons=await branch_buttons("branch_queue_status")
            )
            return events
        if TAKE_NUMBER.search(latest_text(tracker)) and not (tracker.active_loop or {}).get("name"):
            # "那就静安寺吧 帮我取": a number, not another look at the queue.
            return redirect(
                tracker, "take_queue_ticket",
                {"branch": branch.name, "service_type": slot_str(tracker, "service_type")},
            )
        queues = [q for q in await services().branches.queue_status(branch.branch_id) if q.offered]
        wanted = slot_str(tracker, "service_type")
        events += [
            SlotSet("branch", branch.name),
            SlotSet("area", None),
            set_context("queue", branch=branch.name),
        ]
        if queues and not queues[0].open_now:
            dispatcher.utter_message(
                response="utter_queue_closed",
                name=branch.name,
                opens_at=day_and_time(queues[0].opens_at),
            )
            return outside_queue_form(tracker, events)
        shown = [q for q in queues if q.service_type == wanted] or [
            q for q in queues if q.service_type != "贵宾" or tracker.get_slot("vip")
        ]
        dispatcher.utter_message(response="utter_queue_header", name=branch.name)
        for queue in shown:
            dispatcher.utter_message(
                response="utter_queue_line",
                service_type=queue.service_type,
                waiting=queue.waiting,
                counters=queue.counters_open,
                wait=queue.estimated_wait_minutes,
            )
        diverted = next((q for q in shown if q.alternative is not None), None)
        if diverted is not None:
            utter_divert(dispatcher, branch, diverted)
            assert diverted.alternative is not None
            # "好的" next: a number at the suggested branch.
            events.append(offer(
                "take_queue_ticket",
                branch=diverted.alternative.name,
                service_type=diverted.service_type,
            ))
        return outside_queue_form(tracker, events)


    async def _shortest(self, dispatcher: CollectingDispatcher, tracker: Tracker) -> None:
        service_type = slot_str(tracker, "service_type") or "个人业务"
        waits = []
        for branch in await services().branches.list_branches():
            queue = next(
                (q for q in await services().branches.queue_status(branch.branch_id)
                 if q.service_type == service_type and q.offered and q.open_now),
                None,
            )
            if queue is not None:
                waits.append((queue.estimated_wait_minutes, queue.waiting, branch.name))
        if not waits:
            dispatcher.utter_message(response="utter_ask_branch", buttons=await branch_buttons("inform"))
            return
        dispatcher.utter_message(response="utter_queue_shortest_header", service_type=service_type)
        for wait, waiting, name in sorted(waits):
            dispatcher.utter_message(
                response="utter_queue_shortest_line", name=name, waiting=waiting, wait=wait
            )


class ActionPrepareTicket(Action):
    """Before queue_form: forget an earlier offer; the nearest branch when located."""

    def name(self) -> str:
        return "action_prepare_ticket"

    async def run(self, dispatcher, tracker, domain) -> list[EventType]:
        said = service_type_named(latest_text(tracker)) if not is_payload(tracker) else None
        service_type = slot_str(tracker, "service_type") or said
        if service_type == VIP and not tracker.get_slot("auth_token"):
            # The VIP counter is for VIP customers: who is asking is checked first.
            return [
                *verification_events(dispatcher, tracker, "take_queue_ticket", "bind"),
                SlotSet("service_type", VIP),
            ]
        events: list[EventType] = [
            SlotSet("service_type", service_type),
            SlotSet("pending_request", None),
            SlotSet("pending_text", None),
            SlotSet("queue_divert", None),
            SlotSet("queue_alt_branch_id", None),
            SlotSet("queue_alt_branch_name", None),
        ]
        if not slot_str(tracker, "branch"):
            branch, located = await resolve_branch(tracker)
            events += located
            if branch is not None:
                events += [SlotSet("branch", branch.name), SlotSet("queue_branch_id", branch.branch_id)]
        return events


class ActionAskBranch(Action):
    def name(self) -> str:
        return "action_ask_branch"

    async def run(self, dispatcher, tracker, domain) -> list[EventType]:
        dispatcher.utter_message(response="utter_ask_branch", buttons=await branch_buttons("inform"))
        return []


class ActionAskServiceType(Action):
    def name(self) -> str:
        return "action_ask_service_type"

    async def run(self, dispatcher, tracker, domain) -> list[EventType]:
        types = [t for t in SERVICE_TYPES if t != "贵宾" or tracker.get_slot("vip")]
        dispatcher.utter_message(
            response="utter_ask_service_type",
            buttons=[
                {"title": t, "payload": f'/inform{{"service_type": "{t}"}}'} for t in types
            ],
        )
        return []


class ActionAskQueueDivert(Action):
    def name(self) -> str:
        return "action_ask_queue_divert"

    async def run(self, dispatcher, tracker, domain) -> list[EventType]:
        branch_id = tracker.get_slot("queue_branch_id")
        service_type = tracker.get_slot("service_type")
        queues = await services().branches.queue_status(branch_id)
        queue = next((q for q in queues if q.service_type == service_type), None)
        if queue is None or queue.alternative is None:
            # The queue moved on since validation; no reason to divert any more.
            return [SlotSet("queue_divert", False)]
        dispatcher.utter_message(
            response="utter_ask_queue_divert",
            branch=tracker.get_slot("branch"),
            service_type=service_type,
            wait=queue.estimated_wait_minutes,
            alt_name=queue.alternative.name,
            alt_distance=f"{queue.alternative.distance_km:.1f}",
            alt_wait=queue.alternative.estimated_wait_minutes,
        )
        return []


# Words that name a service type (validate_service_type maps them).
SERVICE_WORDS = {
    "个人": "个人业务", "存钱": "个人业务", "取钱": "个人业务", "存款": "个人业务",
    "取款": "个人业务", "开卡": "个人业务", "办卡": "个人业务", "补卡": "个人业务",
    "对公": "对公业务", "公司": "对公业务", "企业": "对公业务", "单位": "对公业务",
    "外汇": "外汇", "换汇": "外汇", "外币": "外汇", "美元": "外汇", "购汇": "外汇",
    "贵宾": "贵宾", "vip": "贵宾", "VIP": "贵宾",
}


def service_type_named(text: str) -> str | None:
    value = text.strip()
    exact = next((t for t in SERVICE_TYPES if t in value or (value and value in t)), None)
    return exact or next((t for word, t in SERVICE_WORDS.items() if word in value), None)


class ValidateQueueForm(TaskFormValidation):
    def name(self) -> str:
        return "validate_queue_form"

    async def is_answer(self, slot: str, value: Any, tracker: Tracker) -> bool:
        text = str(value or "")
        if slot == "branch":
            if latest_intent(tracker) == "branch_queue_status" and is_question(latest_text(tracker)):
                return False  # "静安寺排队的人多不多": its queue first, the choice stays open
            if latest_entities(tracker, "branch") or latest_entities(tracker, "area"):
                return True
            if is_side_question(tracker):
                return False
            return latest_intent(tracker) in ("inform", "nlu_fallback", "take_queue_ticket") and len(text) <= 15
        if slot == "service_type":
            return service_type_named(text) is not None or (
                not is_side_question(tracker) and latest_intent(tracker) in ("inform", "nlu_fallback")
            )
        return True

    async def required_slots(self, domain_slots, dispatcher, tracker, domain) -> list[str]:
        needed = ["branch", "service_type"]
        if tracker.get_slot("queue_alt_branch_id"):
            needed.append("queue_divert")
        return needed

    @skip_cleared
    async def validate_branch(self, slot_value: Any, dispatcher, tracker, domain) -> dict[str, Any]:
        lat, lng, _ = location_of(tracker)
        found = await services().branches.list_branches(q=str(slot_value), lat=lat, lng=lng)
        if not found:
            dispatcher.utter_message(
                response="utter_branch_not_found",
                branch=str(slot_value),
                buttons=await branch_buttons("inform"),
            )
            return {"branch": None, "queue_branch_id": None}
        branch = found[0]
        result: dict[str, Any] = {"branch": branch.name, "queue_branch_id": branch.branch_id}
        diverting = tracker.get_slot("requested_slot") == "queue_divert"
        if branch.branch_id == tracker.get_slot("queue_branch_id"):
            # "不用 就人广": the same branch named again while answering the diversion.
            return {**result, "queue_divert": False} if diverting else result
        if diverting and branch.branch_id == tracker.get_slot("queue_alt_branch_id"):
            # "那去静安寺吧": the suggested branch named: yes to the diversion.
            return {"queue_divert": True, "branch": tracker.get_slot("branch")}
        service_type = tracker.get_slot("service_type")
        if service_type and "service_type" not in tracker.slots_to_validate():
            result.update(await self._check_queue(dispatcher, tracker, branch.branch_id, branch.name, service_type))
        return result

    @skip_cleared
    async def validate_service_type(
        self, slot_value: Any, dispatcher, tracker, domain
    ) -> dict[str, Any]:
        value = str(slot_value or "").strip()
        service_type = service_type_named(value) if value else None
        if service_type is None:
            await ActionAskServiceType().run(dispatcher, tracker, domain)
            return {"service_type": None}
        branch_id = tracker.get_slot("queue_branch_id")
        if not branch_id:
            return {"service_type": service_type}
        return {
            "service_type": service_type,
            **await self._check_queue(
                dispatcher, tracker, branch_id, tracker.get_slot("branch"), service_type
            ),
        }

    async def _check_queue(
        self, dispatcher, tracker, branch_id: str, branch_name: str, service_type: str
    ) -> dict[str, Any]:
        queues = await services().branches.queue_status(branch_id)
        queue = next((q for q in queues if q.service_type == service_type), None)
        if queue is None or not queue.offered:
            dispatcher.utter_message(
                response="utter_service_not_offered", branch=branch_name, service_type=service_type
            )
            return {"service_type": None}
        if queue.alternative is not None and tracker.get_slot("queue_divert") is None:
            return {
                "queue_alt_branch_id": queue.alternative.branch_id,
                "queue_alt_branch_name": queue.alternative.name,
            }
        return {}


class ActionTakeQueueTicket(Action):
    def name(self) -> str:
        return "action_take_queue_ticket"

    async def run(self, dispatcher, tracker, domain) -> list[EventType]:
        reset = [SlotSet(name, None) for name in QUEUE_SLOTS]
        diverted = bool(tracker.get_slot("queue_divert")) and tracker.get_slot("queue_alt_branch_id")
        branch_id = tracker.get_slot("queue_alt_branch_id") if diverted else tracker.get_slot("queue_branch_id")
        service_type = tracker.get_slot("service_type")
        try:
            ticket = await services().branches.take_ticket(
                channel_of(tracker),
                tracker.sender_id,
                branch_id,
                service_type,
                token=tracker.get_slot("auth_token"),
            )
        except ActiveTicketExists as exc:
            dispatcher.utter_message(
                response="utter_ticket_exists",
                branch=tracker.get_slot("branch"),
                number=exc.details.get("number", ""),
            )
            return reset
        except BranchClosed as exc:
            dispatcher.utter_message(
                response="utter_queue_closed",
                name=tracker.get_slot("branch"),
                opens_at=day_and_time(exc.opens_at),
            )
            return reset
        except (VipOnly, VerificationRequired):
            dispatcher.utter_message(response="utter_ticket_vip_only")
            return reset
        except ServiceNotOffered:
            dispatcher.utter_message(
                response="utter_service_not_offered",
                branch=tracker.get_slot("branch"),
                service_type=service_type,
            )
            return reset
        dispatcher.utter_message(
            response="utter_ticket_taken",
            number=ticket.number,
            branch=ticket.branch_name,
            service_type=ticket.service_type,
            ahead=ticket.people_ahead,
            wait=ticket.estimated_wait_minutes,
            address=ticket.branch_address,
        )
        # "取消吧" right after: this ticket is what would be cancelled.
        return [*reset, set_context("queue_ticket", number=ticket.number)]


class ActionCheckQueueTicket(Action):
    def name(self) -> str:
        return "action_check_queue_ticket"

    async def run(self, dispatcher, tracker, domain) -> list[EventType]:
        tickets = await services().branches.list_tickets(channel_of(tracker), tracker.sender_id)
        if not tickets and await waiting_for_staff(tracker):
            # Answered here: a follow-up action would end with the rules' default reply.
            return await ActionHumanHandoff().run(dispatcher, tracker, domain)  # the wait for staff
        if not tickets:
            dispatcher.utter_message(response="utter_no_ticket")
            return [offer("take_queue_ticket")]
        for ticket in tickets:
            dispatcher.utter_message(
                response="utter_ticket_called" if ticket.status == "called" else "utter_ticket_waiting",
                number=ticket.number,
                branch=ticket.branch_name,
                service_type=ticket.service_type,
                ahead=ticket.people_ahead,
                wait=ticket.estimated_wait_minutes,
            )
        return []


class ActionCancelQueueTicket(Action):
    def name(self) -> str:
        return "action_cancel_queue_ticket"

    async def run(self, dispatcher, tracker, domain) -> list[EventType]:
        channel = channel_of(tracker)
        tickets = [
            t
            for t in await services().branches.list_tickets(channel, tracker.sender_id)
            if t.status == "waiting"
        ]
        wanted = slot_str(tracker, "branch")
        if wanted:
            tickets = [t for t in tickets if wanted in t.branch_name or t.branch_name in wanted] or tickets
        if not tickets:
            dispatcher.utter_message(response="utter_no_ticket")
            return [SlotSet("branch", None)]
        if len(tickets) > 1:
            dispatcher.utter_message(
                response="utter_which_ticket",
                buttons=[
                    {
                        "title": f"{t.number} {t.branch_name}",
                        "payload": f'/cancel_queue_ticket{{"branch": "{t.branch_name}"}}',
                    }
                    for t in tickets
                ],
            )
            return []
        ticket = tickets[0]
        try:
            await services().branches.cancel_ticket(ticket.ticket_id, channel, tracker.sender_id)
        except (TicketNotActive, NotFound):
            dispatcher.utter_message(response="utter_ticket_not_active", number=ticket.number)
            return [SlotSet("branch", None)]
        dispatcher.utter_message(
            response="utter_ticket_cancelled", branch=ticket.branch_name, number=ticket.number
        )
        return [SlotSet("branch", None)]
