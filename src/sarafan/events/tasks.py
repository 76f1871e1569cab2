"""Event tasks: thin wrappers that call the dispatcher."""

from django.tasks import task


@task()
def dispatch_events(project_id: int | None = None) -> int:
    """Hand pending events (of one project, or every project's) to their handlers."""
    from .dispatch import dispatch

    return dispatch(project_id=project_id)


@task()
def purge_events() -> int:
    """Delete processed events past SARAFAN_EVENT_KEEP_DAYS."""
    from .dispatch import purge_processed

    return purge_processed()
