"""Anti-fraud: identity signals as keyed hashes, flags, block lists, stop-rules, alerts.

Moderation decisions are sarafan.moderation's (moderation/models.py).
"""

from django.db import models
from django.utils.translation import gettext_lazy as _

from sarafan.core.ids import public_id_factory
from sarafan.core.models import Scoped


class SignalKind(models.TextChoices):
    EMAIL = "email", _("e-mail")
    PHONE = "phone", _("phone")
    DEVICE = "device", _("device")
    VISITOR = "visitor", _("visitor")
    CARD = "card", _("payment card")
    IP = "ip", _("IP address")
    IP_NET = "ip_net", _("IP subnet")
    USER_AGENT = "user_agent", _("user agent")


class Fingerprint(Scoped):
    """A participant was seen with this signal (keyed hash of its normalized value)."""

    participant = models.ForeignKey(
        "participants.Participant",
        on_delete=models.CASCADE,
        related_name="fingerprints",
        verbose_name=_("participant"),
    )
    kind = models.CharField(_("signal"), max_length=12, choices=SignalKind.choices)
    value_hash = models.CharField(_("hash"), max_length=64)
    first_seen_at = models.DateTimeField(_("first seen"))
    last_seen_at = models.DateTimeField(_("last seen"))

    class Meta:
        verbose_name = _("identity signal")
        verbose_name_plural = _("identity signals")
        constraints = [
            models.UniqueConstraint(
                fields=["participant", "kind", "value_hash"], name="fingerprint_once"
            )
        ]
        indexes = [
            # Who else was seen with this value, and how many lately (velocity rules).
            models.Index(fields=["project", "livemode", "value_hash", "last_seen_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.kind}:{self.value_hash[:10]}"


class FlaggedSignal(Scoped):
    """A device, card, IP, e-mail or phone that belonged to a participant marked as a fraudster."""

    kind = models.CharField(_("signal"), max_length=12, choices=SignalKind.choices)
    value_hash = models.CharField(_("hash"), max_length=64)
    participant = models.ForeignKey(
        "participants.Participant",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("flagged because of"),
    )
    reason = models.CharField(_("reason"), max_length=500, blank=True)
    created_by = models.CharField(_("by"), max_length=200, default="system")
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("flagged signal")
        verbose_name_plural = _("flagged signals")
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "livemode", "value_hash"], name="flagged_signal_once"
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind}:{self.value_hash[:10]}"


class BlockKind(models.TextChoices):
    EMAIL_PATTERN = "email_pattern", _("e-mail pattern")
    EMAIL_DOMAIN = "email_domain", _("e-mail domain")
    IP_RANGE = "ip_range", _("IP range")


class BlockRule(Scoped):
    """A project's block list entry: a referee matching it is blocked."""

    kind = models.CharField(_("kind"), max_length=16, choices=BlockKind.choices)
    value = models.CharField(_("value"), max_length=254)
    note = models.CharField(_("note"), max_length=500, blank=True)
    created_by = models.CharField(_("by"), max_length=200, default="system")
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("block list entry")
        verbose_name_plural = _("block list")
        ordering = ["kind", "value"]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "livemode", "kind", "value"], name="block_rule_once"
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.value}"


class StopRuleKind(models.TextChoices):
    VELOCITY_IP = "velocity_ip", _("customers per IP address")
    VELOCITY_DEVICE = "velocity_device", _("customers per device")
    VELOCITY_REFERRER = "velocity_referrer", _("referred signups and orders per referrer")
    FAST_CONVERSION = "fast_conversion", _("click to order faster than")
    CONVERSION_SPIKE = "conversion_spike", _("referrer's conversion above the campaign's")
    BUDGET_BURN = "budget_burn", _("budget burn rate over plan")


class StopAction(models.TextChoices):
    HOLD = "hold", _("hold rewards for review")
    PAUSE = "pause", _("pause the campaign")
    ALERT = "alert", _("alert")


class StopRule(Scoped):
    """An anomaly threshold and what to do when it is crossed; campaign None: every campaign."""

    public_id = models.CharField(max_length=32, unique=True, default=public_id_factory("srl"))
    campaign = models.ForeignKey(
        "campaigns.Campaign",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("campaign"),
    )
    kind = models.CharField(_("rule"), max_length=20, choices=StopRuleKind.choices)
    threshold = models.DecimalField(_("threshold"), max_digits=12, decimal_places=2)
    window_minutes = models.PositiveIntegerField(_("window, minutes"), default=60)
    actions = models.JSONField(_("actions"), default=list)
    enabled = models.BooleanField(_("enabled"), default=True)
    last_triggered_at = models.DateTimeField(_("last triggered"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("stop-rule")
        verbose_name_plural = _("stop-rules")
        ordering = ["kind", "id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} > {self.threshold}"
