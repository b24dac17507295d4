"""What conversations feel while a trainer activates a model version.

Starts the whole stack on free loopback ports with the project's model, then keeps
several REST conversations going (one message every ``--interval`` seconds each) while
``PUT /model`` loads the same model again from another file, as the console's
"activate" does (bot/trainer/registry.py). Reports how long the activation took and
the round-trip times of the messages sent before, during and after it (each user
starts a new conversation after six messages). Target: no
message waits for the load (max during the activation < 2 s) and none fails.

    python benchmarks/model_activation.py --model models/bankbot.tar.gz
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
from _common import load_average, loopback_settings, stack_cpu

from bot.run import Stack, with_rasa_token
from bot.settings import Settings

TARGET_MAX_SECONDS = 2.0
MESSAGES = ["你好", "查余额", "算了", "人民广场排队多吗", "有什么理财", "谢谢"]


@dataclass
class Sample:
    sent_at: float
    seconds: float
    ok: bool


@dataclass
class Result:
    samples: list[Sample] = field(default_factory=list)
    activation: tuple[float, float] = (0.0, 0.0)  # start, end (monotonic)
    status: int = 0


async def converse(url: str, http: aiohttp.ClientSession, user: str, interval: float,
                   stop: asyncio.Event, result: Result) -> None:
    index = 0
    while not stop.is_set():
        started = time.monotonic()
        text = MESSAGES[index % len(MESSAGES)]
        # A new conversation after each pass: Rasa's time per turn grows with the
        # conversation's length, which must not be mistaken for the swap's effect.
        sender = f"{user}-{index // len(MESSAGES)}"
        index += 1
        try:
            async with http.post(url, json={"sender": sender, "message": text}) as resp:
                body = await resp.json()
                ok = resp.status == 200 and bool(body)
        except (aiohttp.ClientError, asyncio.TimeoutError):
            ok = False
        result.samples.append(Sample(started, time.monotonic() - started, ok))
        await asyncio.sleep(max(0.0, interval - (time.monotonic() - started)))


async def drive(settings: Settings, model_copy: Path, users: int, interval: float,
                before: float, after: float) -> Result:
    result = Result()
    url = f"{settings.rasa_url}/webhooks/rest/webhook"
    run_id = uuid.uuid4().hex[:6]
    timeout = aiohttp.ClientTimeout(total=300)
    async with aiohttp.ClientSession(timeout=timeout) as http:
        for text in MESSAGES:  # warm-up, not measured
            await http.post(url, json={"sender": f"warm-{run_id}", "message": text})
        stop = asyncio.Event()
        talkers = [
            asyncio.ensure_future(
                converse(url, http, f"act-{run_id}-{n}", interval, stop, result)
            )
            for n in range(users)
        ]
        await asyncio.sleep(before)
        started = time.monotonic()
        async with http.put(
            f"{settings.rasa_url}/model", params={"token": settings.rasa_token},
            json={"model_file": str(model_copy)},
        ) as resp:
            result.status = resp.status
            await resp.read()
        result.activation = (started, time.monotonic())
        await asyncio.sleep(after)
        stop.set()
        await asyncio.gather(*talkers)
    return result


def describe(label: str, samples: list[Sample]) -> str:
    if not samples:
        return f"  {label}: no messages"
    times = sorted(s.seconds for s in samples)
    failed = sum(not s.ok for s in samples)
    return (f"  {label}: {len(times)} messages, median {statistics.median(times) * 1000:.0f} ms,"
            f" max {times[-1] * 1000:.0f} ms, failed {failed}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=Path("models/bankbot.tar.gz"))
    parser.add_argument("--users", type=int, default=3)
    parser.add_argument("--interval", type=float, default=0.5,
                        help="seconds between one user's messages")
    parser.add_argument("--before", type=float, default=5.0)
    parser.add_argument("--after", type=float, default=5.0)
    parser.add_argument("--timeline", action="store_true",
                        help="print every message sent during the activation")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as data_dir:
        model_copy = Path(data_dir) / "activated.tar.gz"
        shutil.copyfile(args.model, model_copy)
        settings = with_rasa_token(loopback_settings(data_dir))
        stack = Stack(settings, args.model)
        try:
            stack.start()
            load_before = load_average()
            cpu_before = stack_cpu(stack)
            result = asyncio.run(drive(settings, model_copy, args.users, args.interval,
                                       args.before, args.after))
            cpu_after = stack_cpu(stack)
            load_after = load_average()
        finally:
            stack.stop()
    start, end = result.activation
    # A message overlaps the activation when it was sent before the load ended and
    # answered after it started.
    during = [s for s in result.samples if s.sent_at < end and s.sent_at + s.seconds > start]
    earlier = [s for s in result.samples if s.sent_at + s.seconds <= start]
    later = [s for s in result.samples if s.sent_at >= end]
    print(f"Model activation (PUT /model) under {args.users} REST conversations, "
          f"one message every {args.interval} s each")
    print(f"  activation: HTTP {result.status} after {end - start:.1f} s")
    print(describe("before", earlier))
    print(describe("during", during))
    print(describe("after ", later))
    if args.timeline:
        for s in during:
            print(f"    +{s.sent_at - start:5.1f} s  {s.seconds * 1000:6.0f} ms"
                  f"{'' if s.ok else '  FAILED'}")
    rasa_cpu = cpu_after.get("rasa", 0.0) - cpu_before.get("rasa", 0.0)
    print(f"  Rasa CPU over the run {rasa_cpu:.1f} s; load average (1 min) "
          f"{load_before:.2f} before, {load_after:.2f} after (2 cores)")
    worst = max((s.seconds for s in during), default=0.0)
    failed = sum(not s.ok for s in result.samples)
    good = result.status == 204 and failed == 0 and worst < TARGET_MAX_SECONDS
    print(f"  target: none failed and max during < {TARGET_MAX_SECONDS:.0f} s: "
          f"{'met' if good else 'NOT met'}")
    return 0 if good else 1


if __name__ == "__main__":
    raise SystemExit(main())
