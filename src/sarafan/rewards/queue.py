"""The rewards' background tasks, enqueued from domain modules by their task path.

tasks.py is an interface: its tasks import the domain modules they call. A domain module
that needs a task run names it here instead of importing tasks.py, so the domain never
imports its own interface. (The events outbox is to take these enqueues over.)
"""

from typing import Literal

from django.db import transaction
from django.utils.module_loading import import_string

TASKS = "sarafan.rewards.tasks"
# The tasks of tasks.py that domain modules enqueue (tests/rewards/test_queue.py checks).
Task = Literal["deliver_reward", "issue_with_issuer", "resume_waiting_rewards", "cancel_at_issuer"]


def enqueue(task: Task, *args: int) -> None:
    """Enqueue the rewards task named `task` (one of tasks.py) now."""
    import_string(f"{TASKS}.{task}").enqueue(*args)


def on_commit(task: Task, *args: int) -> None:
    """Enqueue the rewards task named `task` once the current transaction commits."""
    transaction.on_commit(lambda: enqueue(task, *args))
