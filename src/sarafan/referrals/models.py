"""Referrals: who brought whom, through which channel, and how risky it looks."""

from django.db import models
from django.utils.translation import gettext_lazy as _

from sarafan.core.ids import public_id_factory
from sarafan.core.models import Scoped


class ReferralStatus(models.TextChoices):
    PENDING = "pending", _("pending")
    QUALIFIED = "qualified", _("qualified")
    REJECTED = "rejected", _("rejected")
    REVIEW = "review", _("in review")


class AttributionSource(models.TextChoices):
    CODE = "code", _("referral code")
    CLICK = "click", _("visitor's last click")
    INVITE = "invite", _("e-mail invite")


class Referral(Scoped):
    """One referee per project and mode: the first referrer keeps the customer."""

    public_id = models.CharField(max_length=32, unique=True, default=public_id_factory("ref"))
    campaign = models.ForeignKey(
        "campaigns.Campaign", on_delete=models.PROTECT, related_name="referrals"
    )
    referrer = models.ForeignKey(
        "participants.Participant",
        on_delete=models.CASCADE,
        related_name="referrals_made",
        verbose_name=_("referrer"),
    )
    referee = models.ForeignKey(
        "participants.Participant",
        on_delete=models.CASCADE,
        related_name="referrals_received",
        verbose_name=_("referee"),
    )
    link = models.ForeignKey(
        "links.Link", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    channel = models.CharField(_("channel"), max_length=20, blank=True)
    source = models.CharField(_("attributed by"), max_length=10, choices=AttributionSource.choices)
    status = models.CharField(
        _("status"), max_length=10, choices=ReferralStatus.choices, default=ReferralStatus.PENDING
    )
    risk_score = models.FloatField(_("risk score"), default=0.0)
    risk_decision = models.CharField(_("decision"), max_length=10, default="allow")
    risk_reasons = models.JSONField(_("reasons"), default=list, blank=True)
    # Per reason: its weight and the evidence behind it (which signal matched, counts).
    risk_details = models.JSONField(_("evidence"), default=dict, blank=True)
    # When the friend clicked the referral link (attribution by click): click-to-order time.
    clicked_at = models.DateTimeField(_("clicked"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True, db_index=True)
    qualified_at = models.DateTimeField(_("qualified"), null=True, blank=True)

    class Meta:
        verbose_name = _("referral")
        verbose_name_plural = _("referrals")
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "livemode", "referee"], name="referral_one_referrer"
            )
        ]
        indexes = [models.Index(fields=["project", "livemode", "referrer", "status"])]

    def __str__(self) -> str:
        return self.public_id


class ReferralEvent(models.Model):
    """Append-only history of a referral, written by the services."""

    referral = models.ForeignKey(Referral, on_delete=models.CASCADE, related_name="history")
    kind = models.CharField(max_length=30)
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.kind


class Invite(Scoped):
    """A referrer invited someone by e-mail; the invitee's later signup attributes to them."""

    referrer = models.ForeignKey(
        "participants.Participant", on_delete=models.CASCADE, related_name="+"
    )
    email_hash = models.CharField(max_length=64)
    channel = models.CharField(max_length=20, default="email")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "tracking_invite"  # written by the events path, which had it first
        indexes = [models.Index(fields=["project", "livemode", "email_hash", "created_at"])]
