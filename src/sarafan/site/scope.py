"""The console's scope bound to projects: the kit's Scope whose project is a Project."""

from typing import Any

from django.http import HttpRequest

from sarafan.console import scope as kit
from sarafan.console.scope import LIVE, MODE_PARAM, PROJECT_PARAM, TEST
from sarafan.projects.models import Project

__all__ = ["LIVE", "MODE_PARAM", "PROJECT_PARAM", "TEST", "Scope", "current_scope"]

Scope = kit.Scope[Project]


def _find(pk: int) -> Project | None:
    return Project.objects.filter(pk=pk).first()


def _first() -> Project | None:
    return Project.objects.order_by("pk").first()


def current_scope(request: HttpRequest, params: Any = None) -> Scope:
    """The page's project and mode: as asked in the query, else as last chosen, else the
    live mode of the first project. A choice is remembered for the other console pages."""
    return kit.resolve_scope(request, params, find=_find, first=_first)
