"""Turning Rasa's bot messages into WeChat replies, and button answers back into payloads.

* One passive reply per user message: all bot messages merged into one text;
  buttons become numbered options ("1. 查余额"), since passive replies have no
  buttons.
* Customer-service (客服) messages: texts merged, buttons as a ``msgmenu``
  (tappable; the tap comes back as a text message with ``bizmsgmenuid``) or as
  numbered options, everything squeezed into the per-message quota.
* Line breaks are kept as written (WeChat shows ``\n`` in text messages, passive
  or customer-service); list lines (``1. ``, ``• ``, ``- ``, ``▪ ``) stay one per
  line, and list items sent as separate bot messages are merged into one list.
  When a reply also has numbered options, numbered lines in its text become
  ``• `` lines, so that a number the customer replies with means one thing only.
* Text is split by UTF-8 bytes (WeChat's limit is 2048 bytes, not characters),
  at a line break whenever the piece has one, and ``]]>`` is escaped before it
  goes into a CDATA section (wechatpy does not).
* :class:`OptionMemory` remembers the options last shown to each user, so that
  "1", "２", "1." or the option's text maps back to the button payload.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from .dedupe import UserMemory

TEXT_LIMIT_BYTES = 2048
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# A list line: "1. ", "• ", "- " or "▪ " and then text.
_LIST_LINE = re.compile(r"^[ \t\u3000]*(?:\d{1,3}\.|[•\-▪])[ \t\u3000]+\S")
_NUMBERED_LINE = re.compile(r"^([ \t\u3000]*)\d{1,3}\.[ \t\u3000]+(?=\S)", re.M)
_OPTION_ANSWER = re.compile(r"^\s*(?:第\s*)?(\d{1,2})\s*(?:[.、。)）]|个|项)?\s*$")
ELLIPSIS = "…"


def escape_cdata(text: str) -> str:
    """Make ``text`` safe inside ``<![CDATA[...]]>`` (R6: wechatpy does not escape)."""
    return _CONTROL.sub("", text).replace("]]>", "]]]]><![CDATA[>")


def clean_text(text: str) -> str:
    """Drop control characters XML 1.0 cannot carry; line breaks become ``\n``
    and lose their trailing spaces."""
    text = _CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
    return "\n".join(line.rstrip() for line in text.split("\n"))


def is_list_line(line: str) -> bool:
    """True for a line that is a list item (``1. ``, ``• ``, ``- `` or ``▪ ``)."""
    return _LIST_LINE.match(line) is not None


def bulleted(text: str) -> str:
    """Numbered lines ("1. 账户") as bullets ("• 账户"), for replies whose options
    are numbered too."""
    return _NUMBERED_LINE.sub(lambda m: f"{m.group(1)}• ", text)


def join_texts(texts: list[str]) -> str:
    """Texts of separate bot messages in one: a blank line between them, except
    that list items sent one message each stay one list."""
    joined = ""
    for text in texts:
        if not text:
            continue
        if not joined:
            joined = text
            continue
        last = joined.rsplit("\n", 1)[-1]
        first = text.split("\n", 1)[0]
        joined += ("\n" if is_list_line(last) and is_list_line(first) else "\n\n") + text
    return joined


def utf8_len(text: str) -> int:
    return len(text.encode("utf-8"))


def truncate_utf8(text: str, limit: int, suffix: str = ELLIPSIS) -> str:
    """``text`` cut to at most ``limit`` UTF-8 bytes (with ``suffix`` when cut)."""
    if utf8_len(text) <= limit:
        return text
    budget = limit - utf8_len(suffix)
    cut = text.encode("utf-8")[: max(0, budget)].decode("utf-8", errors="ignore")
    return cut + suffix


def split_utf8(text: str, limit: int = TEXT_LIMIT_BYTES) -> list[str]:
    """Split ``text`` into pieces of at most ``limit`` UTF-8 bytes.

    Never inside a line when the piece has a line break: at a paragraph break
    if one falls in the last two thirds of the piece, else at its last line
    break. A single line longer than ``limit`` is cut at a sentence end, then
    at a comma or space, and never inside a character. Empty input gives no
    pieces.
    """
    text = text.strip()
    if not text:
        return []
    pieces: list[str] = []
    while utf8_len(text) > limit:
        head = text.encode("utf-8")[:limit].decode("utf-8", errors="ignore")
        cut = -1
        paragraph = head.rfind("\n\n")
        line = head.rfind("\n")
        if paragraph > len(head) // 3:
            cut = paragraph + 2
        elif line > 0:
            cut = line + 1
        else:
            for sep in ("。", "！", "？", "；", ". ", "，", " "):
                pos = head.rfind(sep)
                if pos > len(head) // 3:
                    cut = pos + len(sep)
                    break
        if cut <= 0:
            cut = len(head)
        piece = text[:cut].rstrip()
        if piece:
            pieces.append(piece)
        text = text[cut:].lstrip()
    if text:
        pieces.append(text)
    return pieces


@dataclass(frozen=True)
class Option:
    """One button: what the customer sees and the payload Rasa gets."""

    title: str
    payload: str
    url: str | None = None


@dataclass
class Block:
    """A bot message reduced to text and options."""

    text: str = ""
    options: list[Option] = field(default_factory=list)


def _button(raw: Any) -> Option | None:
    if not isinstance(raw, dict):
        return None
    title = clean_text(str(raw.get("title") or "")).strip()
    payload = str(raw.get("payload") or "").strip()
    url = raw.get("url")
    if raw.get("type") == "web_url" and url:
        return Option(title or str(url), "", str(url))
    if not title:
        return None
    return Option(title, payload or title)


def blocks_of(messages: list[dict[str, Any]]) -> list[Block]:
    """Rasa bot messages (``text``, ``buttons``/``quick_replies``, ``image``,
    ``attachment``, ``custom``) as text blocks with options."""
    blocks: list[Block] = []
    for message in messages:
        parts: list[str] = []
        if message.get("text"):
            parts.append(clean_text(str(message["text"])).strip())
        if message.get("image"):
            parts.append(f"图片：{message['image']}")
        if message.get("attachment"):
            parts.append(f"附件：{message['attachment']}")
        custom = message.get("custom")
        if isinstance(custom, dict) and isinstance(custom.get("text"), str):
            parts.append(clean_text(custom["text"]).strip())
        raw_buttons = message.get("buttons") or message.get("quick_replies") or []
        options = [o for o in (_button(b) for b in raw_buttons) if o is not None]
        text = "\n".join(p for p in parts if p)
        if text or options:
            blocks.append(Block(text, options))
    return blocks


def numbered(options: list[Option], start: int, hint: str) -> str:
    """ "请回复序号选择：\n1. 查余额\n2. 转账" (links shown with their URL)."""
    lines = [hint] if hint else []
    for i, option in enumerate(options, start):
        if option.url:
            lines.append(f"{i}. {option.title}：{option.url}")
        else:
            lines.append(f"{i}. {option.title}")
    return "\n".join(lines)


@dataclass
class Rendered:
    """What to send, plus the options to remember (numbered from 1, in order)."""

    options: list[Option] = field(default_factory=list)


@dataclass
class PassiveRendered(Rendered):
    text: str = ""


@dataclass
class KfRendered(Rendered):
    payloads: list[dict[str, Any]] = field(default_factory=list)


def render_text(blocks: list[Block], hint: str) -> tuple[str, list[Option]]:
    """All blocks as one text; options numbered continuously across blocks (and
    then the texts' own numbered lines shown as bullets)."""
    chunks: list[str] = []
    options: list[Option] = []
    numbering = any(not o.url for block in blocks for o in block.options)
    for block in blocks:
        body = bulleted(block.text) if numbering else block.text
        choosable = [o for o in block.options if not o.url]
        links = [o for o in block.options if o.url]
        if choosable:
            menu = numbered(choosable, len(options) + 1, hint)
            body = f"{body}\n{menu}" if body else menu
            options.extend(choosable)
        for link in links:
            body = f"{body}\n{link.title}：{link.url}" if body else f"{link.title}：{link.url}"
        if body:
            chunks.append(body)
    return join_texts(chunks), options


def render_passive(messages: list[dict[str, Any]], hint: str) -> PassiveRendered:
    """One merged text for the passive reply (the caller splits it if too long)."""
    text, options = render_text(blocks_of(messages), hint)
    return PassiveRendered(options=options, text=text)


def _text_payloads(openid: str, text: str) -> list[dict[str, Any]]:
    return [
        {"touser": openid, "msgtype": "text", "text": {"content": piece}}
        for piece in split_utf8(text)
    ]


def render_kf(
    openid: str,
    messages: list[dict[str, Any]],
    *,
    hint: str,
    use_msgmenu: bool = True,
    quota: int = 5,
) -> KfRendered:
    """Customer-service payloads for one turn, at most ``quota`` of them.

    With ``use_msgmenu`` each message with buttons becomes a ``msgmenu`` whose
    head carries the text before it; other text is merged. If that needs more
    sends than ``quota``, everything is rendered as text with numbered options
    and split by bytes; the last allowed piece is truncated if even that is
    too long.
    """
    blocks = blocks_of(messages)
    if not blocks:
        return KfRendered()
    quota = max(1, quota)
    if use_msgmenu:
        payloads: list[dict[str, Any]] = []
        options: list[Option] = []
        pending: list[str] = []
        for block in blocks:
            choosable = [o for o in block.options if not o.url]
            links = [o for o in block.options if o.url]
            text = block.text
            for link in links:
                text = f'{text}\n<a href="{link.url}">{link.title}</a>' if text else link.title
            if not choosable:
                if text:
                    pending.append(text)
                continue
            head = join_texts([*pending, text])
            if utf8_len(head) > TEXT_LIMIT_BYTES - 256:
                payloads.extend(_text_payloads(openid, join_texts(pending)))
                head = truncate_utf8(text, TEXT_LIMIT_BYTES - 256)
            pending = []
            items = []
            for option in choosable:
                options.append(option)
                items.append({"id": str(len(options)), "content": truncate_utf8(option.title, 64)})
            payloads.append(
                {
                    "touser": openid,
                    "msgtype": "msgmenu",
                    "msgmenu": {"head_content": head, "list": items, "tail_content": ""},
                }
            )
        if pending:
            payloads.extend(_text_payloads(openid, join_texts(pending)))
        if len(payloads) <= quota:
            return KfRendered(options=options, payloads=payloads)
    text, options = render_text(blocks, hint)
    pieces = split_utf8(text)
    if len(pieces) > quota:
        rest = "\n\n".join(pieces[quota - 1 :])
        pieces = [*pieces[: quota - 1], truncate_utf8(rest, TEXT_LIMIT_BYTES)]
    payloads = [{"touser": openid, "msgtype": "text", "text": {"content": p}} for p in pieces]
    return KfRendered(options=options, payloads=payloads)


def as_text_payload(payload: dict[str, Any], hint: str) -> dict[str, Any]:
    """A ``msgmenu`` payload rewritten as text with numbered options (when the
    account may not send msgmenu: 40200/48001)."""
    if payload.get("msgtype") != "msgmenu":
        return payload
    menu = payload["msgmenu"]
    lines = [bulleted(menu.get("head_content") or "")]
    lines.append(hint)
    for item in menu.get("list", []):
        lines.append(f"{item['id']}. {item['content']}")
    if menu.get("tail_content"):
        lines.append(menu["tail_content"])
    content = truncate_utf8("\n".join(line for line in lines if line), TEXT_LIMIT_BYTES)
    return {"touser": payload["touser"], "msgtype": "text", "text": {"content": content}}


def _normalise(text: str) -> str:
    return unicodedata.normalize("NFKC", text).strip()


class OptionMemory:
    """The options last shown to each user, for one answer, with a TTL."""

    topic = "options"

    def __init__(self, memory: UserMemory, ttl: float = 1800) -> None:
        self.memory = memory
        self.ttl = ttl

    async def remember(self, user: str, options: list[Option]) -> None:
        if options:
            data = [{"title": o.title, "payload": o.payload} for o in options]
            await self.memory.put(self.topic, user, data, self.ttl)
        else:
            await self.memory.forget(self.topic, user)

    async def resolve(self, user: str, text: str, menu_id: str | None = None) -> str | None:
        """The payload the answer picks, or None. The options are used up either way."""
        data = await self.memory.get(self.topic, user)
        if not data:
            return None
        await self.memory.forget(self.topic, user)
        options = [o for o in data if isinstance(o, dict) and o.get("payload")]
        if menu_id and str(menu_id).isdigit() and 1 <= int(menu_id) <= len(options):
            return str(options[int(menu_id) - 1]["payload"])
        answer = _normalise(text or "")
        match = _OPTION_ANSWER.match(answer)
        if match and 1 <= int(match.group(1)) <= len(options):
            return str(options[int(match.group(1)) - 1]["payload"])
        for option in options:
            if _normalise(str(option.get("title", ""))) == answer and answer:
                return str(option["payload"])
        return None
