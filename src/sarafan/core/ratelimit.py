"""Rate limits: fixed-window counters per key and per client address.

Two kinds of limit, counted in two kinds of store:
- **Request limits** (every API request, per key and per address) are counted where the
  cache is: in Redis when REDIS_URL is set, shared by every process; otherwise in this
  process's memory, so each server process allows the limit on its own (DESIGN.md: local
  memory by default). They cost no database round trip.
- **Guess limits** (failed authentications, unknown certificate codes, unknown portal
  tokens) must hold across processes, since they stop brute force: they are counted in
  Redis when REDIS_URL is set, otherwise in the database. Only failures are counted, and a
  client over the limit is remembered in each process until its window ends, so an
  honest request pays nothing and a blocked one costs no round trip at all.

A rate is written "N/S": N requests per S seconds ("600/60").
"""

import math
import threading
import time
from dataclasses import dataclass
from functools import cache
from typing import Protocol

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import connection

from .hashing import keyed_hash


@dataclass(frozen=True)
class Rate:
    limit: int
    period: int

    @classmethod
    def parse(cls, text: str) -> "Rate":
        return _parse(text)


@cache
def _parse(text: str) -> Rate:
    count, _, seconds = text.partition("/")
    try:
        rate = Rate(int(count), int(seconds or "60"))
    except ValueError:
        rate = Rate(0, 0)
    if rate.limit < 1 or rate.period < 1:
        raise ImproperlyConfigured(f"A rate limit is written N/S (e.g. 600/60), not {text!r}.")
    return rate


@dataclass(frozen=True)
class Verdict:
    """One count against one limit: allowed or not, what is left, and when it resets."""

    allowed: bool
    limit: int
    remaining: int
    reset_seconds: int

    def headers(self) -> dict[str, str]:
        headers = {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset_seconds),
        }
        if not self.allowed:
            headers["Retry-After"] = str(self.reset_seconds)
        return headers


class Store(Protocol):
    def incr(self, counters: list[tuple[str, int]]) -> list[int]:
        """Add one to each counter (key, seconds it lives) and return their new values."""
        ...


class LocalStore:
    """Counters in this process's memory."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, tuple[int, float]] = {}

    def incr(self, counters: list[tuple[str, int]]) -> list[int]:
        now = time.monotonic()
        values = []
        with self._lock:
            if len(self._counts) > 50_000:
                self._counts = {k: v for k, v in self._counts.items() if v[1] > now}
            for key, period in counters:
                used, expires = self._counts.get(key, (0, now + period))
                if expires <= now:
                    used, expires = 0, now + period
                self._counts[key] = (used + 1, expires)
                values.append(used + 1)
        return values

    def clear(self) -> None:
        with self._lock:
            self._counts.clear()


class RedisStore:
    """Counters in Redis: INCR and EXPIRE in one round trip."""

    def incr(self, counters: list[tuple[str, int]]) -> list[int]:
        from django.core.cache import cache as django_cache

        client = django_cache._cache.get_client(write=True)  # type: ignore[attr-defined]
        pipe = client.pipeline(transaction=False)
        for key, period in counters:
            pipe.incr(f"sarafan:rl:{key}")
            pipe.expire(f"sarafan:rl:{key}", period + 1, nx=True)
        results = pipe.execute()
        return [int(value) for value in results[::2]]


class DatabaseStore:
    """Counters in the database (core.RateCounter): one upsert per failure."""

    def incr(self, counters: list[tuple[str, int]]) -> list[int]:
        from .models import RateCounter

        table = connection.ops.quote_name(RateCounter._meta.db_table)
        values = []
        with connection.cursor() as cursor:
            for key, period in counters:
                cursor.execute(
                    f"INSERT INTO {table} (bucket, expires_at, count) VALUES (%s, %s, 1) "  # noqa: S608
                    f"ON CONFLICT (bucket) DO UPDATE SET count = {table}.count + 1 "
                    "RETURNING count",
                    [key, int(time.time()) + period + 1],
                )
                row = cursor.fetchone()
                values.append(int(row[0]) if row else 1)
        return values


def purge_expired_counters() -> int:
    """Drop the database counters whose window has ended; the periodic sweep calls this."""
    from .models import RateCounter

    deleted, _ = RateCounter.objects.filter(expires_at__lt=int(time.time())).delete()
    return deleted


_local = LocalStore()
_redis = RedisStore()
_database = DatabaseStore()


def request_store() -> Store:
    return _redis if settings.REDIS_URL else _local


def guess_store() -> Store:
    return _redis if settings.REDIS_URL else _database


def _window(period: int) -> tuple[int, int]:
    """The current window's number and the seconds until it ends."""
    now = time.time()
    window = int(now // period)
    return window, max(1, math.ceil((window + 1) * period - now))


def count(store: Store, limits: list[tuple[str, str, Rate]]) -> list[Verdict]:
    """Count one request against each (limit name, client, rate), in one round trip."""
    windows = [_window(rate.period) for _, _, rate in limits]
    used = store.incr(
        [
            (f"{name}:{ident}:{rate.period}:{window}", rate.period)
            for (name, ident, rate), (window, _) in zip(limits, windows, strict=True)
        ]
    )
    return [
        Verdict(n <= rate.limit, rate.limit, max(rate.limit - n, 0), reset)
        for n, (_, _, rate), (_, reset) in zip(used, limits, windows, strict=True)
    ]


class Blocks:
    """Clients over a guess limit, remembered in this process until their window ends."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._until: dict[str, tuple[float, Verdict]] = {}

    def get(self, key: str) -> Verdict | None:
        entry = self._until.get(key)
        if entry is None:
            return None
        until, verdict = entry
        remaining = until - time.monotonic()
        if remaining <= 0:
            with self._lock:
                self._until.pop(key, None)
            return None
        return Verdict(False, verdict.limit, 0, max(1, math.ceil(remaining)))

    def put(self, key: str, verdict: Verdict) -> None:
        with self._lock:
            if len(self._until) > 50_000:
                now = time.monotonic()
                self._until = {k: v for k, v in self._until.items() if v[0] > now}
            self._until[key] = (time.monotonic() + verdict.reset_seconds, verdict)

    def clear(self) -> None:
        with self._lock:
            self._until.clear()


_blocks = Blocks()


@dataclass(frozen=True)
class GuessLimit:
    """A limit on failed guesses (`name`), its rate read from a setting."""

    name: str
    setting: str

    @property
    def rate(self) -> Rate:
        return Rate.parse(getattr(settings, self.setting))

    def _key(self, ident: str) -> str:
        return f"{self.name}:{ident}"

    def blocked(self, ident: str) -> Verdict | None:
        """The 429 verdict while `ident` is over the limit, without any round trip."""
        return _blocks.get(self._key(ident))

    def failed(self, ident: str) -> Verdict:
        """Count one failed guess; past the limit, `ident` is blocked until the window ends."""
        [verdict] = count(guess_store(), [(self.name, ident, self.rate)])
        if not verdict.allowed:
            _blocks.put(self._key(ident), verdict)
        return verdict


AUTH_FAILURES = GuessLimit("auth", "SARAFAN_RATE_LIMIT_AUTH_FAILURES")
CERTIFICATE_MISSES = GuessLimit("certificate", "SARAFAN_RATE_LIMIT_CERTIFICATE_MISSES")
PORTAL_MISSES = GuessLimit("portal", "SARAFAN_RATE_LIMIT_PORTAL_MISSES")


def ident_of(secret: str) -> str:
    """A short, stable stand-in for a key or token: never the secret itself."""
    return keyed_hash(secret, purpose="rate limit")[:24]


def reset() -> None:
    """Forget this process's counters and blocks (tests start each from nothing)."""
    _local.clear()
    _blocks.clear()
