"""The page a console user sees while django-axes has their sign-in locked out."""

import math

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


def locked_out(
    request: HttpRequest, response: HttpResponse | None = None, credentials: object = None
) -> HttpResponse:
    """429 with Retry-After: the lockout lasts AXES_COOLOFF_TIME from the last failure."""
    seconds = int(settings.AXES_COOLOFF_TIME.total_seconds())
    page = render(
        request,
        "console/locked_out.html",
        {"failure_limit": settings.AXES_FAILURE_LIMIT, "minutes": math.ceil(seconds / 60)},
        status=429,
    )
    page["Retry-After"] = str(seconds)
    return page
