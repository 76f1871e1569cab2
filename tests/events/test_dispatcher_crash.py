"""A `sarafan worker` SIGKILLed in the middle of a handler, against an installation of its
own (SQLite, or a fresh PostgreSQL database on the PostgreSQL pass): after its lease, a
new worker hands the event out again; the handler that had succeeded is not called again,
the interrupted one completes once."""

import json
import subprocess
from pathlib import Path

import pytest

from tests.processes import SARAFAN, create_project, wait_until
from tests.test_crash_recovery import DELIVERY_SECONDS, env, sql, start_worker, stop, wait_done

pytestmark = pytest.mark.e2e
__all__ = ["env"]  # the installation fixture
HANDLERS = {"test.crash": ["tests.events.crash_handlers.noted", "tests.events.crash_handlers.held"]}
REPO = str(Path(__file__).resolve().parents[2])
PUBLISH = """
from django.db import transaction
from sarafan.events.outbox import publish
from sarafan.projects.models import Project
with transaction.atomic():
    publish(Project.objects.get(), False, "test.crash", {"n": 1})
"""


def lines(log: Path) -> list[str]:
    return log.read_text().splitlines() if log.exists() else []


def test_an_event_of_a_killed_worker_is_handed_out_again_and_completed_once(env, tmp_path):
    create_project(env)
    log = tmp_path / "handlers.log"
    env = {
        **env,
        "PYTHONPATH": REPO,
        "SARAFAN_EVENT_HANDLERS": json.dumps(HANDLERS),
        "SARAFAN_EVENT_LEASE_SECONDS": "2",
        "SARAFAN_TEST_EVENT_LOG": str(log),
    }
    first = second = None
    try:
        first = start_worker({**env, "SARAFAN_TEST_EVENT_HOLD": "1"})
        published = subprocess.run(
            [SARAFAN, "manage", "shell", "-c", PUBLISH], env=env, capture_output=True, text=True
        )
        assert published.returncode == 0, published.stderr
        wait_until(
            lambda: "start 1" in lines(log),
            timeout=DELIVERY_SECONDS,
            message="the worker did not start the handler",
            every=0.1,
        )
        stop(first)  # SIGKILL while the handler runs

        # What the dead worker left: the first handler done, the event claimed, pending.
        [(state, processed, locked_by)] = sql(
            env, "SELECT handlers, processed_at, locked_by FROM events_outboxevent"
        )
        state = json.loads(state) if isinstance(state, str) else state
        assert state == {"tests.events.crash_handlers.noted": {"done": True, "attempts": 1}}
        assert processed is None and locked_by
        assert lines(log) == ["noted 1", "start 1"]

        # A new worker whose sweep also fails the dead worker's task row at once.
        second = start_worker({**env, "SARAFAN_TASK_STALE_SECONDS": "0"})
        wait_done(
            env,
            lambda: sql(env, "SELECT processed_at FROM events_outboxevent")[0][0] is not None,
            "the new worker did not hand out the event again",
        )
        assert lines(log) == ["noted 1", "start 1", "start 1", "done 1"]
        [(state,)] = sql(env, "SELECT handlers FROM events_outboxevent")
        state = json.loads(state) if isinstance(state, str) else state
        assert state["tests.events.crash_handlers.held"] == {"done": True, "attempts": 1}
    finally:
        stop(first)
        stop(second)
