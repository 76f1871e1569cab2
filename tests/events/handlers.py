"""Handlers the event tests name in SARAFAN_EVENT_HANDLERS."""

import threading
import time

from sarafan.events.models import OutboxEvent

calls: list[tuple[str, int]] = []
failing: set[str] = set()
lock = threading.Lock()
# Seconds each call of `slow` takes (the concurrent dispatchers' test).
slow_seconds = 0.0


def _record(name: str, event: OutboxEvent) -> None:
    with lock:
        calls.append((name, event.pk))
    if name in failing:
        raise RuntimeError(f"{name} is down")


def first(event: OutboxEvent) -> None:
    _record("first", event)


def second(event: OutboxEvent) -> None:
    _record("second", event)


def slow(event: OutboxEvent) -> None:
    _record("slow", event)
    time.sleep(slow_seconds)


def reset() -> None:
    calls.clear()
    failing.clear()
