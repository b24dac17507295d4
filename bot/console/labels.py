"""Chinese names of the domain's technical names, for everything staff read.

One table, ``domain/labels.yml`` (next to the domain files; Rasa skips it), with
sections ``intents`` (``faq/<topic>`` retrieval intents included), ``actions``,
``defaults`` (labels by name prefix: ``utter``, ``validate``), ``forms``, ``slots``,
``entities``, ``slot_values``, ``handoff_reasons``, ``urgent_reasons`` and ``events``.
A name that is missing is shown as it is: labels never fail a page.

Customer button payloads (``/greet``, ``/inform{"card_last4": "1234"}``) are shown as
the button's title (see :func:`payload_text`), never raw.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from bot.settings import PROJECT_ROOT

logger = logging.getLogger(__name__)

LABELS_FILE = PROJECT_ROOT / "domain" / "labels.yml"
SECTIONS = (
    "intents",
    "actions",
    "defaults",
    "forms",
    "slots",
    "entities",
    "slot_values",
    "handoff_reasons",
    "urgent_reasons",
    "events",
)
# Rasa's payload syntax: "/intent", "/intent{json entities}" (optionally "@confidence").
_PAYLOAD = re.compile(r"^/([A-Za-z0-9_][A-Za-z0-9_/.\-]*)(?:@[0-9.]+)?(\{.*\})?\s*$", re.DOTALL)
YES_NO = {True: "是", False: "否"}


class Labels:
    """Lookups into the label table; every lookup falls back to the name itself."""

    def __init__(self, data: Mapping[str, Any] | None = None) -> None:
        raw = data if isinstance(data, Mapping) else {}
        self.tables: dict[str, dict[str, str]] = {}
        for section in SECTIONS:
            table = raw.get(section)
            self.tables[section] = (
                {str(k): str(v) for k, v in table.items() if v is not None}
                if isinstance(table, Mapping)
                else {}
            )

    @classmethod
    def load(cls, path: Path = LABELS_FILE) -> Labels:
        """Read ``path`` (``labels:`` at the top); an unreadable file gives empty tables."""
        try:
            document = YAML(typ="safe").load(path.read_text(encoding="utf-8")) or {}
        except (OSError, ValueError, YAMLError) as exc:
            logger.error("labels file %s unreadable: %s", path, exc)
            document = {}
        return cls(document.get("labels") if isinstance(document, Mapping) else None)

    # -- lookups -------------------------------------------------------------------

    def _get(self, section: str, name: Any) -> str | None:
        if name is None or name == "":
            return None
        return self.tables.get(section, {}).get(str(name))

    def has(self, section: str, name: str) -> bool:
        return str(name) in self.tables.get(section, {})

    def intent(self, name: Any) -> str:
        """``转账`` for ``transfer_money``; ``faq/<topic>`` by its own entry."""
        if name is None or name == "":
            return ""
        return self._get("intents", name) or str(name)

    def form(self, name: Any) -> str:
        if name is None or name == "":
            return ""
        return self._get("forms", name) or str(name)

    def action(self, name: Any) -> str:
        """Actions, then forms (a form runs as an action), then a label by prefix."""
        if name is None or name == "":
            return ""
        text = str(name)
        found = self._get("actions", text)
        if found:
            return found
        form = self._get("forms", text)
        if form:
            return f"{form}表单"
        prefix = text.split("_", 1)[0]
        return self._get("defaults", prefix) or text

    def slot(self, name: Any) -> str:
        if name is None or name == "":
            return ""
        return self._get("slots", name) or str(name)

    def entity(self, name: Any) -> str:
        if name is None or name == "":
            return ""
        return self._get("entities", name) or self._get("slots", name) or str(name)

    def handoff_reason(self, code: Any) -> str:
        if code is None or code == "":
            return ""
        return self._get("handoff_reasons", code) or str(code)

    def urgent_reason(self, code: Any) -> str:
        if code is None or code == "":
            return ""
        return self._get("urgent_reasons", code) or str(code)

    def event(self, name: Any) -> str:
        if name is None or name == "":
            return ""
        return self._get("events", name) or str(name)

    def task(self, name: Any) -> str:
        """An interrupted task: an intent, or (older summaries) a form."""
        if name is None or name == "":
            return ""
        return self._get("intents", name) or self._get("forms", name) or str(name)

    def slot_value(self, slot: Any, value: Any) -> str:
        """A slot's value as staff read it (not masked: callers mask customer data)."""
        if value is None:
            return "（空）"
        if isinstance(value, bool):
            return YES_NO[value]
        section = self._get("slot_values", slot)
        if section and isinstance(value, str):
            return self._get(section, value) or value
        if isinstance(value, (list, tuple)):
            return "、".join(self.slot_value(slot, item) for item in value)
        if isinstance(value, (dict,)):
            return json.dumps(value, ensure_ascii=False)
        return str(value)

    def names(self, section: str) -> set[str]:
        return set(self.tables.get(section, {}))


_lock = threading.Lock()
_cache: dict[Path, tuple[float, Labels]] = {}


def get_labels(path: Path = LABELS_FILE) -> Labels:
    """The label table, re-read when the file changed (cheap: one ``stat``)."""
    try:
        mtime = path.stat().st_mtime
    except OSError:
        mtime = -1.0
    with _lock:
        cached = _cache.get(path)
        if cached is not None and cached[0] == mtime:
            return cached[1]
        table = Labels.load(path)
        _cache[path] = (mtime, table)
        return table


# --- button payloads ------------------------------------------------------------------


def parse_payload(text: Any) -> tuple[str, dict[str, Any]] | None:
    """``("inform", {"card_last4": "1234"})`` for ``/inform{"card_last4": "1234"}``;
    ``None`` when ``text`` is not a payload."""
    if not isinstance(text, str):
        return None
    match = _PAYLOAD.match(text.strip())
    if not match:
        return None
    entities: dict[str, Any] = {}
    if match.group(2):
        try:
            parsed = json.loads(match.group(2))
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            entities = parsed
    return match.group(1), entities


def _same_payload(a: Any, b: Any) -> bool:
    if not isinstance(a, str) or not isinstance(b, str):
        return False
    if a.strip() == b.strip():
        return True
    pa, pb = parse_payload(a), parse_payload(b)
    return pa is not None and pa == pb


def button_title(payload: Any, buttons: Iterable[Any] | None) -> str | None:
    """The title of the button in ``buttons`` whose payload is ``payload``."""
    for button in buttons or []:
        if isinstance(button, Mapping) and _same_payload(button.get("payload"), payload):
            title = button.get("title")
            if isinstance(title, str) and title.strip():
                return title.strip()
    return None


def payload_text(
    payload: str, buttons: Iterable[Any] | None, table: Labels | None = None
) -> str | None:
    """What staff read for a customer payload message: the clicked button's title,
    else the intent's label with the values it carries (``提供信息：卡号尾号 1234``).
    ``None`` when ``payload`` is no payload (the message is shown as typed)."""
    parsed = parse_payload(payload)
    if parsed is None:
        return None
    title = button_title(payload, buttons)
    if title:
        return title
    table = table or get_labels()
    intent, entities = parsed
    text = table.intent(intent)
    values = [
        f"{table.entity(name)} {value}"
        for name, value in entities.items()
        if value not in (None, "", [], {})
    ]
    return f"{text}：{'，'.join(values)}" if values else text


def setup_jinja(env: Any) -> None:
    """Filters for templates: ``intent_label``, ``action_label``, ``slot_label``, ...

    They read the table on each call (re-read only when the file changed).
    """
    env.filters["intent_label"] = lambda name: get_labels().intent(name)
    env.filters["action_label"] = lambda name: get_labels().action(name)
    env.filters["form_label"] = lambda name: get_labels().form(name)
    env.filters["slot_label"] = lambda name: get_labels().slot(name)
    env.filters["entity_label"] = lambda name: get_labels().entity(name)
    env.filters["task_label"] = lambda name: get_labels().task(name)
    env.filters["handoff_reason_label"] = lambda code: get_labels().handoff_reason(code)
    env.filters["urgent_reason_label"] = lambda code: get_labels().urgent_reason(code)
    env.filters["event_label"] = lambda name: get_labels().event(name)
