"""Console page for projects and a read-only list of their API keys (never the hashes).

A project is created with its four keys by `sarafan project create` (the raw keys are
shown only then), so the console renames projects but neither adds nor deletes them.
"""

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin

from sarafan.console.options import ReadOnlyInline, public_id

from .models import ApiKey, Project


class ApiKeyInline(ReadOnlyInline):
    model = ApiKey
    fields = ("prefix", "kind", "livemode", "created_at", "expires_at")
    readonly_fields = fields
    verbose_name = _("API key")
    verbose_name_plural = _("API keys")


@admin.register(Project)
class ProjectAdmin(ModelAdmin):
    inlines = (ApiKeyInline,)
    list_display = ("name", public_id, "created_at")
    search_fields = ("name", "public_id")
    fieldsets = (
        (None, {"fields": ("name", public_id, "created_at")}),
        (
            _("Certificate e-mails"),
            {"fields": ("email_rewards", "email_from")},
        ),
        (
            _("Gift tax"),
            {
                "fields": ("tax_threshold", "tax_warn_percent", "tax_hold"),
                "description": _(
                    "Gifts to a person from a company above 4 000 ₽ a year are taxable "
                    "income in Russia. Each person's yearly total of rewards is kept against "
                    "this threshold; with the hold, a reward past it waits until the "
                    "person's tax details are recorded."
                ),
            },
        ),
    )
    readonly_fields = (public_id, "created_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Deleting a project would delete every row it owns, money included.
        return False
