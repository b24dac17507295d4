"""Which customer task a conversation is in the middle of, from Rasa's events.

Shared by the ingest projector (the "interrupted task" of a handoff summary) and
the takeover's hand-back (the intent triggered to resume it). The task is derived
from the form that is active, not from the customer's last intent: after a
verification the last message is the code (``inform``), yet the form tells what
the customer was doing.

* ``transfer_form`` -> ``transfer_money``; ``queue_form`` -> ``take_queue_ticket``;
  ``risk_form`` -> ``risk_assessment``;
* ``card_form`` -> the ``card_operation`` slot (``report_card_lost``, ``freeze_card``,
  ``unfreeze_card``);
* ``verify_form`` -> the request parked in ``pending_request`` until the customer
  is verified;
* no form: the request parked in ``pending_request``, if any.

``complaint_form`` and the two-stage fallback are never resumed (a request parked
before them still is).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

FORM_TASKS = {
    "transfer_form": "transfer_money",
    "queue_form": "take_queue_ticket",
    "risk_form": "risk_assessment",
}
SLOT_TASK_FORMS = {"card_form": "card_operation", "verify_form": "pending_request"}
NOT_RESUMABLE_LOOPS = frozenset({"complaint_form", "action_two_stage_fallback"})
# Intents never resumed after a hand-back (they are not tasks, or staff handled them).
NOT_RESUMABLE = frozenset(
    {
        "human_handoff", "complain", "faq", "help", "greet", "goodbye", "thank", "affirm",
        "deny", "cancel", "inform", "out_of_scope", "nlu_fallback", "bot_challenge",
        "share_location",
    }
)
TRACKED_SLOTS = ("pending_request", "card_operation")


def form_task(
    loop: str | None, slots: Mapping[str, Any], loop_intent: str | None = None
) -> str | None:
    """The task of an active form ``loop`` (``None``: nothing to resume).

    Without a form, the request parked in ``pending_request``. A form not listed
    above resumes the intent that started it (``loop_intent``).
    """
    if loop and loop not in NOT_RESUMABLE_LOOPS:
        if loop in FORM_TASKS:
            task: Any = FORM_TASKS[loop]
        elif loop in SLOT_TASK_FORMS:
            task = slots.get(SLOT_TASK_FORMS[loop]) or (
                loop_intent if loop == "card_form" else None
            )
        else:
            task = loop_intent
    else:  # no form, or one that is never resumed (a complaint, the fallback)
        task = slots.get("pending_request")
    if not task or str(task) in NOT_RESUMABLE:
        return None
    return str(task)


@dataclass
class TaskState:
    """The active form, the intent that started it and the slots that name a task."""

    loop: str | None = None
    loop_intent: str | None = None
    slots: dict[str, Any] = field(default_factory=dict)

    def copy(self) -> TaskState:
        return TaskState(self.loop, self.loop_intent, dict(self.slots))

    def task(self) -> str | None:
        return form_task(self.loop, self.slots, self.loop_intent)

    def apply(self, event: Mapping[str, Any], last_intent: str | None) -> None:
        """Follow ``active_loop`` and the task slots (``last_intent``: the customer's)."""
        kind = event.get("event")
        if kind == "active_loop":
            name = event.get("name")
            if name is None:
                self.loop = None
            elif name != self.loop:
                self.loop, self.loop_intent = str(name), last_intent
        elif kind == "slot" and event.get("name") in TRACKED_SLOTS:
            value = event.get("value")
            if value in (None, ""):
                self.slots.pop(str(event["name"]), None)
            else:
                self.slots[str(event["name"])] = str(value)

    def dump(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def load(cls, raw: Any) -> TaskState:
        raw = raw if isinstance(raw, Mapping) else {}
        slots = raw.get("slots")
        return cls(
            loop=raw.get("loop"),
            loop_intent=raw.get("loop_intent"),
            slots=dict(slots) if isinstance(slots, Mapping) else {},
        )
