"""What the list and get handlers of the rewards API share: the caller's rows (its project
and mode), one of them by its public id or the API's 404, and one page as a list answer."""

from collections.abc import Callable
from typing import Any

from django.db.models import Model, QuerySet

from sarafan.core.errors import NotFound
from sarafan.core.pagination import ListQuery, paginate
from sarafan.projects.services import ApiCaller


def of_caller[M: Model](model: type[M], caller: ApiCaller) -> QuerySet[M]:
    """The rows of the caller's project in the caller's mode (test or live)."""
    return model._default_manager.filter(project=caller.project, livemode=caller.livemode)


def by_id[M: Model](queryset: QuerySet[M], public_id: str, noun: str, *, param: str = "id") -> M:
    """The row of this public id, or NotFound naming the parameter that gave it."""
    found = queryset.filter(public_id=public_id).first()
    if found is None:
        raise NotFound(f"No {noun} '{public_id}'.", param=param)
    return found


def page_answer[M: Model](
    queryset: QuerySet[M], query: ListQuery, out: Callable[[M], dict[str, Any]]
) -> dict[str, Any]:
    """One page, newest first, as API.md's list answer."""
    page, has_more = paginate(queryset, limit=query.limit, starting_after=query.starting_after)
    return {"object": "list", "data": [out(item) for item in page], "has_more": has_more}
