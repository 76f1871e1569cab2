"""Core background tasks: thin wrappers that call services."""

from django.tasks import task


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
