"""Moderation's periodic tasks: scheduled under their new path, and rows queued under the
old one (sarafan.fraud.tasks.…) before an upgrade still run."""

from django.tasks import Task
from django_tasks_db.models import DBTaskResult

from sarafan.moderation import tasks
from sarafan.site.schedule import periodic_tasks


def test_the_schedule_enqueues_moderations_tasks():
    enqueued = {getattr(enqueue, "__self__", None) for _, enqueue in periodic_tasks()}
    assert {tasks.run_stop_rules, tasks.apply_review_deadlines} <= enqueued


def test_a_row_queued_under_the_old_path_finds_its_task(db):
    for name in ("run_stop_rules", "apply_review_deadlines"):
        row = DBTaskResult(
            task_path=f"sarafan.fraud.tasks.{name}",
            priority=0,
            queue_name="default",
            backend_name="default",
        )
        task = row.task
        assert isinstance(task, Task)
        assert task.func is getattr(tasks, name).func
        assert task.call() == 0  # nothing to hold or decide in an empty database
