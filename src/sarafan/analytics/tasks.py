"""Analytics background tasks: thin wrappers that call services."""

from django.tasks import task


@task()
def rollup_analytics() -> int:
    """Roll up every project's days before today; the last few are recomputed each time."""
    from .services import rollup_days

    return rollup_days()
