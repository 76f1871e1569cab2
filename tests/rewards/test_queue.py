from typing import get_args

from django.tasks import Task

from sarafan.rewards import queue, tasks


def test_every_task_the_domain_enqueues_by_name_is_a_rewards_task():
    for name in get_args(queue.Task):
        assert isinstance(getattr(tasks, name), Task), name
