"""Small key-value stores with TTLs, and what the channel keeps in them.

* :class:`MemoryStore`: in-process, for the default single-process profile.
* :class:`RedisStore`: redis-py's asyncio client, for several Rasa instances
  behind a load balancer (``store: redis`` / ``WECHAT_STORE=redis``).

On top of the four primitives (``add`` = set-if-absent, ``get``, ``set``,
``delete``):

* :class:`Deduper`: WeChat retries a message up to three times. A message is
  marked ``processing`` (set-if-absent), then ``completed`` (with the passive
  reply that was sent, if any) on success; the mark is deleted on failure so
  WeChat's retry can still succeed (marking it done first would lose it if the
  worker died).
* :class:`NonceGuard`: a (timestamp, nonce) pair may come back only with the
  same message (a WeChat retry); with a different one it is a replay.
* :class:`UserMemory`: per-user JSON values with a TTL (the numbered options
  last shown, the last reported location, the customer-service quota).
"""

from __future__ import annotations

import json
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

from .security import Clock

PROCESSING = "processing"
COMPLETED = "completed"


class Store(ABC):
    """Strings under keys, each with a time to live in seconds."""

    @abstractmethod
    async def add(self, key: str, value: str, ttl: float) -> bool:
        """Set ``key`` only if absent; True when it was set."""

    @abstractmethod
    async def get(self, key: str) -> str | None: ...

    @abstractmethod
    async def set(self, key: str, value: str, ttl: float) -> None: ...

    @abstractmethod
    async def delete(self, key: str) -> None: ...

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""


class MemoryStore(Store):
    """A dict with expiry times; expired keys are dropped lazily and in sweeps."""

    def __init__(self, clock: Clock = time.monotonic, max_keys: int = 100_000) -> None:
        self._data: dict[str, tuple[str, float]] = {}
        self._clock = clock
        self._max_keys = max_keys

    def _live(self, key: str) -> str | None:
        item = self._data.get(key)
        if item is None:
            return None
        if item[1] <= self._clock():
            del self._data[key]
            return None
        return item[0]

    def _sweep(self) -> None:
        if len(self._data) < self._max_keys:
            return
        now = self._clock()
        for key in [k for k, (_, exp) in self._data.items() if exp <= now]:
            del self._data[key]
        while len(self._data) >= self._max_keys:  # still full: drop the oldest entries
            del self._data[next(iter(self._data))]

    async def add(self, key: str, value: str, ttl: float) -> bool:
        if self._live(key) is not None:
            return False
        self._sweep()
        self._data[key] = (value, self._clock() + ttl)
        return True

    async def get(self, key: str) -> str | None:
        return self._live(key)

    async def set(self, key: str, value: str, ttl: float) -> None:
        self._data.pop(key, None)
        self._sweep()
        self._data[key] = (value, self._clock() + ttl)

    async def delete(self, key: str) -> None:
        self._data.pop(key, None)


class RedisStore(Store):
    """The same primitives on Redis (``SET NX EX``), shared by every Rasa instance."""

    def __init__(self, url: str, prefix: str = "bankbot:wechat:", client: Any = None) -> None:
        if client is None:
            from redis import asyncio as aioredis

            client = aioredis.from_url(url, decode_responses=True)
        self._redis = client
        self._prefix = prefix

    def _k(self, key: str) -> str:
        return self._prefix + key

    @staticmethod
    def _ms(ttl: float) -> int:
        return max(1, int(ttl * 1000))

    async def add(self, key: str, value: str, ttl: float) -> bool:
        return bool(await self._redis.set(self._k(key), value, nx=True, px=self._ms(ttl)))

    async def get(self, key: str) -> str | None:
        value = await self._redis.get(self._k(key))
        if isinstance(value, bytes):
            return value.decode("utf-8")
        return value

    async def set(self, key: str, value: str, ttl: float) -> None:
        await self._redis.set(self._k(key), value, px=self._ms(ttl))

    async def delete(self, key: str) -> None:
        await self._redis.delete(self._k(key))

    async def close(self) -> None:
        await self._redis.close()
        await self._redis.connection_pool.disconnect()


def make_store(kind: str, redis_url: str = "", prefix: str = "bankbot:wechat:") -> Store:
    """The store the configuration asks for (``memory`` or ``redis``)."""
    if kind == "redis":
        return RedisStore(redis_url, prefix)
    return MemoryStore()


@dataclass(frozen=True)
class Mark:
    """What the store knows about a message: its state and the passive reply sent."""

    state: str
    reply: str | None = None


class Deduper:
    """processing -> completed, or deleted on failure (WeChat's retry then succeeds)."""

    def __init__(
        self, store: Store, processing_ttl: float = 300, completed_ttl: float = 24 * 3600
    ) -> None:
        self.store = store
        self.processing_ttl = processing_ttl
        self.completed_ttl = completed_ttl

    @staticmethod
    def _key(message_key: str) -> str:
        return f"msg:{message_key}"

    async def begin(self, message_key: str) -> Mark | None:
        """Claim the message. None when claimed now; otherwise the existing mark."""
        value = json.dumps({"state": PROCESSING})
        if await self.store.add(self._key(message_key), value, self.processing_ttl):
            return None
        raw = await self.store.get(self._key(message_key))
        if raw is None:  # expired between add and get: try once more
            if await self.store.add(self._key(message_key), value, self.processing_ttl):
                return None
            return Mark(PROCESSING)
        try:
            data = json.loads(raw)
        except ValueError:
            return Mark(PROCESSING)
        return Mark(str(data.get("state", PROCESSING)), data.get("reply"))

    async def complete(self, message_key: str, reply: str | None = None) -> None:
        """Mark the message handled; ``reply`` is the passive reply XML (not encrypted)."""
        value = json.dumps({"state": COMPLETED, "reply": reply}, ensure_ascii=False)
        await self.store.set(self._key(message_key), value, self.completed_ttl)

    async def fail(self, message_key: str) -> None:
        """Forget the message so that WeChat's retry is processed again."""
        await self.store.delete(self._key(message_key))


class NonceGuard:
    """Remembers which message came with each (timestamp, nonce)."""

    def __init__(self, store: Store, ttl: float = 600) -> None:
        self.store = store
        self.ttl = ttl

    async def check(self, timestamp: str, nonce: str, message_key: str) -> bool:
        """True unless this (timestamp, nonce) was seen with a different message."""
        key = f"nonce:{timestamp}:{nonce}"
        if await self.store.add(key, message_key, self.ttl):
            return True
        seen = await self.store.get(key)
        return seen is None or seen == message_key


class UserMemory:
    """Small JSON values per user (openid) and topic, with a TTL."""

    def __init__(self, store: Store) -> None:
        self.store = store

    @staticmethod
    def _key(topic: str, user: str) -> str:
        return f"user:{topic}:{user}"

    async def put(self, topic: str, user: str, value: Any, ttl: float) -> None:
        await self.store.set(self._key(topic, user), json.dumps(value, ensure_ascii=False), ttl)

    async def get(self, topic: str, user: str) -> Any:
        raw = await self.store.get(self._key(topic, user))
        if raw is None:
            return None
        try:
            return json.loads(raw)
        except ValueError:
            return None

    async def forget(self, topic: str, user: str) -> None:
        await self.store.delete(self._key(topic, user))
