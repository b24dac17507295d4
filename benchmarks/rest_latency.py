"""Latency of one message through the REST channel, once warm.

Starts the whole stack on free loopback ports (the same way the tests do), warms it
up, then sends messages one at a time from several conversations and reports the
median, p90 and p99 round-trip times. Target: median < 300 ms on the 2-core machine.

    python benchmarks/rest_latency.py --model models/bankbot.tar.gz [--messages 200]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import aiohttp
from _common import load_average, loopback_settings, stack_cpu

from bot.run import Stack

MESSAGES = ["你好", "你能做什么", "查余额", "13800138000", "算了", "谢谢", "讲个笑话", "转人工"]


async def measure(url: str, count: int) -> list[float]:
    timings: list[float] = []
    run_id = uuid.uuid4().hex[:6]
    async with aiohttp.ClientSession() as http:
        for warm in range(10):
            await http.post(url, json={"sender": f"warm-{warm}", "message": "你好"})
        for i in range(count):
            sender = f"bench-{run_id}-{i // len(MESSAGES)}"
            text = MESSAGES[i % len(MESSAGES)]
            start = time.perf_counter()
            async with http.post(url, json={"sender": sender, "message": text}) as resp:
                await resp.read()
                assert resp.status == 200
            timings.append((time.perf_counter() - start) * 1000)
    return timings


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", type=Path, default=Path("models/bankbot.tar.gz"))
    parser.add_argument("--messages", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as data_dir:
        settings = loopback_settings(data_dir)
        stack = Stack(settings, args.model)
        try:
            stack.start()
            url = f"{settings.rasa_url}/webhooks/rest/webhook"
            load_before = load_average()
            cpu_before = stack_cpu(stack)
            timings = asyncio.run(measure(url, args.messages))
            cpu_after = stack_cpu(stack)
            load_after = load_average()
        finally:
            stack.stop()
    # Warm-up messages are included in the CPU time; the error is small and on the safe side.
    cpu_ms = {name: (cpu_after.get(name, 0.0) - used) * 1000 / len(timings)
              for name, used in cpu_before.items()}
    timings.sort()
    q = statistics.quantiles(timings, n=100, method="inclusive")  # never beyond the max
    print(f"REST channel, {len(timings)} messages after warm-up (sequential, 1 client)")
    print(f"  median {statistics.median(timings):.1f} ms   p90 {q[89]:.1f} ms   "
          f"p99 {q[98]:.1f} ms   max {timings[-1]:.1f} ms")
    print("  CPU per message: " + ", ".join(f"{k} {v:.0f} ms" for k, v in cpu_ms.items()))
    print(f"  load average (1 min) {load_before:.2f} before, {load_after:.2f} after "
          f"(on 2 cores; above ~1 the latencies include waiting for a CPU)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
