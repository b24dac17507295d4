"""Load test of the WeChat Official Account channel: many users at once, end to end.

Starts the whole stack once on free loopback ports (bank, action server, Rasa server
with the trained model, web app) in a temporary data folder, with the WeChat channel
configured by ``WECHAT_*`` variables that point its customer-service API at the fake
WeChat API (``tests/bot/channels/wechat/fake_api.py``) served in this process. Then
N simulated WeChat users (default 50) talk to ``/webhooks/wechat/webhook`` at the same
time, each sending M messages (default 4) as signed, AES-encrypted (安全模式) callbacks
built exactly like WeChat's (``tests/bot/channels/wechat/simulator.py``).

Pacing: a user sends its next message only after the previous one was answered, plus
a think time of 0.5-2 s (seeded RNG); users start within the first 2 s.

The answer to a message is the passive reply (decrypted and checked: not empty, not
``success``) or, when the channel answered ``success``, the customer-service send(s)
the fake API records for that openid. Per message:

* latency: until the passive reply arrived, or until the first customer-service send;
* duplicate: more than one answer (a passive reply AND a send, two groups of sends
  more than 1.5 s apart, a retry answered with a different passive reply, or more user
  turns in Rasa's tracker than messages sent);
* lost: no answer within 15 s (the user then still waits up to 45 s for a late
  answer before its next message, so that a late answer is not taken for a duplicate).

WeChat's retry is replayed for a sample (10 %): the same MsgId is delivered again 1 s
after the first delivery (re-signed, new nonce). It must get ``success`` or the same
passive reply and cause no extra send and no extra turn; if it overtook the first
delivery (which then gets ``success``), its passive reply is the answer. The user sends
its next message only after that retry came back (so every send is attributed to the
right message). HTTP answers slower than 5 s are counted too: WeChat would not wait
for them.

Also reported: the CPU time each process used per message, and how long a trivial
request to the Rasa server and the action server took meanwhile (their event loops'
delay); ``--profile`` splits each turn by the tracker's timestamps and ``--cprofile``
runs the Rasa server under cProfile.

Exit status 1 when any message is duplicated or lost (or not sent before the time
limit). Everything stays on 127.0.0.1; the whole run, start-up included, stops after
``--max-seconds`` (300).

    python benchmarks/wechat_load.py --model models/bankbot.tar.gz [--users 50] [--messages 4]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import random
import sys
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

# Run as a script from the project root: make the project importable.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import free_port, loopback_settings, stack_cpu  # noqa: E402

from bot.run import Process, Stack  # noqa: E402
from bot.settings import Settings  # noqa: E402
from tests.bot.channels.wechat.fake_api import FakeWeChatAPI  # noqa: E402
from tests.bot.channels.wechat.simulator import WeChatServer, next_msg_id  # noqa: E402
from tests.conftest import wechat_env  # noqa: E402

TEXTS = ["你好", "人民广场排队多吗", "有什么理财", "谢谢"]
TARGET_SECONDS = 4.5  # what the issue asks for (WeChat's own limit is 5 s)
ANSWER_TIMEOUT = 15.0  # no answer by then: lost
LATE_LIMIT = 45.0  # a lost message's late answer is still awaited this long
RETRY_AFTER = 1.0
GROUP_GAP = 1.5  # sends of one turn come back to back; a later burst is a second answer
SETTLE_SECONDS = 2.0  # after the last message: late (duplicate) sends still count


class RecordingFakeAPI(FakeWeChatAPI):
    """The fake WeChat API, also noting when each send arrived (monotonic clock) and
    waking whoever waits for a send to that openid."""

    def __init__(self) -> None:
        super().__init__()
        self.arrivals: dict[str, list[float]] = {}
        self._waiters: dict[str, asyncio.Event] = {}

    def event_for(self, openid: str) -> asyncio.Event:
        return self._waiters.setdefault(openid, asyncio.Event())

    async def custom_send(self, request: web.Request) -> web.Response:
        before = len(self.sends)
        resp = await super().custom_send(request)
        if len(self.sends) > before:
            openid = str(self.sends[-1].get("touser", ""))
            self.arrivals.setdefault(openid, []).append(time.monotonic())
            self.event_for(openid).set()
        return resp


@dataclass
class Message:
    user: int
    index: int
    text: str
    msg_id: int
    started: float = 0.0  # monotonic
    started_wall: float = 0.0
    http_seconds: float = 0.0  # until the HTTP answer (passive reply or success)
    status: int = 0
    passive: str | None = None
    latency: float | None = None  # until the answer; None: lost
    kind: str = ""  # passive / retry (the retry's passive reply) / kf / lost
    late: float | None = None  # a lost message's answer that came after ANSWER_TIMEOUT
    sends: list[float] = field(default_factory=list)  # arrival times in this message's window
    retried: bool = False
    retry_status: int = 0
    retry_reply: str | None = None
    retry_seconds: float = 0.0
    retry_at: float = 0.0  # monotonic time the retry's HTTP answer arrived
    duplicate_reasons: list[str] = field(default_factory=list)

    @property
    def duplicate(self) -> bool:
        return bool(self.duplicate_reasons)


@dataclass
class Run:
    messages: list[Message] = field(default_factory=list)
    unsent: int = 0
    errors: list[str] = field(default_factory=list)
    extra_turns: dict[str, int] = field(default_factory=dict)
    missing_turns: dict[str, int] = field(default_factory=dict)
    wall_seconds: float = 0.0
    cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds in the load phase
    rasa_lag: list[float] = field(default_factory=list)
    action_lag: list[float] = field(default_factory=list)


class User:
    def __init__(
        self,
        number: int,
        server: WeChatServer,
        http: aiohttp.ClientSession,
        fake: RecordingFakeAPI,
        rng: random.Random,
        args: argparse.Namespace,
        run: Run,
        deadline: float,
    ) -> None:
        self.number = number
        self.server = server
        self.http = http
        self.fake = fake
        self.rng = rng
        self.args = args
        self.run = run
        self.deadline = deadline
        self.openid = f"oBench{args.run_id}{number:05d}".ljust(28, "0")[:28]
        self.texts = [args.texts[i % len(args.texts)] for i in range(args.messages)]
        # Decided up front so that the seed alone fixes the schedule.
        self.start_delay = rng.uniform(0, 2.0)
        self.thinks = [rng.uniform(0.5, 2.0) for _ in self.texts]
        self.retries = [rng.random() < args.retry_share for _ in self.texts]
        self.sent: list[Message] = []

    async def post(self, xml: str) -> tuple[int, str, float]:
        params, body = self.server.sign_request(xml, "safe")
        started = time.monotonic()
        async with self.http.post(
            self.server.url, params=params, data=body, headers={"Content-Type": "text/xml"}
        ) as resp:
            text = await resp.text()
            return resp.status, text, time.monotonic() - started

    def passive_text(self, status: int, text: str) -> str | None:
        if status != 200:
            return None
        reply = self.server.decode_reply(text)  # checks MsgSignature, decrypts
        if reply is None:
            return None
        return str(reply.get("Content") or "")

    def answer_time(self, msg: Message, sends_before: int) -> tuple[str, float] | None:
        """How ``msg`` has been answered so far, and when (seconds after sending).

        WeChat takes one HTTP answer per message: the passive reply of the first
        delivery or, when the retry ran the turn, the retry's; otherwise the first
        customer-service send."""
        if msg.passive:
            return "passive", msg.http_seconds
        found: list[tuple[float, str]] = []
        arrivals = self.fake.arrivals.get(self.openid, [])
        if len(arrivals) > sends_before:
            found.append((arrivals[sends_before] - msg.started, "kf"))
        if msg.retry_reply and msg.retry_at:
            found.append((msg.retry_at - msg.started, "retry"))
        if not found:
            return None
        seconds, kind = min(found)
        return kind, seconds

    async def wait_for_answer(
        self, msg: Message, sends_before: int, until: float
    ) -> tuple[str, float] | None:
        event = self.fake.event_for(self.openid)
        while True:
            event.clear()
            answer = self.answer_time(msg, sends_before)
            left = until - time.monotonic()
            if answer is not None or left <= 0:
                return answer
            try:
                await asyncio.wait_for(event.wait(), left)
            except asyncio.TimeoutError:
                return self.answer_time(msg, sends_before)

    async def retry(self, msg: Message, xml: str) -> None:
        await asyncio.sleep(max(0.0, msg.started + RETRY_AFTER - time.monotonic()))
        try:
            status, text, seconds = await self.post(xml)
            msg.retry_status, msg.retry_seconds = status, seconds
            msg.retry_reply = self.passive_text(status, text)
            msg.retry_at = time.monotonic()
            self.fake.event_for(self.openid).set()  # may be the answer (see answer_time)
        except Exception as exc:  # noqa: BLE001 - reported, never fatal
            self.run.errors.append(f"retry of user {self.number} #{msg.index}: {exc!r}")
            msg.retry_status = -1

    async def talk(self) -> None:
        await asyncio.sleep(self.start_delay)
        for index, text in enumerate(self.texts):
            if time.monotonic() + ANSWER_TIMEOUT > self.deadline:
                self.run.unsent += len(self.texts) - index
                return
            msg = Message(self.number, index, text, next_msg_id(), retried=self.retries[index])
            xml = self.server.text(self.openid, text, msg_id=msg.msg_id)
            sends_before = len(self.fake.arrivals.get(self.openid, []))
            msg.started, msg.started_wall = time.monotonic(), time.time()
            self.sent.append(msg)
            self.run.messages.append(msg)
            retry_task = asyncio.ensure_future(self.retry(msg, xml)) if msg.retried else None
            try:
                status, body, seconds = await asyncio.wait_for(self.post(xml), ANSWER_TIMEOUT)
                msg.status, msg.http_seconds = status, seconds
                passive = self.passive_text(status, body)
                # None is `success` (or empty); an empty <Content> is no answer either.
                msg.passive = passive if passive and passive.strip() else None
                if status != 200:
                    self.run.errors.append(f"user {self.number} #{index}: HTTP {status} {body[:60]!r}")
            except Exception as exc:  # noqa: BLE001 - a timeout or a broken reply: lost
                self.run.errors.append(f"user {self.number} #{index}: {exc!r}")
            answer = await self.wait_for_answer(msg, sends_before, msg.started + ANSWER_TIMEOUT)
            if answer is not None and answer[1] <= ANSWER_TIMEOUT:
                msg.kind, msg.latency = answer
            else:
                msg.kind = "lost"
                # Wait for a late answer (still lost) so it is not taken for a
                # duplicate answer to this user's next message.
                late = await self.wait_for_answer(
                    msg, sends_before, min(msg.started + LATE_LIMIT, self.deadline)
                )
                msg.late = late[1] if late else None
            if retry_task is not None:
                await retry_task
            await asyncio.sleep(self.thinks[index])

    def attribute_sends(self) -> None:
        """Each send belongs to the message before it (a user waits for its answer)."""
        arrivals = self.fake.arrivals.get(self.openid, [])
        for i, msg in enumerate(self.sent):
            end = self.sent[i + 1].started if i + 1 < len(self.sent) else float("inf")
            msg.sends = [t for t in arrivals if msg.started <= t < end]
            reasons = msg.duplicate_reasons
            if (msg.passive or msg.retry_reply) and msg.sends:
                reasons.append(f"passive reply and {len(msg.sends)} customer-service send(s)")
            groups = 1 + sum(1 for a, b in itertools.pairwise(msg.sends) if b - a > GROUP_GAP)
            if msg.sends and groups > 1:
                reasons.append(f"{groups} groups of customer-service sends")
            if msg.passive and msg.retry_reply and msg.retry_reply != msg.passive:
                reasons.append("the retry got a different passive reply")


async def tracker_turns(rasa_url: str, openid: str, http: aiohttp.ClientSession) -> list[dict]:
    async with http.get(f"{rasa_url}/conversations/{openid}/tracker") as resp:
        data = await resp.json()
    return list(data.get("events") or [])


async def drive(
    args: argparse.Namespace,
    settings: Settings,
    stack: Stack,
    fake: RecordingFakeAPI,
    deadline: float,
) -> Run:
    run = Run()
    url = f"{settings.rasa_url}/webhooks/wechat/webhook"
    server = WeChatServer(url)
    rng = random.Random(args.seed)
    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=ANSWER_TIMEOUT + 5)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:
        # Warm-up (not measured): each text once, one user, one at a time.
        warm = User(-1, server, http, fake, random.Random(0), args, Run(), deadline)
        warm.openid = f"oWarm{args.run_id}".ljust(28, "0")[:28]
        for text in args.texts:
            try:
                await warm.post(server.text(warm.openid, text))
            except Exception as exc:  # noqa: BLE001
                print(f"warm-up message failed: {exc!r}", file=sys.stderr)
        await asyncio.sleep(1.0)

        users = [
            User(n, server, http, fake, rng, args, run, deadline) for n in range(args.users)
        ]
        stop = asyncio.Event()
        probes = [
            asyncio.ensure_future(probe_loop(f"{settings.rasa_url}/", http, stop, run.rasa_lag)),
            asyncio.ensure_future(probe_loop(
                f"http://{settings.host}:{settings.action_port}/health", http, stop,
                run.action_lag)),
        ]
        cpu_before = stack_cpu(stack)
        started = time.monotonic()
        await asyncio.gather(*(u.talk() for u in users))
        run.wall_seconds = time.monotonic() - started
        cpu_after = stack_cpu(stack)
        run.cpu = {k: cpu_after.get(k, 0.0) - v for k, v in cpu_before.items()}
        stop.set()
        await asyncio.gather(*probes)
        await asyncio.sleep(SETTLE_SECONDS)
        for user in users:
            user.attribute_sends()
            events = await tracker_turns(settings.rasa_url, user.openid, http)
            user_texts = [e.get("text") for e in events if e.get("event") == "user"]
            sent = [m.text for m in user.sent]
            if len(user_texts) > len(sent):
                run.extra_turns[user.openid] = len(user_texts) - len(sent)
            elif len(user_texts) < len(sent):
                run.missing_turns[user.openid] = len(sent) - len(user_texts)
            if args.profile:
                profile_turns(user, events)
    return run


# -- where the time goes ------------------------------------------------------------


async def probe_loop(url: str, http: aiohttp.ClientSession, stop: asyncio.Event,
                     samples: list[float]) -> None:
    """How long a trivial request to ``url`` takes: the server's event-loop delay."""
    while not stop.is_set():
        started = time.monotonic()
        try:
            async with http.get(url) as resp:
                await resp.read()
            samples.append(time.monotonic() - started)
        except Exception:  # noqa: BLE001
            samples.append(float("inf"))
        await asyncio.sleep(0.25)


PROFILE: list[dict[str, float]] = []


def profile_turns(user: User, events: list[dict[str, Any]]) -> None:
    """Split each turn by the tracker's timestamps: until the user event (queueing,
    lock, NLU), then until the last bot event (policies and actions, incl. the action
    server), compared with the HTTP answer's time."""
    turns: list[list[dict[str, Any]]] = []
    for event in events:
        if event.get("event") == "user":
            turns.append([event])
        elif turns:
            turns[-1].append(event)
    for msg, turn in zip(user.sent, turns, strict=False):
        user_ts = float(turn[0]["timestamp"])
        last = max(float(e["timestamp"]) for e in turn)
        actions = [e for e in turn if e.get("event") == "action"]
        custom = 0.0
        previous = user_ts
        for e in actions:
            ts = float(e["timestamp"])
            if str(e.get("name", "")).startswith(("action_", "validate_")) and not str(
                e.get("name")
            ).startswith("action_listen"):
                custom += ts - previous
            previous = ts
        PROFILE.append(
            {
                "to_nlu_done": user_ts - msg.started_wall,
                "dialogue": last - user_ts,
                "custom_actions": custom,
                "answer": msg.latency if msg.latency is not None else float("nan"),
            }
        )


def print_profile() -> None:
    if not PROFILE:
        return
    print("\nWhere the time goes (tracker timestamps, seconds):")
    for key in ("to_nlu_done", "dialogue", "custom_actions", "answer"):
        values = sorted(p[key] for p in PROFILE if p[key] == p[key])
        if values:
            print(f"  {key:15s} p50 {pct(values, 50):6.2f}  p95 {pct(values, 95):6.2f}  "
                  f"max {values[-1]:6.2f}")


class ProfiledStack(Stack):
    """The stack with the Rasa server under cProfile (stats written when it stops)."""

    cprofile_out: Path = Path("rasa.prof")

    def plan(self) -> list[Process]:
        procs = super().plan()
        for proc in procs:
            if proc.name == "rasa":
                proc.args = [sys.executable, "-m", "cProfile", "-o", str(self.cprofile_out),
                             *proc.args]
        return procs


# -- report ---------------------------------------------------------------------------


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    k = (len(values) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


def machine_load() -> str:
    try:
        one, five, fifteen = os.getloadavg()
        return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} CPUs"
    except OSError:
        return "load average unknown"


def report(run: Run, args: argparse.Namespace, load_before: str, load_after: str) -> int:
    msgs = run.messages
    answered = [m for m in msgs if m.latency is not None]
    lat = sorted(m.latency for m in answered if m.latency is not None)
    within = sum(1 for x in lat if x <= TARGET_SECONDS)
    lost = [m for m in msgs if m.latency is None]
    dups = [m for m in msgs if m.duplicate]
    extra_turns = sum(run.extra_turns.values())
    missing_turns = sum(run.missing_turns.values())
    kinds = {k: sum(1 for m in msgs if m.kind == k) for k in ("passive", "retry", "kf", "lost")}
    slow_http = sum(1 for m in msgs if m.http_seconds > 5.0)
    retried = [m for m in msgs if m.retried]
    retry_success = sum(1 for m in retried if m.retry_status == 200 and m.retry_reply is None)
    retry_same = sum(1 for m in retried if m.retry_reply is not None and m.retry_reply == m.passive)
    retry_first = sum(1 for m in retried if m.retry_reply is not None and m.passive is None)
    duplicates = len(dups) + extra_turns
    share = within / len(msgs) if msgs else 0.0

    print(f"\nWeChat channel under load: {args.users} users x {args.messages} messages "
          f"(safe mode, think time 0.5-2 s, seed {args.seed})")
    print(f"  machine: {load_before} before, {load_after} after")
    print(f"  messages sent {len(msgs)} in {run.wall_seconds:.1f} s"
          f"{f', not sent before the time limit {run.unsent}' if run.unsent else ''}")
    print(f"  answered by passive reply {kinds['passive']} (to the retry {kinds['retry']}), "
          f"by customer-service send {kinds['kf']}, lost {kinds['lost']}")
    print(f"  answered within {TARGET_SECONDS} s: {within}/{len(msgs)} = {share:.1%}")
    if lat:
        print(f"  latency p50 {pct(lat, 50):.2f} s   p95 {pct(lat, 95):.2f} s   "
              f"max {lat[-1]:.2f} s")
    http = sorted(m.http_seconds for m in msgs if m.status)
    if http:
        print(f"  HTTP answer to WeChat p50 {pct(http, 50):.2f} s   p95 {pct(http, 95):.2f} s   "
              f"max {http[-1]:.2f} s   (over 5 s: {slow_http})")
    print(f"  retries replayed {len(retried)}: answered success {retry_success}, the same "
          f"passive reply {retry_same}, the reply (the first delivery got success) {retry_first}")
    print(f"  duplicates {duplicates} (messages {len(dups)}, extra Rasa turns {extra_turns})")
    print(f"  lost {len(lost)} (turns missing in Rasa's tracker {missing_turns})")
    for m in dups[:10]:
        print(f"    duplicate: user {m.user} #{m.index} {m.text}: {'; '.join(m.duplicate_reasons)}")
    late = sum(1 for m in lost if m.late is not None)
    if lost:
        print(f"    of the lost, answered later (within {LATE_LIMIT:.0f} s): {late}")
    for m in lost[:10]:
        print(f"    lost: user {m.user} #{m.index} {m.text} (HTTP {m.status or 'timeout'}, "
              f"{m.http_seconds:.2f} s, answer "
              f"{'never' if m.late is None else f'after {m.late:.1f} s'})")
    for err in run.errors[:10]:
        print(f"    error: {err}")
    if run.cpu:
        per = ", ".join(f"{k} {v:.1f} s ({v / max(1, len(msgs)) * 1000:.0f} ms/message)"
                        for k, v in run.cpu.items())
        print(f"  CPU used during the load phase: {per}")
    for name, lag in (("Rasa server", run.rasa_lag), ("action server", run.action_lag)):
        if lag:
            lag = sorted(lag)
            print(f"  {name} responsiveness (GET every 0.25 s): p50 {pct(lag, 50):.2f} s   "
                  f"p95 {pct(lag, 95):.2f} s   max {lag[-1]:.2f} s")
    if args.profile:
        print_profile()
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {
                    "users": args.users,
                    "messages": len(msgs),
                    "within_target": within,
                    "share_within_target": share,
                    "p50": pct(lat, 50),
                    "p95": pct(lat, 95),
                    "max": lat[-1] if lat else None,
                    "duplicates": duplicates,
                    "lost": len(lost),
                    "unsent": run.unsent,
                    "load_before": load_before,
                    "load_after": load_after,
                    "per_message": [
                        {
                            "user": m.user, "index": m.index, "text": m.text, "kind": m.kind,
                            "latency": m.latency, "late": m.late, "http": m.http_seconds,
                            "sends": len(m.sends), "retried": m.retried,
                            "duplicate": m.duplicate_reasons,
                        }
                        for m in msgs
                    ],
                },
                ensure_ascii=False,
                indent=1,
            ),
            encoding="utf-8",
        )
    failed = duplicates > 0 or len(lost) > 0 or missing_turns > 0 or run.unsent > 0
    print("FAILED: duplicates or lost messages" if failed else "OK: no duplicates, nothing lost")
    return 1 if failed else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=Path("models/bankbot.tar.gz"))
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--messages", type=int, default=4, help="messages per user")
    parser.add_argument("--texts", default="/".join(TEXTS),
                        help="the messages, separated by /, used in turn")
    parser.add_argument("--retry-share", type=float, default=0.10)
    parser.add_argument("--seed", type=int, default=20261118)
    parser.add_argument("--max-seconds", type=float, default=300.0,
                        help="the whole run, start-up included")
    parser.add_argument("--env", action="append", default=[], metavar="KEY=VALUE",
                        help="extra environment for the stack (e.g. WECHAT_REPLY_WAIT_SECONDS=3)")
    parser.add_argument("--profile", action="store_true",
                        help="also split each turn's time by the tracker's timestamps")
    parser.add_argument("--cprofile", type=Path,
                        help="run the Rasa server under cProfile and write its stats here "
                        "(slows Rasa down: use with few users)")
    parser.add_argument("--json", help="write the results to this file")
    parser.add_argument("--keep-logs", type=Path, help="copy the stack's logs here")
    args = parser.parse_args()
    args.texts = [t for t in args.texts.split("/") if t]
    args.run_id = f"{random.Random(args.seed).randrange(16**6):06x}"
    begun = time.monotonic()
    deadline = begun + args.max_seconds

    load_before = machine_load()
    api_port = free_port()
    api_url = f"http://127.0.0.1:{api_port}"
    with tempfile.TemporaryDirectory(prefix="wechat-load-") as data_dir:
        # A Wednesday 10:00 in Shanghai: branches open, queues as seeded.
        base = loopback_settings(data_dir, SANDBOX_CLOCK_START="2026-11-18T10:00:00+08:00")
        settings = replace(base, profile="sandbox", host="127.0.0.1")
        extra = wechat_env(api_url)
        for item in args.env:
            key, _, value = item.partition("=")
            extra[key] = value
        stack = Stack(settings, args.model, extra_env=extra)
        if args.cprofile:
            stack = ProfiledStack(settings, args.model, extra_env=extra)
            stack.cprofile_out = args.cprofile.resolve()
        print(f"starting the stack (Rasa on {settings.rasa_url}, fake WeChat API on {api_url})",
              flush=True)
        try:
            # Start-up may take what the load phase does not need (at least 90 s).
            stack.start(timeout=max(30.0, min(240.0, deadline - time.monotonic() - 90)))
            print(f"stack ready after {time.monotonic() - begun:.0f} s; {machine_load()}", flush=True)

            async def go() -> Run:
                fake = RecordingFakeAPI()
                await fake.start("127.0.0.1", api_port)
                try:
                    # Leave time for the settle phase, tracker reads and shutdown.
                    return await drive(args, settings, stack, fake, deadline - 20)
                finally:
                    await fake.stop()

            run = asyncio.run(go())
            load_after = machine_load()
        finally:
            if args.keep_logs:
                args.keep_logs.mkdir(parents=True, exist_ok=True)
                for log in (Path(data_dir) / "logs").glob("*.log"):
                    (args.keep_logs / log.name).write_bytes(log.read_bytes())
            stack.stop()
    return report(run, args, load_before, load_after)


if __name__ == "__main__":
    raise SystemExit(main())
