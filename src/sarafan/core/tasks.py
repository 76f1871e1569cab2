"""Core background tasks: thin wrappers that call services."""

from django.tasks import task


@task()
def ensure_partitions() -> list[str]:
    """Keep the coming months' partitions of clicks and events created (PostgreSQL only)."""
    from .partitions import ensure_partitions as ensure

    return ensure()
