"""Cursor pagination as API.md describes: `limit` 1–100 and `starting_after` an id."""

from typing import Any

from django.db.models import Model, QuerySet
from ninja import Schema
from pydantic import Field

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


class ListQuery(Schema):
    """A list's query parameters; `limit` is checked by `paginate`, which names it."""

    limit: int = Field(
        default=DEFAULT_LIMIT, json_schema_extra={"minimum": 1, "maximum": MAX_LIMIT}
    )
    starting_after: str | None = Field(
        default=None, description="the id of the last object of the previous page"
    )
