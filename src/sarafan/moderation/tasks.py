"""Moderation's background tasks: thin wrappers that call the services."""

from django.tasks import task


@task()
def run_stop_rules() -> int:
    from .scan import run_stop_rules as run

    return run()


@task()
def apply_review_deadlines() -> int:
    from .services import apply_review_deadlines as apply

    return apply()
