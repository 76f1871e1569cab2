"""Task rows a dead worker left RUNNING are marked failed by the periodic sweep
(core/stalled.py); rows still within the limit, waiting or finished keep their state."""

from datetime import timedelta

import pytest
from django.tasks import TaskContext
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from sarafan.core.stalled import WorkerLost, fail_stalled_tasks
from sarafan.core.tasks import fail_stalled_tasks as fail_stalled_task
from sarafan.rewards.tasks import deliver_reward, recover_deliveries
from sarafan.site.schedule import periodic_tasks

pytestmark = pytest.mark.django_db


def running(task_result_id: str, *, for_: timedelta) -> DBTaskResult:
    """The row as a worker that took the task and then died leaves it."""
    DBTaskResult.objects.filter(pk=task_result_id).update(
        status="RUNNING", started_at=timezone.now() - for_, worker_ids=["w-dead"]
    )
    return DBTaskResult.objects.get(pk=task_result_id)


def test_a_task_left_running_by_a_dead_worker_is_marked_failed(settings):
    settings.SARAFAN_TASK_STALE_SECONDS = 3600
    dead = running(deliver_reward.enqueue(1).id, for_=timedelta(hours=2))
    busy = running(deliver_reward.enqueue(2).id, for_=timedelta(minutes=5))
    waiting = DBTaskResult.objects.get(pk=deliver_reward.enqueue(3).id)

    assert fail_stalled_tasks() == 1
    assert fail_stalled_tasks() == 0

    dead.refresh_from_db()
    assert dead.status == "FAILED"
    assert dead.finished_at is not None
    [error] = dead.task_result.errors
    assert error.exception_class is WorkerLost
    assert "still running after 3600 s" in error.traceback
    assert DBTaskResult.objects.get(pk=busy.pk).status == "RUNNING"
    assert DBTaskResult.objects.get(pk=waiting.pk).status == "READY"


def test_a_task_that_finished_keeps_its_outcome(settings):
    settings.SARAFAN_TASK_STALE_SECONDS = 60
    done = running(deliver_reward.enqueue(1).id, for_=timedelta(hours=2))
    DBTaskResult.objects.filter(pk=done.pk).update(
        status="SUCCESSFUL", finished_at=timezone.now(), return_value="sent"
    )

    assert fail_stalled_tasks() == 0
    assert DBTaskResult.objects.get(pk=done.pk).status == "SUCCESSFUL"


def test_the_sweep_never_marks_its_own_row(settings):
    settings.SARAFAN_TASK_STALE_SECONDS = 0
    own = running(fail_stalled_task.enqueue().id, for_=timedelta(hours=1))
    other = running(deliver_reward.enqueue(1).id, for_=timedelta(hours=1))

    assert fail_stalled_task.call(TaskContext(task_result=own.task_result)) == 1

    assert DBTaskResult.objects.get(pk=own.pk).status == "RUNNING"
    assert DBTaskResult.objects.get(pk=other.pk).status == "FAILED"


def test_both_recovery_sweeps_run_every_five_minutes():
    schedule = periodic_tasks()
    assert (5 * 60.0, fail_stalled_task.enqueue) in schedule
    assert (5 * 60.0, recover_deliveries.enqueue) in schedule
