"""Console pages for rewards, certificates and redemptions: money, so read-only here.

Every change to these rows goes through the rewards services (limits, budget, balance
guards, the transition table); the console shows them with their history.
"""

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from sarafan.campaigns.models import Trigger
from sarafan.console.options import (
    ReadOnlyAdmin,
    ReadOnlyInline,
    public_id,
    shown,
    shown_choice,
    shown_money,
)

from .models import Certificate, Redemption, Reward, RewardEvent

recipient_external_id = shown("recipient.external_id", _("external id"))
money = shown_money("amount", _("amount"))
trigger = shown_choice("trigger", _("trigger"), Trigger)


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


@admin.register(Reward)
class RewardAdmin(ReadOnlyAdmin):
    inlines = (RewardHistoryInline,)
    list_display = (
        public_id,
        "recipient",
        recipient_external_id,
        "campaign",
        money,
        "status",
        trigger,
        "livemode",
        "created_at",
    )
    list_filter = ("status", "livemode", "campaign")
    list_select_related = ("recipient", "campaign")
    search_fields = ("public_id", "recipient__external_id")
    fields = (
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
    readonly_fields = fields


class RedemptionInline(ReadOnlyInline):
    model = Redemption
    fields = ("order_id", "amount", "balance_after", shown("created_at", _("time")))
    readonly_fields = fields


@admin.register(Certificate)
class CertificateAdmin(ReadOnlyAdmin):
    inlines = (RedemptionInline,)
    # The PIN is what lets a certificate be spent: never in a list, only on its own page.
    list_display = (
        "code",
        "brand",
        shown_money("amount", _("nominal")),
        shown_money("balance", _("balance")),
        "status",
        "expires_at",
        "livemode",
        "created_at",
    )
    list_filter = ("status", "livemode")
    search_fields = ("code", "public_id")
    fields = (
        "project",
        "livemode",
        public_id,
        "code",
        "pin",
        "brand",
        shown_money("amount", _("nominal")),
        shown_money("balance", _("balance")),
        "status",
        "expires_at",
        "created_at",
        shown("reward", _("reward")),
    )
    readonly_fields = fields


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
    search_fields = ("certificate__code", "order_id")
    fields = (
        shown("certificate", _("certificate")),
        "order_id",
        "amount",
        "balance_after",
        shown("created_at", _("time")),
    )
    readonly_fields = fields
