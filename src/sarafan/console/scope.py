"""The project and mode a console user works in, chosen in the query and remembered.

Generic over what a project is: the kit knows only that it has a primary key. Which rows
are projects, and which one is first, the composing package says (sarafan.site.scope).
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from django.http import HttpRequest

from sarafan.core.ids import row_id

MODE_PARAM, PROJECT_PARAM = "mode", "project"
LIVE, TEST = "live", "test"
_SESSION_MODE, _SESSION_PROJECT = "console_mode", "console_project"
_CACHE_ATTR = "_console_scope"


class Keyed(Protocol):
    @property
    def pk(self) -> Any: ...


@dataclass(frozen=True)
class Scope[P: Keyed]:
    project: P | None
    livemode: bool

    @property
    def mode(self) -> str:
        return LIVE if self.livemode else TEST

    def query(self, livemode: bool | None = None, project: P | None = None) -> str:
        """The query string that selects this scope (or another mode or project of it)."""
        chosen = project or self.project
        mode = self.mode if livemode is None else (LIVE if livemode else TEST)
        return f"{MODE_PARAM}={mode}" + (f"&{PROJECT_PARAM}={chosen.pk}" if chosen else "")


def resolve_scope[P: Keyed](
    request: HttpRequest,
    params: Any,
    *,
    find: Callable[[int], P | None],
    first: Callable[[], P | None],
) -> Scope[P]:
    """The scope as asked in `params`, else as last chosen, else the live mode of `first()`.

    `find` loads a project by primary key (None when there is none). With `params` left
    out or the request's own query, the answer is computed once per request: filters, the
    queryset and the page all ask. A choice is remembered for the other console pages.
    """
    if params is None or params is request.GET:
        cached: Scope[P] | None = request.__dict__.get(_CACHE_ATTR)
        if cached is None:
            cached = request.__dict__[_CACHE_ATTR] = _scope(request, request.GET, find, first)
        return cached
    return _scope(request, params, find, first)


def _scope[P: Keyed](
    request: HttpRequest,
    params: Any,
    find: Callable[[int], P | None],
    first: Callable[[], P | None],
) -> Scope[P]:
    session = request.session
    mode = params.get(MODE_PARAM)
    if mode in (LIVE, TEST):
        session[_SESSION_MODE] = mode
    else:
        mode = session.get(_SESSION_MODE, LIVE)
    asked = row_id(str(params.get(PROJECT_PARAM, "")))
    project = find(asked) if asked is not None else None
    if project is not None:
        session[_SESSION_PROJECT] = project.pk
    else:
        remembered = session.get(_SESSION_PROJECT)
        if remembered is not None:
            project = find(remembered)
        if project is None:
            project = first()
    return Scope(project=project, livemode=mode == LIVE)
