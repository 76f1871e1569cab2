"""The per-process cache of resolved links behind /r/<code> (see selectors.link_target)."""

import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(slots=True)
class _Entry[T]:
    fetched_at: float  # time.monotonic()
    value: T
    read: bool = False  # read since it was fetched


class LinkCache[T]:
    """Values by code, least recently used first out, each good for a TTL; thread-safe.

    The age is checked against the TTL given on each read, so a changed setting applies at
    once. Entries read since they were fetched can be renewed ahead of their expiry in one
    batch (stale, renew), so that links in use do not expire on a request.
    """

    def __init__(self, size: int) -> None:
        self._size = size
        self._entries: OrderedDict[str, _Entry[T]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, code: str, *, ttl: float) -> T | None:
        with self._lock:
            entry = self._entries.get(code)
            if entry is None:
                return None
            if time.monotonic() - entry.fetched_at >= ttl:
                del self._entries[code]
                return None
            self._entries.move_to_end(code)
            entry.read = True
            return entry.value

    def put(self, code: str, value: T) -> None:
        with self._lock:
            self._put(code, _Entry(time.monotonic(), value))

    def _put(self, code: str, entry: _Entry[T]) -> None:
        self._entries[code] = entry
        self._entries.move_to_end(code)
        while len(self._entries) > self._size:
            self._entries.popitem(last=False)

    def stale(self, *, age: float) -> list[str]:
        """Codes read since they were fetched, fetched at least `age` seconds ago."""
        since = time.monotonic() - age
        with self._lock:
            entries = list(self._entries.items())
        return [code for code, entry in entries if entry.read and entry.fetched_at <= since]

    def renew(self, codes: list[str], found: Mapping[str, T], *, fetched_at: float) -> None:
        """Store what a fresh read found for `codes`; a code it did not find is dropped."""
        with self._lock:
            for code in codes:
                if code not in found:
                    self._entries.pop(code, None)
                elif code in self._entries:  # not evicted meanwhile
                    self._put(code, _Entry(fetched_at, found[code]))

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
