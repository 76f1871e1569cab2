"""Referral links and the clicks on them."""

from django.db import models
from django.utils.translation import gettext_lazy as _

from sarafan.core.ids import public_id_factory
from sarafan.core.models import Scoped


class Channel(models.TextChoices):
    LINK = "link", _("personal link")
    WIDGET = "widget", _("widget")
    EMAIL = "email", _("e-mail")
    SMS = "sms", _("SMS")
    RECEIPT = "receipt", _("receipt")
    QR = "qr", _("QR code")
    CABINET = "cabinet", _("customer account")
    PARTNER = "partner", _("partner")
    SOCIAL = "social", _("social networks")
    TELEGRAM = "telegram", _("Telegram")
    WHATSAPP = "whatsapp", _("WhatsApp")
    VK = "vk", _("VK")


# The UTM parameters a link may carry.
UTM_KEYS = ("utm_source", "utm_medium", "utm_campaign", "utm_content", "utm_term")


class BotReason(models.TextChoices):
    """Why a click is taken for a program's rather than a person's (see traffic.py)."""

    CRAWLER = "crawler", _("crawler or link preview")
    HEADLESS = "headless", _("headless browser")
    HTTP_CLIENT = "http_client", _("HTTP client")
    NO_USER_AGENT = "no_user_agent", _("no user agent")


class Link(Scoped):
    """A code that /r/<code> resolves; every participant has a primary one plus one per channel."""

    public_id = models.CharField(max_length=32, unique=True, default=public_id_factory("lnk"))
    participant = models.ForeignKey(
        "participants.Participant", on_delete=models.CASCADE, related_name="links"
    )
    campaign = models.ForeignKey(
        "campaigns.Campaign", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # Codes are unique across the installation so /r/<code> needs no project in the URL.
    code = models.CharField(_("code"), max_length=16, unique=True)
    channel = models.CharField(_("channel"), max_length=20, choices=Channel.choices)
    utm = models.JSONField(_("UTM"), default=dict, blank=True)
    is_primary = models.BooleanField(default=False)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("link")
        verbose_name_plural = _("links")
        ordering = ["-id"]

    def __str__(self) -> str:
        return self.code


class Click(Scoped):
    """One visit through /r/<code>; never stores the IP in clear, and tells bots apart."""

    link = models.ForeignKey(Link, on_delete=models.CASCADE, related_name="clicks")
    participant = models.ForeignKey(
        "participants.Participant", on_delete=models.CASCADE, related_name="+"
    )
    campaign = models.ForeignKey(
        "campaigns.Campaign", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    channel = models.CharField(_("channel"), max_length=20)
    visitor_id = models.CharField(_("visitor"), max_length=64, db_index=True)
    ip_hash = models.CharField(_("IP hash"), max_length=64, blank=True)
    user_agent = models.CharField(_("user agent"), max_length=500, blank=True)
    referer = models.CharField(_("referer"), max_length=1000, blank=True)
    utm = models.JSONField(_("UTM"), default=dict, blank=True)
    click_ids = models.JSONField(_("click ids"), default=dict, blank=True)
    # A bot's click is kept (it got its 302) but counts in no figure and attributes nothing.
    # The database defaults let a process still running the previous code insert clicks
    # while the new columns are added.
    is_bot = models.BooleanField(_("bot"), default=False, db_default=False)
    bot_reason = models.CharField(
        _("bot reason"),
        max_length=20,
        choices=BotReason.choices,
        blank=True,
        default="",
        db_default="",
    )
    created_at = models.DateTimeField(_("time"), auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = _("click")
        verbose_name_plural = _("clicks")
        ordering = ["-id"]
        indexes = [models.Index(fields=["project", "livemode", "visitor_id", "created_at"])]

    def __str__(self) -> str:
        return f"{self.link_id}@{self.created_at:%Y-%m-%d %H:%M}"


class ClickSpoolMark(models.Model):
    """How far one click spool file has been copied into links_click (see spool.py).

    Written in the same transaction as the copied rows, so a flush repeated after a crash
    starts where the committed one ended and never inserts a click twice. A file whose id
    this database does not know is not this database's and is never flushed into it.
    """

    spool_id = models.CharField(max_length=64, unique=True)
    offset = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.spool_id}@{self.offset}"
