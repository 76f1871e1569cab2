"""Console pages for referral links and the clicks on them (read-only: the API makes both)."""

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from sarafan.console.options import ReadOnlyAdmin, public_id, shown, shown_choice

from .models import Channel, Click, Link

participant = shown("participant", _("participant"))
channel = shown_choice("channel", _("channel"), Channel)
campaign = shown("campaign", _("campaign"))


@admin.register(Link)
class LinkAdmin(ReadOnlyAdmin):
    list_display = (
        "code",
        participant,
        "channel",
        campaign,
        "primary",
        "livemode",
        "created_at",
    )
    list_filter = ("channel", "livemode", "project")
    list_select_related = ("participant", "campaign")
    search_fields = ("code", "public_id", "participant__external_id")
    fields = (
        "project",
        "livemode",
        public_id,
        "code",
        participant,
        campaign,
        "channel",
        "utm",
        "primary",
        "created_at",
    )
    readonly_fields = fields

    @admin.display(description=_("primary link"), boolean=True, ordering="is_primary")
    def primary(self, link: Link) -> bool:
        return link.is_primary


@admin.register(Click)
class ClickAdmin(ReadOnlyAdmin):
    list_display = (
        "created_at",
        shown("link.code", _("link")),
        participant,
        channel,
        "visitor_id",
        campaign,
        "is_bot",
        "bot_reason",
        "livemode",
    )
    list_filter = ("livemode", "is_bot", "channel")
    list_select_related = ("link", "participant", "campaign")
    search_fields = ("visitor_id", "link__code")
    date_hierarchy = "created_at"
    fields = (
        "project",
        "livemode",
        "created_at",
        shown("link", _("link")),
        participant,
        campaign,
        "channel",
        "visitor_id",
        "ip_hash",
        "user_agent",
        "referer",
        "utm",
        "click_ids",
        "is_bot",
        "bot_reason",
    )
    readonly_fields = fields
