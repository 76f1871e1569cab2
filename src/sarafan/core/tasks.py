"""Core background tasks: thin wrappers that call services."""

from django.tasks import TaskContext, task


@task()
def ensure_partitions() -> list[str]:
    """Keep the coming months' partitions of clicks and events created (PostgreSQL only)."""
    from .partitions import ensure_partitions as ensure

    return ensure()


@task()
def purge_rate_counters() -> int:
    """Drop rate-limit counters whose window has ended (database store only)."""
    from .ratelimit import purge_expired_counters

    return purge_expired_counters()


@task(takes_context=True)
def fail_stalled_tasks(context: TaskContext) -> int:
    """Mark failed the tasks a dead worker left running (database task backend only)."""
    from .stalled import fail_stalled_tasks as fail

    return fail(running=str(context.task_result.id))
