"""Console pages for rewards, certificates, redemptions and the e-mails sent about them.

These rows are money, so the pages only read them: every change goes through the rewards
services (limits, budget, balance guards, the transition table), by the reward page's
buttons (console/actions.py). The catalogue (brands, pools, codes) and the external
issuers have pages of their own (console/pools.py, console/issuers.py).
"""

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import URLPattern, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from sarafan.campaigns.models import Trigger
from sarafan.console.kit import label
from sarafan.console.options import (
    LINK_CLASSES,
    ReadOnlyAdmin,
    ReadOnlyInline,
    public_id,
    shown,
    shown_choice,
    shown_money,
)
from sarafan.core.crypto import DecryptionFailed

# The catalogue's and the issuers' pages register themselves when imported.
from .console import issuers, pools  # noqa: F401
from .console.actions import RewardActions
from .console.shared import masked_code
from .models import (
    Certificate,
    CertificateKind,
    Delivery,
    DeliveryStatus,
    Redemption,
    Reward,
    RewardEvent,
    RewardStatus,
    Waiting,
    certificate_code_hash,
)

recipient_external_id = shown("recipient.external_id", _("external id"))
money = shown_money("amount", _("amount"))
trigger = shown_choice("trigger", _("trigger"), Trigger)
# The field's own label ("to") reads as a status in the history's columns.
sent_to = shown("to", _("sent to"))


class RewardHistoryInline(ReadOnlyInline):
    model = RewardEvent
    fields = (
        shown("created_at", _("time")),
        shown("from_status", _("from")),
        shown("to_status", _("to")),
        shown("actor", _("by")),
        shown("note", _("note")),
    )
    readonly_fields = fields
    verbose_name = _("history entry")
    verbose_name_plural = _("history")


class DeliveryInline(ReadOnlyInline):
    model = Delivery
    fields = ("kind", sent_to, "status", "error", "actor", "created_at")
    readonly_fields = fields
    verbose_name = _("e-mail")
    verbose_name_plural = _("e-mails")


class WaitingFilter(admin.SimpleListFilter):
    """Approved rewards not issued yet, by what they wait for."""

    title = _("waiting for")
    parameter_name = "waiting"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [(code, text) for code, text in Waiting.choices if code]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Reward]) -> QuerySet[Reward]:
        value = self.value()
        if value:
            return queryset.filter(status=RewardStatus.APPROVED, waiting=value)
        return queryset


def waiting_label(reward: Reward) -> str:
    if reward.status != RewardStatus.APPROVED or not reward.waiting:
        return "—"
    variant = "danger" if reward.waiting == Waiting.ISSUER_FAILED else "warning"
    return label(reward.get_waiting_display(), variant)


@admin.register(Reward)
class RewardAdmin(RewardActions, ReadOnlyAdmin):
    inlines = (DeliveryInline, RewardHistoryInline)
    list_display = (
        public_id,
        "recipient",
        recipient_external_id,
        "campaign",
        money,
        "status",
        "waiting_for",
        shown("brand", _("brand")),
        trigger,
        "livemode",
        "created_at",
    )
    list_filter = ("status", WaitingFilter, "campaign", "brand", "livemode")
    list_select_related = ("recipient", "campaign", "brand")
    search_fields = ("public_id", "recipient__external_id", "recipient__email")
    search_help_text = _("A reward id, a participant's external id or e-mail.")
    list_before_template = "admin/rewards/reward_list_header.html"
    change_form_outer_after_template = "console/object_actions.html"
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "project",
                    "livemode",
                    public_id,
                    "status",
                    "amount",
                    "currency",
                    "recipient",
                    "campaign",
                    "referral",
                    shown("order", _("order")),
                    trigger,
                    "reason",
                    "available_at",
                    "created_at",
                    "updated_at",
                )
            },
        ),
        (
            _("Fulfilment"),
            {
                "fields": (
                    "waiting_for",
                    shown("brand", _("brand")),
                    "choose_by",
                    "certificate_summary",
                    shown("banked_into", _("paid in bank reward")),
                    "attempts",
                    "next_attempt_at",
                    "last_error",
                )
            },
        ),
    )

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return [field for _title, part in self.fieldsets for field in part["fields"]]

    def get_urls(self) -> list[URLPattern]:
        return [*self.action_urls(), *super().get_urls()]

    @admin.display(description=_("waiting for"), ordering="waiting")
    def waiting_for(self, reward: Reward) -> str:
        return waiting_label(reward)

    @admin.display(description=_("certificate"))
    def certificate_summary(self, reward: Reward) -> str:
        certificate = (
            Certificate.objects.filter(reward=reward).select_related("catalog_brand").first()
        )
        if certificate is None:
            return "—"
        url = reverse("admin:rewards_certificate_change", args=[certificate.pk])
        return format_html(
            '<a href="{}" class="{}">{}</a> · {} · {} · <code>{}</code> · {}',
            url,
            LINK_CLASSES,
            certificate.public_id,
            certificate.get_kind_display(),
            certificate.catalog_brand or certificate.brand,
            masked_code(certificate),
            certificate.get_status_display(),
        )


class RedemptionInline(ReadOnlyInline):
    model = Redemption
    fields = ("order_id", "amount", "balance_after", shown("created_at", _("time")))
    readonly_fields = fields


@admin.register(Certificate)
class CertificateAdmin(ReadOnlyAdmin):
    """Certificates that pay rewards. A list shows Sarafan's own codes (spent through the API)
    but only the last characters of a brand's code; the PIN and a brand's full code are
    on the certificate's own page."""

    inlines = (RedemptionInline,)
    list_display = (
        "code_shown",
        shown_choice("kind", _("kind"), CertificateKind),
        "brand",
        shown_money("amount", _("nominal")),
        shown_money("balance", _("balance")),
        "status",
        "expires_at",
        "livemode",
        "created_at",
    )
    list_filter = ("status", "kind", "livemode")
    search_fields = ("public_id", "external_id")
    search_help_text = _("A certificate id, an issuer's id or a whole code of Sarafan's own.")
    fields = (
        "project",
        "livemode",
        public_id,
        shown_choice("kind", _("kind"), CertificateKind),
        "code_clear",
        "pin_clear",
        "brand",
        shown("catalog_brand", _("brand from the catalogue")),
        shown("pool_code", _("pool code")),
        shown("issuer", _("external issuer")),
        "external_id",
        shown_money("amount", _("nominal")),
        shown_money("balance", _("balance")),
        "status",
        "expires_at",
        "reminded_at",
        "created_at",
        shown("reward", _("reward")),
    )
    readonly_fields = fields

    @admin.display(description=_("code"))
    def code_shown(self, certificate: Certificate) -> str:
        if certificate.kind == CertificateKind.INTERNAL:
            try:
                return certificate.code_value()
            except DecryptionFailed:
                return masked_code(certificate)
        return format_html('<code class="whitespace-nowrap">{}</code>', masked_code(certificate))

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Certificate], search_term: str
    ) -> tuple[QuerySet[Certificate], bool]:
        found, duplicates = super().get_search_results(request, queryset, search_term)
        if not search_term.strip():
            return found, duplicates
        # Codes are stored hashed and encrypted: a whole code is found by its keyed hash.
        return found | queryset.filter(code_hash=certificate_code_hash(search_term)), duplicates

    @admin.display(description=_("code"))
    def code_clear(self, certificate: Certificate) -> str:
        try:
            return format_html("<code>{}</code>", certificate.code_value())
        except DecryptionFailed:
            return masked_code(certificate)

    @admin.display(description=_("PIN"))
    def pin_clear(self, certificate: Certificate) -> str:
        try:
            pin = certificate.pin_value()
        except DecryptionFailed:
            return masked_code(certificate)
        return format_html("<code>{}</code>", pin) if pin else "—"


@admin.register(Redemption)
class RedemptionAdmin(ReadOnlyAdmin):
    list_display = (
        shown("certificate", _("certificate")),
        "order_id",
        "amount",
        "balance_after",
        shown("created_at", _("time")),
    )
    list_filter = (("certificate__livemode", admin.BooleanFieldListFilter),)
    list_select_related = ("certificate",)
    search_fields = ("order_id",)
    search_help_text = _("An order id or a whole certificate code of Sarafan's own.")
    fields = (
        shown("certificate", _("certificate")),
        "order_id",
        "amount",
        "balance_after",
        shown("created_at", _("time")),
    )
    readonly_fields = fields

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Redemption], search_term: str
    ) -> tuple[QuerySet[Redemption], bool]:
        found, duplicates = super().get_search_results(request, queryset, search_term)
        if not search_term.strip():
            return found, duplicates
        by_code = queryset.filter(certificate__code_hash=certificate_code_hash(search_term))
        return found | by_code, duplicates


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyAdmin):
    """Every e-mail sent about a reward's certificate, sent or failed, newest first."""

    list_display = (
        "created_at",
        shown("reward", _("reward")),
        "kind",
        sent_to,
        "outcome",
        "error",
        "actor",
        "livemode",
    )
    list_filter = ("status", "kind", "livemode")
    list_select_related = ("reward",)
    search_fields = ("reward__public_id", "to")
    search_help_text = _("A reward id or an e-mail address.")
    fields = (
        "project",
        "livemode",
        shown("reward", _("reward")),
        "kind",
        sent_to,
        "language",
        "outcome",
        "error",
        "actor",
        "created_at",
    )
    readonly_fields = fields

    @admin.display(description=_("status"), ordering="status")
    def outcome(self, sent: Delivery) -> str:
        variants: dict[str, str] = {DeliveryStatus.SENT: "success", DeliveryStatus.SENDING: ""}
        variant = variants.get(sent.status, "danger")
        return label(sent.get_status_display(), variant)
