"""Task rows that a dead worker left running, marked failed (database task backend only).

django_tasks_db marks a task RUNNING when a worker takes it and finished when it ends: a
worker killed in between (SIGKILL, the out-of-memory killer, a lost host) leaves the row
RUNNING for ever. The row does not say whether its worker still lives, so a task running
longer than SARAFAN_TASK_STALE_SECONDS, far above what any task takes, is taken for one
whose worker died. Marking it failed is bookkeeping: nothing runs it again. The periodic
sweeps do the work it left (rewards/recovery.py for e-mails; resume_waiting for issuer
attempts, whose lease lapses), each guarded by claims in the database.
"""

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.tasks import TaskResultStatus, task_backends
from django.utils import timezone

logger = logging.getLogger("sarafan.core.stalled")
BATCH = 1000


class WorkerLost(Exception):
    """What a task left running by a dead worker is recorded as failing with."""


def fail_stalled_tasks(*, now: datetime | None = None, running: str | None = None) -> int:
    """Mark failed the tasks running for over SARAFAN_TASK_STALE_SECONDS; returns how many.

    `running` is the id of the calling task's own row, never marked.
    """
    from django_tasks_db.backend import DatabaseBackend
    from django_tasks_db.models import DBTaskResult

    backend = task_backends["default"]
    if not isinstance(backend, DatabaseBackend):
        return 0  # RQ stops and fails a task that runs too long by itself
    now = now or timezone.now()
    limit = settings.SARAFAN_TASK_STALE_SECONDS
    stalled = DBTaskResult.objects.filter(
        backend_name=backend.alias,
        status=TaskResultStatus.RUNNING,
        started_at__lt=now - timedelta(seconds=limit),
    )
    if running is not None:
        stalled = stalled.exclude(pk=running)
    rows = list(stalled.order_by("started_at").values_list("pk", "task_path")[:BATCH])
    if not rows:
        return 0
    # Conditional on RUNNING still: a task that finished meanwhile keeps its outcome.
    failed = stalled.filter(pk__in=[pk for pk, _ in rows]).update(
        status=TaskResultStatus.FAILED,
        finished_at=now,
        exception_class_path=f"{WorkerLost.__module__}.{WorkerLost.__qualname__}",
        traceback=(
            f"{WorkerLost.__name__}: the task was still running after {limit:g} s; its "
            "worker is taken for dead and the periodic sweeps redo what it left.\n"
        ),
    )
    for pk, task_path in rows:
        logger.warning("task %s (%s) left running by a dead worker: marked failed", pk, task_path)
    return failed
