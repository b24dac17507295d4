"""The TTL stores (memory and Redis), dedupe marks and the nonce guard."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest

from bot.channels.wechat.dedupe import (
    COMPLETED,
    PROCESSING,
    Deduper,
    MemoryStore,
    NonceGuard,
    RedisStore,
    Store,
    UserMemory,
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def _redis_or_skip() -> RedisStore:
    store = RedisStore("redis://127.0.0.1:6379/0", prefix=f"test:wechat:{uuid.uuid4().hex}:")
    try:
        await store.get("ping")
    except Exception as exc:  # pragma: no cover - depends on the machine
        await store.close()
        pytest.skip(f"Redis on 127.0.0.1:6379 is not reachable: {exc}")
    return store


@pytest.fixture(params=["memory", "redis"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[Store]:
    if request.param == "memory":
        yield MemoryStore()
        return
    redis_store = await _redis_or_skip()
    yield redis_store
    await redis_store.close()


async def test_store_primitives(store: Store) -> None:
    assert await store.add("k", "v1", 60)
    assert not await store.add("k", "v2", 60)
    assert await store.get("k") == "v1"
    await store.set("k", "v3", 60)
    assert await store.get("k") == "v3"
    await store.delete("k")
    assert await store.get("k") is None
    assert await store.add("k", "v4", 60)


async def test_deduper_lifecycle(store: Store) -> None:
    dedupe = Deduper(store, processing_ttl=60, completed_ttl=600)
    assert await dedupe.begin("m1") is None
    mark = await dedupe.begin("m1")
    assert mark is not None and mark.state == PROCESSING
    await dedupe.complete("m1", "<xml>reply ]]]]><![CDATA[> 余额</xml>")
    mark = await dedupe.begin("m1")
    assert mark is not None and mark.state == COMPLETED
    assert mark.reply == "<xml>reply ]]]]><![CDATA[> 余额</xml>"
    # failure clears the mark so that WeChat's retry is processed again
    assert await dedupe.begin("m2") is None
    await dedupe.fail("m2")
    assert await dedupe.begin("m2") is None


async def test_nonce_guard(store: Store) -> None:
    guard = NonceGuard(store, ttl=60)
    assert await guard.check("1", "n", "msg-a")
    assert await guard.check("1", "n", "msg-a")  # WeChat's retry of the same message
    assert not await guard.check("1", "n", "msg-b")  # replay with another message
    assert await guard.check("2", "n", "msg-b")


async def test_user_memory(store: Store) -> None:
    memory = UserMemory(store)
    await memory.put("options", "o1", [{"title": "余额"}], 60)
    assert await memory.get("options", "o1") == [{"title": "余额"}]
    assert await memory.get("options", "o2") is None
    await memory.forget("options", "o1")
    assert await memory.get("options", "o1") is None


async def test_memory_store_expiry_and_bound() -> None:
    clock = FakeClock()
    store = MemoryStore(clock=clock, max_keys=3)
    await store.add("a", "1", 10)
    clock.now += 11
    assert await store.get("a") is None
    assert await store.add("a", "2", 10)
    await store.set("b", "1", 10)
    await store.set("c", "1", 10)
    await store.set("d", "1", 10)  # full: the oldest goes
    assert await store.get("a") is None
    assert await store.get("d") == "1"


async def test_processing_mark_expires() -> None:
    clock = FakeClock()
    dedupe = Deduper(MemoryStore(clock=clock), processing_ttl=300)
    assert await dedupe.begin("m") is None
    clock.now += 301  # a worker died mid-turn: the message can be processed again
    assert await dedupe.begin("m") is None
