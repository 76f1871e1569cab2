"""Console page for participants: find a customer, see their codes and counters, fix contacts.

Participants are created by the API (which gives them a code, a portal token and a primary
link), so the console does not add them. Contact details are saved through
`upsert_participant`, the API's own use case, so the same normalization applies; codes and
counters are only shown, and an erased participant cannot be edited back to life.
A moderator marks a fraudster here (moderation.services.mark_fraudster), or takes the mark back.
"""

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext, pgettext_lazy
from unfold.admin import ModelAdmin
from unfold.widgets import (
    UnfoldAdminSelectWidget,
    UnfoldAdminTextareaWidget,
    UnfoldAdminTextInputWidget,
)

from sarafan.console.forms import check_with_service
from sarafan.console.kit import (
    ObjectAction,
    ReasonActionForm,
    ReasonForm,
    action_reason,
    actor,
    back,
    label,
    local_time,
    may_moderate,
    posted_object,
)
from sarafan.console.options import LINK_CLASSES, ReadOnlyInline, public_id, shown
from sarafan.core.errors import SarafanError
from sarafan.fraud import risk
from sarafan.fraud.services import record_contacts
from sarafan.links.models import Link
from sarafan.moderation import services as moderation
from sarafan.rewards.tax import tax_status, with_tax_state
from sarafan.rewards.waiting import record_tax_details

from .models import Participant
from .services import upsert_participant

CONTACT_FIELDS = ("name", "email", "phone", "language", "tags", "attributes", "consent")
LANGUAGES = [("", _("the installation's default")), ("ru", "Русский"), ("en", "English")]


def _save_contacts(participant: Participant, data: dict[str, Any]) -> Participant:
    with transaction.atomic():
        saved, _created = upsert_participant(
            project=participant.project,
            livemode=participant.livemode,
            external_id=participant.external_id,
            **{field: data[field] for field in CONTACT_FIELDS if field in data},
        )
        record_contacts(participant=saved)
    return saved


# "name" is a campaign's title elsewhere; a person's name reads differently in Russian.
PERSON_NAME = pgettext_lazy("person", "name")


class ParticipantForm(forms.ModelForm):
    class Meta:
        model = Participant
        fields = CONTACT_FIELDS
        labels = {"name": capfirst(PERSON_NAME)}
        widgets = {
            "language": UnfoldAdminSelectWidget(choices=LANGUAGES),
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


class FraudsterFilter(admin.SimpleListFilter):
    title = _("fraudster")
    parameter_name = "fraudster"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [("yes", _("marked as fraudster")), ("no", _("not marked"))]

    def queryset(
        self, request: HttpRequest, queryset: QuerySet[Participant]
    ) -> QuerySet[Participant]:
        if self.value() in ("yes", "no"):
            return queryset.filter(fraud_flagged_at__isnull=self.value() == "no")
        return queryset


class TaxFilter(admin.SimpleListFilter):
    """People whose rewards this year near or pass their project's gift-tax threshold."""

    title = _("gift tax")
    parameter_name = "tax"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [("near", _("near the threshold or past it")), ("over", _("past the threshold"))]

    def queryset(
        self, request: HttpRequest, queryset: QuerySet[Participant]
    ) -> QuerySet[Participant]:
        if self.value() not in ("near", "over"):
            return queryset
        return with_tax_state(queryset, str(self.value()))


class TaxDetailsForm(ReasonForm):
    """The tax details a person gave (the INN, say), kept encrypted."""

    reason = forms.CharField(
        max_length=500,
        label="",
        widget=UnfoldAdminTextInputWidget(attrs={"placeholder": _("Tax details, e.g. the INN")}),
    )


MARK, UNMARK = "mark", "unmark"


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
        "fraudster",
        "livemode",
        "project",
        "created_at",
    )
    list_filter = ("livemode", "project", FraudsterFilter, TaxFilter)
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
        "fraud_flagged_at",
        "flags",
        "gift_tax",
        "tax_details_at",
    )
    actions = ("mark_fraudster", "unmark_fraudster")
    action_form = ReasonActionForm
    change_form_outer_after_template = "console/object_actions.html"
    fieldsets = (
        (None, {"fields": ("project", "livemode", public_id, "external_id", "referral_code")}),
        (_("Contacts"), {"fields": CONTACT_FIELDS}),
        (_("Counters"), {"fields": ("paid_orders", "first_order_at")}),
        (_("Anti-fraud"), {"fields": ("fraud_flagged_at", "flags")}),
        (_("Gift tax"), {"fields": ("gift_tax", "tax_details_at")}),
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

    @admin.display(description=_("fraudster"), ordering="fraud_flagged_at")
    def fraudster(self, participant: Participant) -> str:
        if participant.fraud_flagged_at is None:
            return "—"
        return label(_("fraudster"), "danger")

    @admin.display(description=_("risk flags"))
    def flags(self, participant: Participant) -> str:
        return "; ".join(risk.message(str(code)) for code in participant.risk_flags or []) or "—"

    @admin.display(description=_("rewards this year"))
    def gift_tax(self, participant: Participant) -> str:
        status = tax_status(participant, participant.project)
        text = _("%(total)s of %(threshold)s; held for tax details: %(held)d") % {
            "total": status.year_total,
            "threshold": status.threshold,
            "held": status.held,
        }
        variant = {"near": "warning", "over": "danger"}.get(status.state)
        if variant is None:
            return str(text)
        state = _("near the threshold") if status.state == "near" else _("past the threshold")
        return format_html("{} {}", text, label(state, variant))

    # --- fraudster marks --------------------------------------------------------------------

    def has_moderate_permission(self, request: HttpRequest) -> bool:
        return may_moderate(request)

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view(self.fraudster_view)
        return [
            path("<path:object_id>/fraudster/", view, name="participants_participant_fraudster"),
            path(
                "<path:object_id>/tax/",
                self.admin_site.admin_view(self.tax_view),
                name="participants_participant_tax",
            ),
            *super().get_urls(),
        ]

    def _mark(self, request: HttpRequest, participants: list[Participant]) -> None:
        reason = action_reason(request)
        rejected = sum(
            moderation.mark_fraudster(participant=p, actor=actor(request), reason=reason)
            for p in participants
        )
        self.message_user(
            request,
            ngettext(
                "%(people)s marked as fraudster; %(count)d open case rejected.",
                "%(people)s marked as fraudster; %(count)d open cases rejected.",
                rejected,
            )
            % {"people": ", ".join(str(p) for p in participants), "count": rejected},
            messages.SUCCESS,
        )

    def _unmark(self, request: HttpRequest, participants: list[Participant]) -> None:
        for participant in participants:
            moderation.unmark_fraudster(participant=participant, actor=actor(request))
        self.message_user(
            request,
            _("Fraudster mark removed: %(people)s. Rejected cases stay rejected.")
            % {"people": ", ".join(str(p) for p in participants)},
            messages.SUCCESS,
        )

    @admin.action(description=_("Mark as fraudster"), permissions=["moderate"])
    def mark_fraudster(self, request: HttpRequest, queryset: QuerySet[Participant]) -> None:
        self._mark(request, list(queryset.order_by("pk")))

    @admin.action(description=_("Remove fraudster mark"), permissions=["moderate"])
    def unmark_fraudster(self, request: HttpRequest, queryset: QuerySet[Participant]) -> None:
        marked = list(queryset.filter(fraud_flagged_at__isnull=False).order_by("pk"))
        if marked:
            self._unmark(request, marked)

    def fraudster_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        participant = posted_object(self, request, object_id, allowed=may_moderate(request))
        if isinstance(participant, HttpResponse):
            return participant
        if request.POST.get("decision") == UNMARK:
            self._unmark(request, [participant])
        else:
            self._mark(request, [participant])
        here = reverse("admin:participants_participant_change", args=[participant.pk])
        return back(request, here)

    def tax_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        allowed = self.has_change_permission(request)
        participant = posted_object(self, request, object_id, allowed=allowed)
        if isinstance(participant, HttpResponse):
            return participant
        try:
            issued = record_tax_details(participant, request.POST.get("reason", ""))
        except SarafanError as exc:
            self.message_user(request, exc.message, messages.ERROR)
        else:
            self.message_user(
                request,
                ngettext(
                    "Tax details recorded; %(count)d held reward is being issued.",
                    "Tax details recorded; %(count)d held rewards are being issued.",
                    issued,
                )
                % {"count": issued},
                messages.SUCCESS,
            )
        here = reverse("admin:participants_participant_change", args=[participant.pk])
        return back(request, here)

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        participant = self.get_object(request, unquote(object_id))
        actions = []
        if participant is not None and self.has_change_permission(request, participant):
            actions.append(self._tax_action(participant))
        if participant is not None and may_moderate(request):
            here = reverse("admin:participants_participant_change", args=[participant.pk])
            url = reverse("admin:participants_participant_fraudster", args=[participant.pk])
            if participant.fraud_flagged_at is None:
                action = ObjectAction(
                    key="fraudster",
                    title=_("Mark as fraudster"),
                    description=_(
                        "Their open referrals are rejected and their devices, cards, IP "
                        "addresses and contacts flag later referrals."
                    ),
                    url=url,
                    next=here,
                    buttons=[(MARK, _("Mark as fraudster"), "danger")],
                    reason=ReasonForm(),
                )
            else:
                action = ObjectAction(
                    key="fraudster",
                    title=_("Marked as fraudster since %(when)s")
                    % {"when": local_time(participant.fraud_flagged_at)},
                    description=_(
                        "Removing the mark stops flagging later referrals; rejected cases "
                        "stay rejected (reverse their decisions if needed)."
                    ),
                    url=url,
                    next=here,
                    buttons=[(UNMARK, _("Remove fraudster mark"), "default")],
                )
            actions.insert(0, action)
        extra_context = {**(extra_context or {}), "object_actions": actions}
        return super().change_view(request, object_id, form_url, extra_context)

    def _tax_action(self, participant: Participant) -> ObjectAction:
        recorded = participant.tax_details_at
        return ObjectAction(
            key="tax",
            title=_("Tax details recorded on %(when)s") % {"when": local_time(recorded)}
            if recorded
            else _("Record tax details"),
            description=_(
                "Kept encrypted. Rewards held until the person's tax details are recorded "
                "are issued at once."
            ),
            url=reverse("admin:participants_participant_tax", args=[participant.pk]),
            next=reverse("admin:participants_participant_change", args=[participant.pk]),
            buttons=[("record", _("Save tax details"), "primary")],
            reason=TaxDetailsForm(),
        )
