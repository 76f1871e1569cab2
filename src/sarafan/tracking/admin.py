"""Console pages for events and paid orders: the API's record of what happened, read-only."""

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from sarafan.console.options import ReadOnlyAdmin, public_id, shown, shown_choice, shown_money
from sarafan.links.models import Channel

from .models import Event, Order

participant = shown("participant", _("participant"))
referral = shown("referral", _("referral"))


@admin.register(Event)
class EventAdmin(ReadOnlyAdmin):
    list_display = (
        public_id,
        "type",
        participant,
        "order_id",
        shown_money("amount", _("amount")),
        "livemode",
        "occurred_at",
    )
    list_filter = ("type", "livemode")
    list_select_related = ("participant",)
    search_fields = ("public_id", "order_id")
    fields = (
        "project",
        "livemode",
        public_id,
        "type",
        participant,
        referral,
        shown_choice("channel", _("channel"), Channel),
        "order_id",
        "amount",
        "currency",
        "occurred_at",
        "created_at",
        "payload",
        shown("response", _("response")),
    )
    readonly_fields = fields


@admin.register(Order)
class OrderAdmin(ReadOnlyAdmin):
    list_display = (
        "order_id",
        participant,
        shown_money("amount", _("amount")),
        "status",
        "is_first",
        "livemode",
        "occurred_at",
    )
    list_filter = ("status", "livemode", "is_first")
    list_select_related = ("participant",)
    search_fields = ("order_id", "participant__external_id")
    fields = (
        "project",
        "livemode",
        "order_id",
        participant,
        referral,
        shown("event", _("event")),
        "amount",
        "currency",
        "status",
        "is_first",
        "occurred_at",
        "refunded_at",
    )
    readonly_fields = fields
