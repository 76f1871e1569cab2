"""Console page for referrals: who brought whom, how it was attributed, and the risk verdict."""

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy as _

from sarafan.console.options import (
    ReadOnlyAdmin,
    ReadOnlyInline,
    public_id,
    shown,
    shown_choice,
)
from sarafan.links.models import Channel

from .models import Referral, ReferralEvent

channel = shown_choice("channel", _("channel"), Channel)
# Reason codes written by sarafan.fraud; an unknown code is shown as it is.
REASON_LABELS = {
    "self_referral_email": _("the referee has the referrer's e-mail"),
    "self_referral_phone": _("the referee has the referrer's phone"),
}
DECISION_LABELS = {
    "allow": _("allow"),
    "review": _("review"),
    "block": _("block"),
}


class DecisionFilter(admin.SimpleListFilter):
    title = _("decision")
    parameter_name = "risk_decision"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return list(DECISION_LABELS.items())

    def queryset(self, request: HttpRequest, queryset: QuerySet[Referral]) -> QuerySet[Referral]:
        value = self.value()
        return queryset.filter(risk_decision=value) if value else queryset


class HistoryInline(ReadOnlyInline):
    model = ReferralEvent
    fields = (
        shown("created_at", _("time")),
        shown("kind", _("what happened")),
        shown("data", _("details")),
    )
    readonly_fields = fields
    verbose_name = _("history entry")
    verbose_name_plural = _("history")


@admin.register(Referral)
class ReferralAdmin(ReadOnlyAdmin):
    inlines = (HistoryInline,)
    list_display = (
        public_id,
        "referrer",
        "referee",
        shown("campaign", _("campaign")),
        channel,
        "status",
        "risk_score",
        "decision",
        "livemode",
        "created_at",
    )
    list_filter = ("status", "livemode", "source", DecisionFilter)
    list_select_related = ("referrer", "referee", "campaign")
    search_fields = ("public_id", "referrer__external_id", "referee__external_id")
    fields = (
        "project",
        "livemode",
        public_id,
        shown("campaign", _("campaign")),
        "referrer",
        "referee",
        shown("link", _("link")),
        channel,
        "source",
        "status",
        "risk_score",
        "decision",
        "reasons",
        "created_at",
        "qualified_at",
    )
    readonly_fields = fields

    @admin.display(description=_("decision"), ordering="risk_decision")
    def decision(self, referral: Referral) -> str:
        return str(DECISION_LABELS.get(referral.risk_decision, referral.risk_decision))

    @admin.display(description=_("reasons"))
    def reasons(self, referral: Referral) -> SafeString | str:
        if not referral.risk_reasons:
            return "—"
        return format_html_join(
            "",
            "<div>{} <code>{}</code></div>",
            ((REASON_LABELS.get(str(code), ""), str(code)) for code in referral.risk_reasons),
        )
