"""Console page for participants: find a customer, see their codes and counters, fix contacts.

Participants are created by the API (which gives them a code, a portal token and a primary
link), so the console does not add them. Contact details are saved through
`upsert_participant`, the API's own use case, so the same normalization applies; codes and
counters are only shown, and an erased participant cannot be edited back to life.
"""

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy
from unfold.admin import ModelAdmin
from unfold.widgets import UnfoldAdminTextareaWidget, UnfoldAdminTextInputWidget

from sarafan.console.forms import check_with_service
from sarafan.console.options import LINK_CLASSES, ReadOnlyInline, public_id, shown
from sarafan.links.models import Link

from .models import Participant
from .services import upsert_participant

CONTACT_FIELDS = ("name", "email", "phone", "tags", "attributes", "consent")


def _save_contacts(participant: Participant, data: dict[str, Any]) -> Participant:
    saved, _created = upsert_participant(
        project=participant.project,
        livemode=participant.livemode,
        external_id=participant.external_id,
        **{field: data[field] for field in CONTACT_FIELDS if field in data},
    )
    return saved


# "name" is a campaign's title elsewhere; a person's name reads differently in Russian.
PERSON_NAME = pgettext_lazy("person", "name")


class ParticipantForm(forms.ModelForm):
    class Meta:
        model = Participant
        fields = CONTACT_FIELDS
        labels = {"name": capfirst(PERSON_NAME)}
        widgets = {
            "tags": UnfoldAdminTextInputWidget,
            "attributes": UnfoldAdminTextareaWidget(attrs={"rows": 3}),
            "consent": UnfoldAdminTextareaWidget(attrs={"rows": 3}),
        }

    def clean(self) -> dict[str, Any]:
        data = super().clean() or self.cleaned_data
        if not self.errors:
            check_with_service(
                lambda: _save_contacts(self.instance, data), fields=self.fields.keys()
            )
        return data


class LinkInline(ReadOnlyInline):
    model = Link
    fields = ("code_link", "channel", shown("campaign", _("campaign")), "created_at")
    readonly_fields = fields
    verbose_name = _("link")
    verbose_name_plural = _("links")

    def get_queryset(self, request: HttpRequest) -> Any:
        return super().get_queryset(request).select_related("campaign")

    @admin.display(description=_("code"))
    def code_link(self, link: Link) -> str:
        url = reverse("admin:links_link_change", args=[link.pk])
        return format_html('<a href="{}" class="{}">{}</a>', url, LINK_CLASSES, link.code)


@admin.register(Participant)
class ParticipantAdmin(ModelAdmin):
    form = ParticipantForm
    inlines = (LinkInline,)
    list_display = (
        "external_id",
        shown("name", PERSON_NAME),
        "email",
        "referral_code",
        "paid_orders",
        "livemode",
        "project",
        "created_at",
    )
    list_filter = ("livemode", "project")
    list_select_related = ("project",)
    search_fields = ("external_id", "email", "name", "referral_code", "public_id")
    show_full_result_count = False
    readonly_fields = (
        "project",
        "livemode",
        public_id,
        "external_id",
        "referral_code",
        "paid_orders",
        "first_order_at",
        "erased_at",
        "created_at",
        "updated_at",
    )
    fieldsets = (
        (None, {"fields": ("project", "livemode", public_id, "external_id", "referral_code")}),
        (_("Contacts"), {"fields": CONTACT_FIELDS}),
        (_("Counters"), {"fields": ("paid_orders", "first_order_at")}),
        (_("History"), {"fields": ("created_at", "updated_at", "erased_at")}),
    )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if obj is not None and obj.erased_at is not None:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Deleting would take the participant's rewards and orders with it; erasure is the way.
        return False

    def save_model(self, request: HttpRequest, obj: Participant, form: Any, change: bool) -> None:
        saved = _save_contacts(obj, form.cleaned_data)
        for field in CONTACT_FIELDS:
            setattr(obj, field, getattr(saved, field))
