"""Console page bases: rows that move money are shown, never written, from the console.

Events, clicks, orders, referrals, rewards, certificates and redemptions are made by the
services behind the API; a form that saved them directly would skip the rules (limits,
budgets, state transitions) that keep balances right, so these pages only read.
"""

import json
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.contrib import admin
from django.db.models import Model, TextChoices
from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse
from django.utils import formats, timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin, TabularInline

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise
else:
    StrOrPromise = str

# How Unfold colours links to related objects on a change page.
LINK_CLASSES = "text-primary-600 dark:text-primary-500"


class ReadOnlyAdmin(ModelAdmin):
    """A page that lists and shows rows but cannot add, change or delete them."""

    list_per_page = 50
    show_full_result_count = False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ReadOnlyInline(TabularInline):
    """Related rows listed under a parent, for reading only."""

    extra = 0
    max_num = 0
    can_delete = False
    show_change_link = False
    show_title = False

    def has_add_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False


def shown(field: str, label: StrOrPromise) -> Callable[[Model], Any]:
    """A column or detail row for a model field whose own verbose name is not translated.

    A related object is shown as a link to its console page.
    """

    @admin.display(description=label, ordering=field.replace(".", "__"))
    def value(obj: Model) -> Any:
        result: Any = obj
        for part in field.split("."):
            result = getattr(result, part, None) if result is not None else None
        if isinstance(result, datetime):
            return formats.localize(
                timezone.localtime(result) if timezone.is_aware(result) else result
            )
        if isinstance(result, dict | list):
            return json.dumps(result, ensure_ascii=False) if result else None
        if isinstance(result, Model):
            meta = result._meta
            try:
                url = reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[result.pk])
            except NoReverseMatch:
                return str(result)
            return format_html('<a href="{}" class="{}">{}</a>', url, LINK_CLASSES, result)
        return result

    value.__name__ = field.replace(".", "_")
    return value


def shown_money(field: str, label: StrOrPromise) -> Callable[[Model], str | None]:
    """An amount with the row's currency, in the reader's number format."""

    @admin.display(description=label, ordering=field)
    def value(obj: Model) -> str | None:
        amount = getattr(obj, field)
        if amount is None:
            return None
        return f"{formats.localize(amount)} {getattr(obj, 'currency', '')}".strip()

    value.__name__ = field
    return value


def shown_choice(
    field: str, label: StrOrPromise, choices: type[TextChoices]
) -> Callable[[Model], Any]:
    """A plain text column whose values are codes of `choices`: shown by their label."""
    labels = dict(choices.choices)

    @admin.display(description=label, ordering=field)
    def value(obj: Model) -> Any:
        code = getattr(obj, field)
        return labels.get(code, code) or None

    value.__name__ = field
    return value


public_id = shown("public_id", _("ID"))
