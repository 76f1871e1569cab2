"""The benchmark's Django-side helper, run by benchmarks/run.py in a subprocess.

It runs with the benchmark's environment (DATABASE_URL, SARAFAN_DATA_DIR,
DJANGO_SETTINGS_MODULE=sarafan.settings) and prints one JSON object on stdout:

    python benchmarks/django_side.py settings      # the settings the server runs with
    python benchmarks/django_side.py enqueue 500   # enqueue an existing task 500 times

`enqueue` first runs two probe tasks through the running worker, one after the other (the
first shows the worker is up, the second how soon an idle worker starts a task), then
enqueues the N tasks back to back. It defines no
task of its own: it uses `sarafan.rewards.tasks.release_due_rewards`, a no-op sweep when no
reward is due.
"""

import json
import os
import sys
import time
from typing import Any

PROBE_TIMEOUT_SECONDS = 60.0


def _setup() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sarafan.settings")
    import django

    django.setup()


def settings_summary() -> dict[str, Any]:
    from django.conf import settings

    db = settings.DATABASES["default"]
    options = db.get("OPTIONS", {})
    return {
        "engine": db.get("ENGINE"),
        "conn_max_age": db.get("CONN_MAX_AGE"),
        "pool": options.get("pool") if isinstance(options, dict) else None,
        "task_backend": settings.TASKS["default"]["BACKEND"],
        "debug": settings.DEBUG,
        "cache": settings.CACHES["default"]["BACKEND"],
    }


def _run_one(task: Any, timeout: float) -> Any:
    """Enqueue one task and wait until a worker has finished it; returns its row."""
    from django_tasks_db.models import DBTaskResult

    result = task.enqueue()
    deadline = time.monotonic() + timeout
    row = DBTaskResult.objects.get(pk=result.id)
    while row.finished_at is None:
        if time.monotonic() > deadline:
            return None
        time.sleep(0.02)
        row = DBTaskResult.objects.get(pk=result.id)
    return row


def enqueue(count: int) -> dict[str, Any]:
    from sarafan.rewards.tasks import release_due_rewards

    # The first probe proves the worker is up; the second, sent once it is idle again,
    # shows how soon an idle worker picks a task up.
    if _run_one(release_due_rewards, PROBE_TIMEOUT_SECONDS) is None:
        return {"error": "the worker did not finish a probe task within 60 s"}
    time.sleep(0.5)
    probe = _run_one(release_due_rewards, PROBE_TIMEOUT_SECONDS)
    if probe is None:
        return {"error": "the worker did not finish the second probe task within 60 s"}
    started = time.time()
    ids = [str(release_due_rewards.enqueue().id) for _ in range(count)]
    finished = time.time()
    return {
        "probe_id": str(probe.pk),
        "ids": ids,
        "enqueue_started": started,
        "enqueue_finished": finished,
    }


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in {"settings", "enqueue"}:
        print("usage: django_side.py settings | enqueue N", file=sys.stderr)
        return 2
    _setup()
    result = settings_summary() if argv[0] == "settings" else enqueue(int(argv[1]))
    print(json.dumps(result, default=str))
    return 1 if "error" in result else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
