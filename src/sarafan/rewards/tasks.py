"""Reward background tasks: thin wrappers that load ids and call services."""

from django.tasks import task


@task()
def release_due_rewards() -> int:
    from .services import release_due_rewards as release

    return release()
