"""What the rewards' console pages share: the project and mode a new row goes to, and amounts
as the reader writes them.

Brands, pools, issuers and manual rewards are made in the console's current project and
mode (site.scope.current_scope), shown above their forms with links to switch; the
related rows a form offers (brands, campaigns) are those of that project and mode only.
"""

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import Model
from django.http import HttpRequest
from django.utils import formats
from django.utils.translation import gettext_lazy as _

from sarafan.core.crypto import DecryptionFailed
from sarafan.projects.models import Project
from sarafan.site.scope import LIVE, TEST, Scope, current_scope

from ..models import Certificate, PoolCode
from ..pools import code_hint

CHANGE_REWARD = "rewards.change_reward"
ADD_REWARD = "rewards.add_reward"
UPLOAD_CODES = "rewards.add_poolcode"


class _Rehearsed(Exception):
    def __init__(self, result: Any) -> None:
        self.result = result


def rehearse[T](call: Callable[[], T]) -> T:
    """What a service call would return, in a transaction that is then rolled back (with
    the effects it queued for the commit): the preview of a confirmation step. Its refusals
    are raised as they are."""
    try:
        with transaction.atomic():
            raise _Rehearsed(call())
    except _Rehearsed as rehearsed:
        result: T = rehearsed.result
        return result


def masked_code(holder: Certificate | PoolCode) -> str:
    """The last characters of a certificate's or a pool code's code, whatever its kind."""
    try:
        return code_hint(holder.code_value())
    except DecryptionFailed:
        return str(_("(cannot be decrypted with the configured keys)"))


def money(amount: Decimal | None, currency: str) -> str:
    if amount is None:
        return "—"
    return f"{formats.number_format(amount, 2, force_grouping=True)} {currency}"


def mode_name(livemode: bool) -> str:
    return str(_("Live mode") if livemode else _("Test mode"))


def scope_of(obj: Model) -> Scope:
    """The project and mode of an existing row."""
    return Scope(project=obj.project, livemode=obj.livemode)  # type: ignore[attr-defined]  # Scoped


def scope_bar(request: HttpRequest, scope: Scope | None = None) -> dict[str, Any]:
    """The current project and mode above a form that makes rows in them, with links to the
    same page in the other mode and the other projects (admin/rewards/scope_bar.html)."""
    scope = scope or current_scope(request)
    here = request.path
    projects = list(Project.objects.order_by("pk")) if Project.objects.count() > 1 else []
    return {
        "project": scope.project,
        "livemode": scope.livemode,
        "modes": [
            {
                "key": key,
                "title": mode_name(livemode),
                "url": f"{here}?{scope.query(livemode=livemode)}",
                "active": scope.livemode == livemode,
            }
            for key, livemode in ((LIVE, True), (TEST, False))
        ],
        "projects": [
            {
                "title": project.name,
                "url": f"{here}?{scope.query(project=project)}",
                "active": project == scope.project,
            }
            for project in projects
        ],
    }
