"""Rate limits (token buckets) and the replay cache of nonces, in one process or shared.

In memory by default; with `LENDGUARD_REDIS_URL` set they live in Redis, so every server
process behind a load balancer counts the same bucket and remembers the same nonces. Both
backends answer the same two questions with the same arithmetic.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from typing import Protocol

from lendguard.policy.security import RateLimit

REDIS_ENV = "LENDGUARD_REDIS_URL"


@dataclass(frozen=True)
class BucketState:
    allowed: bool
    limit: int  # the burst: what a full bucket holds
    remaining: int  # whole requests left now
    retry_after: float  # seconds until one more request is allowed (0 when allowed)
    reset: float  # seconds until the bucket is full again


def take(tokens: float, updated: float, now: float, rate: RateLimit) -> tuple[float, BucketState]:
    """One request against a bucket that held `tokens` at `updated`: the new level and the answer."""
    level = min(float(rate.burst), tokens + max(0.0, now - updated) * rate.per_second)
    allowed = level >= 1.0
    if allowed:
        level -= 1.0
    return level, bucket_state(allowed, level, rate)


def bucket_state(allowed: bool, level: float, rate: RateLimit) -> BucketState:
    """The answer for a bucket left at `level` after a request (both backends use this)."""
    retry = 0.0 if allowed else (1.0 - level) / rate.per_second
    return BucketState(allowed, rate.burst, int(math.floor(level)), retry, (rate.burst - level) / rate.per_second)


class Limits(Protocol):
    async def hit(self, key: str, rate: RateLimit) -> BucketState: ...
    async def first_use(self, nonce_key: str, ttl_seconds: int) -> bool: ...
    async def ping(self) -> None: ...


class MemoryLimits:
    """One process's buckets and nonces."""

    def __init__(self, clock=time.monotonic, wall=time.time) -> None:
        self.clock, self.wall = clock, wall
        self.buckets: dict[str, tuple[float, float, float]] = {}  # key -> (tokens, updated, seconds to refill)
        self.nonces: dict[str, float] = {}  # key -> expiry (wall clock)
        self.lock = threading.Lock()
        self.next_sweep = 0.0
        self.next_bucket_sweep = 0.0

    async def hit(self, key: str, rate: RateLimit) -> BucketState:
        now = self.clock()
        with self.lock:
            if now >= self.next_bucket_sweep:  # a bucket refilled to the brim is the same as none: forget it
                self.buckets = {k: b for k, b in self.buckets.items() if now - b[1] < b[2]}
                self.next_bucket_sweep = now + 10
            tokens, updated, _ = self.buckets.get(key, (float(rate.burst), now, 0.0))
            level, state = take(tokens, updated, now, rate)
            self.buckets[key] = (level, now, (rate.burst - level) / rate.per_second)
        return state

    async def first_use(self, nonce_key: str, ttl_seconds: int) -> bool:
        now = self.wall()
        with self.lock:
            if now >= self.next_sweep:  # forget expired nonces now and then, not on every call
                self.nonces = {k: t for k, t in self.nonces.items() if t > now}
                self.next_sweep = now + 10
            expiry = self.nonces.get(nonce_key)
            if expiry is not None and expiry > now:
                return False
            self.nonces[nonce_key] = now + ttl_seconds
            return True

    async def ping(self) -> None:
        return None


# The bucket in Redis: the same arithmetic as `take`, atomically in one script.
_BUCKET_SCRIPT = """
local rate = tonumber(ARGV[1]); local burst = tonumber(ARGV[2])
local t = redis.call('TIME'); local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'updated')
local tokens = tonumber(state[1]) or burst; local updated = tonumber(state[2]) or now
local level = math.min(burst, tokens + math.max(0, now - updated) * rate)
local allowed = 0
if level >= 1 then level = level - 1; allowed = 1 end
redis.call('HSET', KEYS[1], 'tokens', tostring(level), 'updated', tostring(now))
redis.call('EXPIRE', KEYS[1], math.ceil(burst / rate) + 1)
return {allowed, tostring(level)}
"""


class RedisLimits:
    """Buckets and nonces shared by every process that points at the same Redis."""

    def __init__(self, url: str, prefix: str = "lendguard:") -> None:
        import redis.asyncio as aioredis

        self.redis = aioredis.from_url(url)
        self.prefix = prefix
        self.script = self.redis.register_script(_BUCKET_SCRIPT)

    async def hit(self, key: str, rate: RateLimit) -> BucketState:
        allowed, level = await self.script(keys=[f"{self.prefix}bucket:{key}"], args=[rate.per_second, rate.burst])
        return bucket_state(bool(allowed), float(level), rate)

    async def first_use(self, nonce_key: str, ttl_seconds: int) -> bool:
        return bool(await self.redis.set(f"{self.prefix}nonce:{nonce_key}", b"1", nx=True, ex=ttl_seconds))

    async def ping(self) -> None:
        await self.redis.ping()

    async def close(self) -> None:
        await self.redis.aclose()
