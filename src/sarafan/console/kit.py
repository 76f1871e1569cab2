"""What every console page shares: who acts and may moderate, what a service's refusal
says, redirects back, POST-only per-object actions with a reason, labels and list filters.

Imports no app of Sarafan's: the pages of every app build on it.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import redirect
from django.utils import formats, timezone
from django.utils.html import format_html
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext_lazy as _
from unfold.forms import ActionForm
from unfold.widgets import UnfoldAdminTextInputWidget

from sarafan.core.errors import refusal

__all__ = ["refusal"]  # what a service's refusal says (core/errors.py), for every page

# --- moderation: who may, and what a refusal says ------------------------------------------

MODERATE = "moderation.add_decision"


def may_moderate(request: HttpRequest) -> bool:
    return request.user.has_perm(MODERATE)


def actor(request: HttpRequest) -> str:
    return request.user.get_username()


def local_time(moment: datetime) -> str:
    return str(formats.localize(timezone.localtime(moment)))


# --- POST-only actions on one object -------------------------------------------------------


def back(request: HttpRequest, default: str) -> HttpResponseRedirect:
    """Redirect to the form's `next` when it is a page of this site, else to `default`."""
    wanted = request.POST.get("next", "")
    safe = url_has_allowed_host_and_scheme(
        wanted, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    return redirect(wanted if wanted and safe else default)


def post_only(request: HttpRequest) -> HttpResponse | None:
    return None if request.method == "POST" else HttpResponseNotAllowed(["POST"])


def posted_object(model_admin: Any, request: HttpRequest, object_id: str, *, allowed: bool) -> Any:
    """The object a POST-only per-object console action works on, or the answer refusing it
    (an HttpResponse: wrong method, or the object is gone); PermissionDenied if not allowed."""
    refused = post_only(request)
    if refused:
        return refused
    if not allowed:
        raise PermissionDenied
    found = model_admin.get_object(request, unquote(object_id))
    if found is None:
        return model_admin._get_obj_does_not_exist_redirect(request, model_admin.opts, object_id)
    return found


class ReasonForm(forms.Form):
    """The optional "why" of a moderator's decision."""

    reason = forms.CharField(
        max_length=500,
        required=False,
        label="",
        widget=UnfoldAdminTextInputWidget(attrs={"placeholder": _("Reason (optional)")}),
    )


class ReasonActionForm(ActionForm):
    """The list's action bar with a reason that bulk decisions record."""

    reason = forms.CharField(
        max_length=500,
        required=False,
        label="",
        widget=forms.TextInput(
            attrs={
                "placeholder": _("Reason (optional)"),
                "class": "bg-white/20 font-medium px-2 py-1 rounded-default text-white "
                "placeholder-white/70 lg:w-72",
            }
        ),
    )


def action_reason(request: HttpRequest) -> str:
    return request.POST.get("reason", "").strip()[:500]


@dataclass
class ObjectAction:
    """A POST form shown beside an object (console/object_actions.html): a title, an
    optional reason and its buttons."""

    key: str
    title: Any
    url: str
    next: str
    buttons: list[tuple[str, Any, str]]  # (value of `decision`, label, variant)
    description: Any = ""
    reason: ReasonForm | None = None


# --- how lists show things -----------------------------------------------------------------


def label(text: Any, variant: str = "") -> str:
    """A coloured label as Unfold draws them (danger, success, warning or plain)."""
    return format_html(
        '<span class="inline-block font-semibold h-6 leading-6 px-2 rounded-default '
        'text-[11px] uppercase whitespace-nowrap {}">{}</span>',
        {
            "danger": "bg-red-100 text-red-700 dark:bg-red-500/20 dark:text-red-400",
            "success": "bg-green-100 text-green-700 dark:bg-green-500/20 dark:text-green-400",
            "warning": "bg-orange-100 text-orange-700 dark:bg-orange-500/20 dark:text-orange-400",
        }.get(variant, "bg-base-500/8 text-base-700 dark:bg-base-500/20 dark:text-base-200"),
        text,
    )


class ReversedFilter(admin.SimpleListFilter):
    """Rows with a `reversed_at`: in force (not reversed) or reversed."""

    title = _("reversed")
    parameter_name = "reversed"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [("no", _("in force")), ("yes", _("reversed"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() in ("yes", "no"):
            return queryset.filter(reversed_at__isnull=self.value() == "no")
        return queryset
