"""The benchmark's Django-side helper, run by benchmarks/run.py in a subprocess.

It runs with the benchmark's environment (DATABASE_URL, SARAFAN_DATA_DIR,
SARAFAN_TASK_BACKEND, DJANGO_SETTINGS_MODULE=sarafan.settings) and prints one JSON object
on stdout:

    python benchmarks/django_side.py settings   # the settings the server runs with
    python benchmarks/django_side.py probe      # one task through the worker: it is up
    python benchmarks/django_side.py tasks RATE SECONDS BURST

`tasks` enqueues RATE tasks a second, evenly spaced, for SECONDS seconds (a load the worker
can keep up with: the latency a task sees in normal operation), waits for them, then
enqueues BURST tasks back to back and waits for those (the queue a burst builds up). For
every task it reports the enqueue, start and finish times and the status, read through the
configured backend, so the same code measures the database and the RQ backend. It defines
no task of its own: it uses `sarafan.rewards.tasks.release_due_rewards`, a no-op sweep when
no reward is due.
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


def _finished(result_id: str) -> bool:
    from django.tasks import default_task_backend

    return default_task_backend.get_result(result_id).status in {"SUCCESSFUL", "FAILED"}


def _wait(ids: list[str], timeout: float) -> bool:
    """Wait until every task has finished; the queue is FIFO, so the last one is watched."""
    deadline = time.monotonic() + timeout
    pending = list(ids)
    while pending:
        if _finished(pending[-1]):
            pending = [i for i in pending if not _finished(i)]
            if not pending:
                return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _timings(ids: list[str]) -> list[list[Any]]:
    """[enqueued, started, finished, status] per task; times in seconds since the epoch."""
    from django.tasks import default_task_backend

    rows = []
    for result_id in ids:
        result = default_task_backend.get_result(result_id)
        rows.append(
            [
                stamp.timestamp() if stamp else None
                for stamp in (result.enqueued_at, result.started_at, result.finished_at)
            ]
            + [str(result.status)]
        )
    return rows


def probe() -> dict[str, Any]:
    from sarafan.rewards.tasks import release_due_rewards

    result_id = str(release_due_rewards.enqueue().id)
    if not _wait([result_id], PROBE_TIMEOUT_SECONDS):
        return {"error": "the worker did not finish a probe task within 60 s"}
    return {"id": result_id}


def tasks(rate: float, seconds: float, burst: int, timeout: float) -> dict[str, Any]:
    from sarafan.rewards.tasks import release_due_rewards

    steady: list[str] = []
    count = max(1, round(rate * seconds))
    started = time.monotonic()
    for index in range(count):
        # Evenly spaced from a fixed start, so a slow enqueue does not shift the rest.
        delay = started + index / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        steady.append(str(release_due_rewards.enqueue().id))
    steady_seconds = time.monotonic() - started
    if not _wait(steady, timeout):
        return {"error": f"the steady-rate tasks did not all finish within {timeout:.0f} s"}

    time.sleep(0.5)
    started = time.monotonic()
    burst_ids = [str(release_due_rewards.enqueue().id) for _ in range(burst)]
    burst_seconds = time.monotonic() - started
    drained = _wait(burst_ids, timeout)
    return {
        "steady": {"rate": rate, "enqueue_seconds": steady_seconds, "tasks": _timings(steady)},
        "burst": {
            "enqueue_seconds": burst_seconds,
            "all_finished": drained,
            "tasks": _timings(burst_ids),
        },
    }


def main(argv: list[str]) -> int:
    usage = "usage: django_side.py settings | probe | tasks RATE SECONDS BURST [TIMEOUT]"
    if not argv or argv[0] not in {"settings", "probe", "tasks"}:
        print(usage, file=sys.stderr)
        return 2
    _setup()
    if argv[0] == "settings":
        result = settings_summary()
    elif argv[0] == "probe":
        result = probe()
    else:
        timeout = float(argv[4]) if len(argv) > 4 else 120.0
        result = tasks(float(argv[1]), float(argv[2]), int(argv[3]), timeout)
    print(json.dumps(result, default=str))
    return 1 if "error" in result else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
