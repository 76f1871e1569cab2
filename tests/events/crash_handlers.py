"""Handlers for the dispatcher crash test, run by a real `sarafan worker`: each call is a
line in the file SARAFAN_TEST_EVENT_LOG; `held` waits forever when SARAFAN_TEST_EVENT_HOLD
is set (the worker is killed while it waits)."""

import os
import time

from sarafan.events.models import OutboxEvent


def _note(line: str) -> None:
    with open(os.environ["SARAFAN_TEST_EVENT_LOG"], "a") as log:
        log.write(line + "\n")
        log.flush()
        os.fsync(log.fileno())


def noted(event: OutboxEvent) -> None:
    _note(f"noted {event.payload['n']}")


def held(event: OutboxEvent) -> None:
    _note(f"start {event.payload['n']}")
    while os.environ.get("SARAFAN_TEST_EVENT_HOLD"):
        time.sleep(1)
    _note(f"done {event.payload['n']}")
