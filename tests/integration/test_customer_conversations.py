"""Customer conversations written as data (tests/e2e/*.yml), played against the real stack.

Every conversation in every YAML file of ``tests/e2e/`` is one pytest case, id
``<file stem>::<conversation name>``. The format is documented in tests/e2e/README.md.
Per conversation: the sandbox bank is reset to its demo state (``POST /sandbox/reset``),
its clock is set (``POST /sandbox/clock``), a fresh REST sender plays the turns, each
reply is checked, and afterwards the bank's state is checked through its API.

Run only these:  .venv/bin/python -m pytest -q tests/integration/test_customer_conversations.py
One file:        ... -k "cards::"      One conversation: ... -k "cards::stolen-card-freeze-first"
"""

from __future__ import annotations

import asyncio
import re
import uuid
from dataclasses import dataclass, field, replace
from datetime import date, timedelta, timezone
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, NoReturn

import aiohttp
import pytest
import yaml

from bot.services.accounts import AccountsClient
from bot.services.branches import BranchesClient
from bot.services.errors import ServiceError
from bot.services.support import SupportClient

pytestmark = pytest.mark.integration

E2E_DIR = Path(__file__).resolve().parents[1] / "e2e"
DEFAULT_CLOCK = "2026-11-18T10:00:00+08:00"
DEFAULT_PHONE = "13800138000"
# The demo customers; a card or account named in ``bank:`` is looked up in these.
DEMO_PHONES = ("13800138000", "13900139000")
# The REST channel's user is a "web" chat user for the bank (tickets are filed under it).
BANK_CHANNEL = "web"
REPLY_TIMEOUT = aiohttp.ClientTimeout(total=90)

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9-]*$")
CONVERSATION_KEYS = {"name", "title", "covers", "clock", "phone", "note", "never", "turns", "bank"}
TURN_SENDS = ("user", "click")
TURN_CHECKS = ("expect", "expect_any", "expect_re", "forbid")
TURN_KEYS = {*TURN_SENDS, *TURN_CHECKS, "metadata", "advance", "note"}
BANK_KEYS = {"card", "balance", "transfers", "tickets", "queue_tickets"}
CARD_STATES = {"active", "frozen", "lost"}
TICKET_KINDS = {"complaint", "handoff", "dispute"}
COVERS = {"1", "2", "3", "4", "5", "6", "7", "8", "basics", "midform"}
COUNT_RE = re.compile(r"^\s*(==|>=|<=|>|<)?\s*(\d+)\s*$")
# {sum:2026-10:消费} -> the total the bank's own transactions give, e.g. "2,855.40".
SUM_RE = re.compile(r"\{sum:([^{}]*)\}")
MONTH_RE = re.compile(r"^(\d{4})-(\d{2})$")
RANGE_RE = re.compile(r"^(\d{4}-\d{2}-\d{2})\.\.(\d{4}-\d{2}-\d{2})$")
KINDS = {"消费", "缴费", "转账", "收入"}
BEIJING = timezone(timedelta(hours=8))
SPACES = re.compile(r"[ \t\u3000\u00a0]+")


# --------------------------------------------------------------------------- loading


class FormatError(Exception):
    """A conversation file that does not follow tests/e2e/README.md."""


@dataclass
class Turn:
    number: int
    user: str | None
    click: str | None
    expect: list[str]
    expect_any: list[list[str]]  # groups: at least one of each group
    expect_re: list[str]
    forbid: list[str]
    metadata: dict | None
    advance: int | float | None


@dataclass
class Conversation:
    file: str
    name: str
    title: str
    covers: list[str]
    clock: str
    phone: str
    never: list[str]
    turns: list[Turn]
    bank: dict[str, Any]

    @property
    def id(self) -> str:
        return f"{self.file}::{self.name}"

    @property
    def uses_sums(self) -> bool:
        texts = list(self.never)
        for turn in self.turns:
            texts += turn.expect + turn.forbid + [t for g in turn.expect_any for t in g]
        return any(SUM_RE.search(text) for text in texts)


def _strings(value: Any, where: str) -> list[str]:
    """A string or a list of strings (numbers allowed, as text)."""
    if value is None:
        return []
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        return [str(value)]
    if isinstance(value, list) and all(
        isinstance(v, (str, int, float)) and not isinstance(v, bool) for v in value
    ):
        return [str(v) for v in value]
    raise FormatError(f"{where}: expected a string or a list of strings, got {value!r}")


@dataclass(frozen=True)
class SumSpec:
    """``{sum:PERIOD[:FILTER]...}``: the absolute total of the demo customer's transactions
    in PERIOD (``2026-10`` or ``2026-10-01..2026-10-15``, Beijing dates) that pass every
    FILTER: ``out`` (default) or ``in``; kinds ``消费``, ``缴费``, ``转账``, ``收入`` (joined
    with ``+``); ``merchant=美团``; ``to=李娜`` (counterparty contains); ``account=1234``."""

    start: date
    end: date
    inflow: bool
    kinds: frozenset[str]
    merchant: str | None
    counterparty: str | None
    account: str | None

    @classmethod
    def parse(cls, inner: str, where: str) -> SumSpec:
        period, *filters = [part.strip() for part in inner.split(":")]
        month, span = MONTH_RE.match(period), RANGE_RE.match(period)
        try:
            if month:
                year, mon = int(month.group(1)), int(month.group(2))
                start = date(year, mon, 1)
                end = date(year + mon // 12, mon % 12 + 1, 1) - timedelta(days=1)
            elif span:
                start, end = date.fromisoformat(span.group(1)), date.fromisoformat(span.group(2))
            else:
                raise ValueError(period)
        except ValueError as exc:
            raise FormatError(
                f"{where}: {{sum:{inner}}}: the period is YYYY-MM or YYYY-MM-DD..YYYY-MM-DD"
            ) from exc
        inflow, kinds = False, set()
        merchant = counterparty = account = None
        for item in filters:
            if item in ("in", "out"):
                inflow = item == "in"
            elif item.startswith("merchant="):
                merchant = item.split("=", 1)[1]
            elif item.startswith("to="):
                counterparty = item.split("=", 1)[1]
            elif item.startswith("account="):
                account = item.split("=", 1)[1]
            elif item and set(item.split("+")) <= KINDS:
                kinds |= set(item.split("+"))
            else:
                raise FormatError(f"{where}: {{sum:{inner}}}: unknown filter {item!r}")
        if kinds == {"收入"}:
            inflow = True
        return cls(start, end, inflow, frozenset(kinds), merchant, counterparty, account)

    def total(self, transactions: list) -> Decimal:
        total = Decimal("0")
        for t in transactions:
            day = t.posted_at.astimezone(BEIJING).date()
            if not self.start <= day <= self.end or (t.amount > 0) != self.inflow:
                continue
            if self.kinds and t.kind not in self.kinds:
                continue
            if self.merchant and self.merchant not in (t.merchant or ""):
                continue
            if self.counterparty and self.counterparty not in (t.counterparty or ""):
                continue
            if self.account and t.account_last4 != self.account:
                continue
            total += abs(t.amount)
        return total


def _sum_specs(texts: list[str], where: str) -> None:
    for text in texts:
        for match in SUM_RE.finditer(text):
            SumSpec.parse(match.group(1), where)


def _groups(value: Any, where: str) -> list[list[str]]:
    """``expect_any``: a list of alternatives, or a list of such lists (each must match)."""
    if isinstance(value, list) and value and all(isinstance(v, list) for v in value):
        return [_strings(v, where) for v in value if v]
    strings = _strings(value, where)
    return [strings] if strings else []


def _count(value: Any, where: str) -> str:
    text = str(value)
    if isinstance(value, bool) or not COUNT_RE.match(text):
        raise FormatError(f"{where}: expected a count like 1, '>=1' or '<=1', got {value!r}")
    return text


def _parse_turn(raw: Any, number: int, where: str) -> Turn:
    where = f"{where}, turn {number}"
    if not isinstance(raw, dict):
        raise FormatError(f"{where}: a turn is a mapping with `user:` or `click:`")
    unknown = set(raw) - TURN_KEYS
    if unknown:
        raise FormatError(f"{where}: unknown keys {sorted(unknown)} (allowed: {sorted(TURN_KEYS)})")
    sends = [k for k in TURN_SENDS if k in raw]
    if len(sends) != 1:
        raise FormatError(f"{where}: exactly one of `user:` or `click:` is required")
    text = raw[sends[0]]
    if isinstance(text, bool) or not isinstance(text, (str, int, float)) or str(text) == "":
        raise FormatError(f"{where}: `{sends[0]}:` must be non-empty text")
    for key in ("expect_re",):
        for pattern in _strings(raw.get(key), f"{where}.{key}"):
            try:
                re.compile(pattern)
            except re.error as exc:
                raise FormatError(f"{where}.{key}: bad regex {pattern!r}: {exc}") from exc
    metadata = raw.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        raise FormatError(f"{where}.metadata: expected a mapping")
    advance = raw.get("advance")
    if advance is not None and (
        isinstance(advance, bool) or not isinstance(advance, (int, float)) or advance < 0
    ):
        raise FormatError(f"{where}.advance: minutes, a number >= 0")
    for key in ("expect", "forbid"):
        _sum_specs(_strings(raw.get(key), f"{where}.{key}"), f"{where}.{key}")
    for group in _groups(raw.get("expect_any"), f"{where}.expect_any"):
        _sum_specs(group, f"{where}.expect_any")
    return Turn(
        number=number,
        user=str(text) if sends[0] == "user" else None,
        click=str(text) if sends[0] == "click" else None,
        expect=_strings(raw.get("expect"), f"{where}.expect"),
        expect_any=_groups(raw.get("expect_any"), f"{where}.expect_any"),
        expect_re=_strings(raw.get("expect_re"), f"{where}.expect_re"),
        forbid=_strings(raw.get("forbid"), f"{where}.forbid"),
        metadata=metadata,
        advance=advance,
    )


def _parse_bank(raw: Any, where: str) -> dict[str, Any]:
    where = f"{where}.bank"
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise FormatError(f"{where}: expected a mapping")
    unknown = set(raw) - BANK_KEYS
    if unknown:
        raise FormatError(f"{where}: unknown keys {sorted(unknown)} (allowed: {sorted(BANK_KEYS)})")
    bank: dict[str, Any] = {}
    if "card" in raw:
        cards = raw["card"]
        if not isinstance(cards, dict) or not cards:
            raise FormatError(f"{where}.card: a mapping of last 4 digits -> state")
        for last4, state in cards.items():
            if not re.fullmatch(r"\d{4}", str(last4)) or state not in CARD_STATES:
                raise FormatError(
                    f"{where}.card: {last4!r}: {state!r} (last 4 digits -> {sorted(CARD_STATES)};"
                    " quote the digits)"
                )
        bank["card"] = {str(k): v for k, v in cards.items()}
    if "balance" in raw:
        balances = raw["balance"]
        if not isinstance(balances, dict) or not balances:
            raise FormatError(f"{where}.balance: a mapping of last 4 digits -> amount")
        parsed = {}
        for last4, amount in balances.items():
            try:
                parsed[str(last4)] = Decimal(str(amount).replace(",", ""))
            except InvalidOperation as exc:
                raise FormatError(f"{where}.balance: {last4!r}: bad amount {amount!r}") from exc
            if not re.fullmatch(r"\d{4}", str(last4)):
                raise FormatError(f"{where}.balance: {last4!r} is not 4 digits (quote it)")
        bank["balance"] = parsed
    if "transfers" in raw:
        spec = raw["transfers"]
        if not isinstance(spec, dict):
            spec = {"count": spec}
        unknown = set(spec) - {"count", "to", "amount"}
        if unknown or "count" not in spec:
            raise FormatError(f"{where}.transfers: a count, or {{count, to?, amount?}}")
        out: dict[str, Any] = {"count": _count(spec["count"], f"{where}.transfers.count")}
        if "to" in spec:
            out["to"] = str(spec["to"])
        if "amount" in spec:
            out["amount"] = Decimal(str(spec["amount"]).replace(",", ""))
        bank["transfers"] = out
    if "tickets" in raw:
        tickets = raw["tickets"]
        if not isinstance(tickets, dict) or set(tickets) - TICKET_KINDS or not tickets:
            raise FormatError(f"{where}.tickets: a mapping of {sorted(TICKET_KINDS)} -> count")
        bank["tickets"] = {k: _count(v, f"{where}.tickets.{k}") for k, v in tickets.items()}
    if "queue_tickets" in raw:
        spec = raw["queue_tickets"]
        if not isinstance(spec, dict):
            spec = {"count": spec}
        unknown = set(spec) - {"count", "branch", "service_type"}
        if unknown or "count" not in spec:
            raise FormatError(
                f"{where}.queue_tickets: a count, or {{count, branch?, service_type?}}"
            )
        queue: dict[str, Any] = {"count": _count(spec["count"], f"{where}.queue_tickets.count")}
        for key in ("branch", "service_type"):
            if key in spec:
                queue[key] = str(spec[key])
        bank["queue_tickets"] = queue
    return bank


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key twice in one mapping (plain YAML keeps the last one,
    which would silently drop a check)."""


def _mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    keys = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in keys:
            raise FormatError(f"line {key_node.start_mark.line + 1}: the key {key!r} appears twice")
        keys.add(key)
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def parse_file(path: Path) -> list[Conversation]:
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)  # noqa: S506
    except FormatError as exc:
        raise FormatError(f"{path.name}: {exc}") from exc
    where = path.name
    if not isinstance(data, dict) or set(data) - {"conversations", "defaults"}:
        raise FormatError(f"{where}: top level must be a mapping with `conversations:`")
    defaults = data.get("defaults") or {}
    if not isinstance(defaults, dict) or set(defaults) - {"clock", "phone"}:
        raise FormatError(f"{where}.defaults: only `clock` and `phone`")
    raw_list = data.get("conversations")
    if not isinstance(raw_list, list) or not raw_list:
        raise FormatError(f"{where}: `conversations:` must be a non-empty list")
    seen: set[str] = set()
    conversations = []
    for index, raw in enumerate(raw_list, 1):
        if not isinstance(raw, dict):
            raise FormatError(f"{where}: conversation #{index} is not a mapping")
        name = raw.get("name")
        cwhere = f"{where}: {name or f'conversation #{index}'}"
        if not isinstance(name, str) or not NAME_RE.match(name):
            raise FormatError(f"{cwhere}: `name:` is required, lower-case ascii words-with-dashes")
        if name in seen:
            raise FormatError(f"{cwhere}: the name is used twice in this file")
        seen.add(name)
        unknown = set(raw) - CONVERSATION_KEYS
        if unknown:
            raise FormatError(
                f"{cwhere}: unknown keys {sorted(unknown)} (allowed: {sorted(CONVERSATION_KEYS)})"
            )
        turns_raw = raw.get("turns")
        if not isinstance(turns_raw, list) or not turns_raw:
            raise FormatError(f"{cwhere}: `turns:` must be a non-empty list")
        turns = [_parse_turn(t, i, cwhere) for i, t in enumerate(turns_raw, 1)]
        if turns[0].click is not None:
            raise FormatError(f"{cwhere}: the first turn cannot be a click")
        covers = [str(c) for c in _strings(raw.get("covers"), f"{cwhere}.covers")]
        if set(covers) - COVERS:
            raise FormatError(f"{cwhere}.covers: use {sorted(COVERS)}")
        clock = str(raw.get("clock") or defaults.get("clock") or DEFAULT_CLOCK)
        phone = str(raw.get("phone") or defaults.get("phone") or DEFAULT_PHONE)
        if not re.fullmatch(r"1\d{10}", phone):
            raise FormatError(f"{cwhere}.phone: 11 digits")
        conversations.append(
            Conversation(
                file=path.stem,
                name=name,
                title=str(raw.get("title") or ""),
                covers=covers,
                clock=clock,
                phone=phone,
                never=_strings(raw.get("never"), f"{cwhere}.never"),
                turns=turns,
                bank=_parse_bank(raw.get("bank"), cwhere),
            )
        )
    for conversation in conversations:
        _sum_specs(conversation.never, f"{where}: {conversation.name}.never")
    return conversations


def _params() -> list[Any]:
    params = []
    for path in sorted(E2E_DIR.glob("*.yml")) + sorted(E2E_DIR.glob("*.yaml")):
        try:
            conversations = parse_file(path)
        except (FormatError, yaml.YAMLError) as exc:
            params.append(pytest.param(exc, id=f"{path.stem}::FILE-FORMAT-ERROR"))
            continue
        params.extend(pytest.param(c, id=c.id) for c in conversations)
    if not params:
        params.append(pytest.param(FormatError(f"no conversation files in {E2E_DIR}"), id="none"))
    return params


# --------------------------------------------------------------------------- checking


def normalise(text: str) -> str:
    """Spaces (ASCII, full-width, no-break) are ignored when matching."""
    return SPACES.sub("", text)


@dataclass
class Reply:
    messages: list[dict]

    @property
    def texts(self) -> list[str]:
        return [str(m["text"]) for m in self.messages if m.get("text")]

    @property
    def buttons(self) -> list[dict]:
        return [b for m in self.messages for b in (m.get("buttons") or [])]

    @property
    def checked_text(self) -> str:
        """What the checks see: every bot text of the turn, then every button title."""
        return "\n".join(self.texts + [str(b.get("title", "")) for b in self.buttons])

    def render(self) -> str:
        if not self.messages:
            return "    (no reply at all)"
        lines = []
        for message in self.messages:
            for line in str(message.get("text", "")).splitlines() or [""]:
                lines.append(f"    | {line}")
            for button in message.get("buttons") or []:
                lines.append(f"    [button] {button.get('title')!s}  ->  {button.get('payload')!s}")
            other = set(message) - {"text", "buttons", "recipient_id"}
            if other:
                lines.append(f"    (+ {', '.join(sorted(other))})")
        return "\n".join(lines)


def check_reply(turn: Turn, reply: Reply, never: list[str]) -> list[str]:
    seen = normalise(reply.checked_text)
    problems = []
    for want in turn.expect:
        if normalise(want) not in seen:
            problems.append(f"expect: {want!r} is missing")
    for group in turn.expect_any:
        if not any(normalise(w) in seen for w in group):
            problems.append(f"expect_any: none of {group!r} is there")
    for pattern in turn.expect_re:
        if not re.search(pattern, seen):
            problems.append(f"expect_re: /{pattern}/ does not match")
    for bad in turn.forbid:
        if normalise(bad) in seen:
            problems.append(f"forbid: {bad!r} is there")
    for bad in never:
        if normalise(bad) in seen:
            problems.append(f"never (whole conversation): {bad!r} is there")
    return problems


def compare_count(actual: int, spec: str) -> bool:
    match = COUNT_RE.match(spec)
    assert match
    op, number = match.group(1) or "==", int(match.group(2))
    return {
        "==": actual == number,
        ">=": actual >= number,
        "<=": actual <= number,
        ">": actual > number,
        "<": actual < number,
    }[op]


# --------------------------------------------------------------------------- the bank


class SetupProblem(Exception):
    pass


class Bank:
    """The sandbox bank as a test sees it: reset, clock, SMS outbox and probe sessions."""

    def __init__(self, http: aiohttp.ClientSession, bank_url: str) -> None:
        self.http = http
        self.url = bank_url.rstrip("/")
        self.accounts = AccountsClient(self.url, timeout=30)
        self.support = SupportClient(self.url, timeout=30)
        self.branches = BranchesClient(self.url, timeout=30)
        self._tokens: dict[str, str] = {}

    async def close(self) -> None:
        for client in (self.accounts, self.support, self.branches):
            await client.close()

    async def reset(self) -> str | None:
        """Reset to the demo state; a problem (the route is missing today) as text."""
        async with self.http.post(f"{self.url}/sandbox/reset", json={}) as resp:
            body = await resp.text()
            if resp.status == 404:
                return (
                    "the sandbox bank cannot be reset: POST /sandbox/reset answered 404 "
                    "(the route is not there yet), so this conversation ran on whatever state "
                    "earlier conversations left behind"
                )
            if resp.status >= 300:
                return f"POST /sandbox/reset answered {resp.status}: {body[:300]}"
        return None

    async def set_clock(self, when: str) -> None:
        async with self.http.post(f"{self.url}/sandbox/clock", json={"set": when}) as resp:
            if resp.status != 200:
                raise SetupProblem(
                    f"POST /sandbox/clock set={when}: {resp.status} {await resp.text()}"
                )

    async def advance_clock(self, minutes: float) -> None:
        body = {"advance_minutes": minutes}
        async with self.http.post(f"{self.url}/sandbox/clock", json=body) as resp:
            if resp.status != 200:
                raise SetupProblem(f"POST /sandbox/clock {body}: {resp.status} {await resp.text()}")

    async def outbox(self, phone: str) -> list[dict]:
        return await self.accounts.sms_outbox(phone)

    async def sms_seen(self, phone: str) -> set[tuple]:
        """Every message already in the phone's outbox (the sandbox clock can go back, so a
        newer message is recognised by not being here, not by its time)."""
        return {_sms_key(s) for s in await self.outbox(phone)}

    async def token(self, phone: str) -> str:
        """A fresh probe chat user bound to the customer (like balance_of in
        test_rest_conversation.py); retried a few times for the resend cool-down."""
        if phone in self._tokens:
            return self._tokens[phone]
        last: Exception | None = None
        for attempt in range(6):
            user = f"probe-{uuid.uuid4().hex[:10]}"
            try:
                await self.accounts.request_otp(BANK_CHANNEL, user, phone=phone)
                outbox = await self.outbox(phone)
                session = await self.accounts.verify_otp(BANK_CHANNEL, user, str(outbox[0]["code"]))
            except (ServiceError, IndexError, KeyError) as exc:
                last = exc
                await asyncio.sleep(1.0 + attempt)
                continue
            self._tokens[phone] = session.token
            return session.token
        raise SetupProblem(f"could not open a probe session for {phone}: {last!r}")

    async def transactions(self, phone: str) -> list:
        return await self.accounts.list_transactions(await self.token(phone), limit=100)


def _no_sums(texts: list[str]) -> list[str]:
    return texts


def _sums_from(transactions: list):
    """Replaces each {sum:...} by the total of the bank's transactions, as "2,855.40"."""

    def total(match: re.Match) -> str:
        amount = SumSpec.parse(match.group(1), "sum").total(transactions)
        if not amount:
            raise SetupProblem(
                f"{{sum:{match.group(1)}}} matches no transaction of the demo customer "
                "(has the demo data changed?)"
            )
        return f"{amount:,.2f}"

    def expand(texts: list[str]) -> list[str]:
        return [SUM_RE.sub(total, text) for text in texts]

    return expand


def _sms_key(sms: dict) -> tuple:
    return (str(sms.get("sent_at", "")), str(sms.get("code", "")))


# --------------------------------------------------------------------------- playing


@dataclass
class Transcript:
    conversation: Conversation
    lines: list[str] = field(default_factory=list)

    def add(self, number: int, sent: str, reply: Reply) -> None:
        self.lines.append(f"  [{number}] customer: {sent}\n{reply.render()}")

    def render(self) -> str:
        return "\n".join(self.lines) or "  (nothing yet)"


class ConversationFailed(Exception):
    pass


async def play(conversation: Conversation, rest_url: str, bank_url: str) -> None:
    async with aiohttp.ClientSession(timeout=REPLY_TIMEOUT) as http:
        bank = Bank(http, bank_url)
        try:
            await _play(conversation, http, rest_url, bank)
        finally:
            await bank.close()


async def _play(
    conversation: Conversation, http: aiohttp.ClientSession, rest_url: str, bank: Bank
) -> None:
    c = conversation
    # The demo data is seeded against the default clock, whatever the conversation's.
    await bank.set_clock(DEFAULT_CLOCK)
    reset_problem = await bank.reset()
    await bank.set_clock(c.clock)
    baseline_ids: set[str] | None = None
    expand = _no_sums
    if "transfers" in c.bank or c.uses_sums:
        transactions = await bank.transactions(c.phone)
        baseline_ids = {t.transaction_id for t in transactions}
        expand = _sums_from(transactions)
        # The probe just had a code sent to the phone: let the resend cool-down pass so
        # the bot's first code request is not refused because of the test.
        await asyncio.sleep(1.2)
    never = expand(c.never)
    # {otp} must be a code sent during this conversation (not the probe's, not an old one).
    sms_seen = await bank.sms_seen(c.phone)
    sender = f"e2e-{c.file}-{uuid.uuid4().hex[:10]}"
    transcript = Transcript(c)
    previous: Reply | None = None
    total = len(c.turns)

    def fail(turn: Turn, sent: str, problems: list[str], reply: Reply | None) -> NoReturn:
        head = f"{c.id}" + (f" ({c.title})" if c.title else "")
        message = [
            f"{head}: turn {turn.number} of {total} failed",
            f"  sent: {sent}",
            *[f"  - {p}" for p in problems],
        ]
        if reply is not None:
            message += ["  full reply:", reply.render()]
        message += ["  conversation so far:", transcript.render()]
        if reset_problem:
            message.append(f"  NOTE: {reset_problem}")
        raise ConversationFailed("\n".join(message))

    for turn in c.turns:
        if turn.advance:
            await bank.advance_clock(turn.advance)
        if turn.click is not None:
            buttons = previous.buttons if previous else []
            match = next((b for b in buttons if str(b.get("title", "")) == turn.click), None)
            match = match or next(
                (b for b in buttons if normalise(turn.click) in normalise(str(b.get("title", "")))),
                None,
            )
            shown = f"[click {turn.click!r}]"
            if match is None:
                titles = [b.get("title") for b in buttons]
                fail(
                    turn,
                    shown,
                    [
                        f"click: the previous reply has no button with {turn.click!r} "
                        f"in its title (buttons: {titles or 'none'})"
                    ],
                    previous,
                )
            assert match is not None
            message = str(match.get("payload") or match.get("title"))
            sent = f"[click {match.get('title')!r} -> {message}]"
        else:
            assert turn.user is not None
            message = turn.user
            if "{otp}" in message or "{wrong_otp}" in message:
                outbox = await bank.outbox(c.phone)
                fresh = [s for s in outbox if _sms_key(s) not in sms_seen]
                if not fresh:
                    fail(
                        turn,
                        message,
                        [
                            f"{{otp}}: the bot sent no one-time code to {c.phone} "
                            "during this conversation"
                        ],
                        previous,
                    )
                code = str(fresh[0]["code"])
                wrong = code[:-1] + str((int(code[-1]) + 5) % 10)
                message = message.replace("{otp}", code).replace("{wrong_otp}", wrong)
            sent = message
        body: dict[str, Any] = {"sender": sender, "message": message}
        if turn.metadata:
            body["metadata"] = turn.metadata
        try:
            async with http.post(rest_url, json=body) as resp:
                text = await resp.text()
                if resp.status != 200:
                    fail(
                        turn, sent, [f"the REST channel answered {resp.status}: {text[:500]}"], None
                    )
                messages = await resp.json(content_type=None)
        except asyncio.TimeoutError:
            fail(turn, sent, ["no reply within 90 s"], None)
        reply = Reply(list(messages or []))
        transcript.add(turn.number, sent, reply)
        expanded = replace(
            turn,
            expect=expand(turn.expect),
            expect_any=[expand(group) for group in turn.expect_any],
            forbid=expand(turn.forbid),
        )
        problems = check_reply(expanded, reply, never)
        if problems:
            fail(turn, sent, problems, reply)
        previous = reply

    bank_problems = await check_bank(c, bank, sender, baseline_ids)
    if bank_problems or reset_problem:
        report = [f"{c.id}: every turn passed"]
        if bank_problems:
            report[0] += ", but the bank's state is wrong afterwards:"
            report += [f"  - {p}" for p in bank_problems]
        if reset_problem:
            report.append(f"  FAILED because {reset_problem}")
        report += ["  conversation:", transcript.render()]
        raise ConversationFailed("\n".join(report))


async def check_bank(
    c: Conversation, bank: Bank, sender: str, baseline_ids: set[str] | None
) -> list[str]:
    spec = c.bank
    problems: list[str] = []
    phones = [c.phone] + [p for p in DEMO_PHONES if p != c.phone]

    async def find(last4: str, kind: str):
        for phone in phones:
            token = await bank.token(phone)
            items = (
                await bank.accounts.list_cards(token)
                if kind == "card"
                else await bank.accounts.list_accounts(token)
            )
            for item in items:
                if item.last4 == last4:
                    return item
        return None

    for last4, state in (spec.get("card") or {}).items():
        card = await find(last4, "card")
        if card is None:
            problems.append(f"card 尾号{last4}: no demo customer has it")
        elif card.state != state:
            problems.append(f"card 尾号{last4}: expected {state}, the bank says {card.state}")
    for last4, amount in (spec.get("balance") or {}).items():
        account = await find(last4, "account")
        if account is None:
            problems.append(f"account 尾号{last4}: no demo customer has it")
        elif account.balance != amount:
            problems.append(
                f"account 尾号{last4}: expected balance {amount}, the bank says {account.balance}"
            )
    if "transfers" in spec:
        want = spec["transfers"]
        new = [
            t
            for t in await bank.transactions(c.phone)
            if t.transaction_id not in (baseline_ids or set()) and t.kind == "转账" and t.amount < 0
        ]
        matching = [
            t
            for t in new
            if ("to" not in want or want["to"] in f"{t.counterparty or ''}{t.description}")
            and ("amount" not in want or -t.amount == want["amount"])
        ]
        if not compare_count(len(matching), want["count"]):
            listed = [f"{t.amount} {t.counterparty or ''} {t.description}" for t in new] or "none"
            problems.append(
                f"transfers{'' if len(want) == 1 else ' ' + str({k: str(v) for k, v in want.items()})}:"
                f" expected {want['count']}, found {len(matching)} (new transfers out: {listed})"
            )
    if "tickets" in spec:
        tickets = await bank.support.list_tickets(sender)
        for kind, count in spec["tickets"].items():
            mine = [t for t in tickets if t.kind == kind]
            if not compare_count(len(mine), count):
                problems.append(
                    f"{kind} tickets of this chat user: expected {count}, found {len(mine)} "
                    f"({[t.ticket_id for t in mine]})"
                )
    if "queue_tickets" in spec:
        want = spec["queue_tickets"]
        held = await bank.branches.list_tickets(BANK_CHANNEL, sender)
        matching_tickets = [
            t
            for t in held
            if ("branch" not in want or want["branch"] in t.branch_name)
            and ("service_type" not in want or want["service_type"] == t.service_type)
        ]
        if not compare_count(len(matching_tickets), want["count"]):
            listed = [f"{t.number} {t.branch_name} {t.service_type} {t.status}" for t in held]
            problems.append(
                f"queue tickets {dict(want)}: expected {want['count']}, "
                f"found {len(matching_tickets)} "
                f"(this chat user holds: {listed or 'none'})"
            )
    return problems


# --------------------------------------------------------------------------- tests


def test_conversation_files_are_well_formed() -> None:
    """Every file parses and follows the format (no stack needed)."""
    problems = []
    names = 0
    for path in sorted(E2E_DIR.glob("*.yml")):
        try:
            names += len(parse_file(path))
        except (FormatError, yaml.YAMLError) as exc:
            problems.append(str(exc))
    assert not problems, "\n".join(problems)
    assert names > 0, f"no conversations in {E2E_DIR}"


@pytest.mark.parametrize("conversation", _params())
async def test_customer_conversation(conversation: Conversation | Exception, running_stack) -> None:
    if isinstance(conversation, Exception):
        pytest.fail(f"tests/e2e: {conversation}", pytrace=False)
    failure = None
    try:
        await play(conversation, running_stack.rest_url, running_stack.bank_url)
    except ConversationFailed as exc:
        failure = str(exc)
    except SetupProblem as exc:
        failure = f"{conversation.id}: could not set the bank up: {exc}"
    if failure is not None:
        # Outside the except block, so the report is not printed twice (chained).
        pytest.fail(failure, pytrace=False)
