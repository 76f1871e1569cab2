"""Cursor pagination as API.md describes: `limit` 1–100 and `starting_after` an id."""

from typing import Any

from django.db.models import Model, QuerySet

from .errors import InvalidRequest

DEFAULT_LIMIT = 20
MAX_LIMIT = 100


def paginate[M: Model](
    queryset: QuerySet[M], *, limit: int | None, starting_after: str | None
) -> tuple[list[M], bool]:
    """Newest first; returns one page and whether more follow."""
    limit = DEFAULT_LIMIT if limit is None else limit
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidRequest("limit must be between 1 and 100.", param="limit")
    queryset = queryset.order_by("-pk")
    if starting_after:
        anchor: Any = queryset.filter(public_id=starting_after).values_list("pk", flat=True).first()
        if anchor is None:
            raise InvalidRequest(
                f"starting_after '{starting_after}' is not an object of this list.",
                param="starting_after",
            )
        queryset = queryset.filter(pk__lt=anchor)
    page = list(queryset[: limit + 1])
    return page[:limit], len(page) > limit
