"""Rewards, the e-certificates that pay them, and redemptions of those certificates."""

from django.db import models
from django.utils.translation import gettext_lazy as _

from sarafan.core.ids import public_id_factory
from sarafan.core.models import Scoped
from sarafan.core.money import DEFAULT_CURRENCY, MoneyField


class RewardStatus(models.TextChoices):
    PENDING = "pending", _("pending (hold)")
    REVIEW = "review", _("in review")
    APPROVED = "approved", _("approved")
    ISSUED = "issued", _("issued")
    DELIVERED = "delivered", _("delivered")
    REDEEMED = "redeemed", _("redeemed")
    REJECTED = "rejected", _("rejected")
    CANCELLED = "cancelled", _("cancelled")
    EXPIRED = "expired", _("expired")


class Reward(Scoped):
    """What a participant earned; `dedupe_key` makes one rule pay one order once."""

    public_id = models.CharField(max_length=32, unique=True, default=public_id_factory("rwd"))
    campaign = models.ForeignKey(
        "campaigns.Campaign",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="rewards",
        verbose_name=_("campaign"),
    )
    rule = models.ForeignKey(
        "campaigns.RewardRule", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    referral = models.ForeignKey(
        "referrals.Referral",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="rewards",
        verbose_name=_("referral"),
    )
    recipient = models.ForeignKey(
        "participants.Participant",
        on_delete=models.CASCADE,
        related_name="rewards",
        verbose_name=_("recipient"),
    )
    order = models.ForeignKey(
        "tracking.Order", on_delete=models.SET_NULL, null=True, blank=True, related_name="rewards"
    )
    trigger = models.CharField(_("trigger"), max_length=20, blank=True)
    amount = MoneyField(_("amount"))
    currency = models.CharField(_("currency"), max_length=3, default=DEFAULT_CURRENCY)
    status = models.CharField(
        _("status"), max_length=10, choices=RewardStatus.choices, default=RewardStatus.PENDING
    )
    available_at = models.DateTimeField(_("available at"))
    reason = models.CharField(_("reason"), max_length=200, blank=True)
    dedupe_key = models.CharField(max_length=200)
    created_at = models.DateTimeField(_("created"), auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("reward")
        verbose_name_plural = _("rewards")
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "livemode", "dedupe_key"], name="reward_dedupe_unique"
            )
        ]
        indexes = [
            models.Index(fields=["project", "livemode", "recipient", "created_at"]),
            models.Index(fields=["status", "available_at"]),
        ]

    def __str__(self) -> str:
        return self.public_id


class RewardEvent(models.Model):
    """Append-only history of a reward: every transition, by whom and why."""

    reward = models.ForeignKey(Reward, on_delete=models.CASCADE, related_name="history")
    from_status = models.CharField(max_length=10, blank=True)
    to_status = models.CharField(max_length=10)
    actor = models.CharField(max_length=200, default="system")
    note = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.from_status or '-'} → {self.to_status}"


class CertificateStatus(models.TextChoices):
    ACTIVE = "active", _("active")
    REDEEMED = "redeemed", _("redeemed")
    CANCELLED = "cancelled", _("cancelled")
    EXPIRED = "expired", _("expired")


class Certificate(Scoped):
    """An e-certificate issued by Sarafan: code + PIN, a balance that only goes down."""

    public_id = models.CharField(max_length=32, unique=True, default=public_id_factory("crt"))
    reward = models.OneToOneField(
        Reward, on_delete=models.SET_NULL, null=True, blank=True, related_name="certificate"
    )
    code = models.CharField(_("code"), max_length=32, unique=True)
    pin = models.CharField(_("PIN"), max_length=12)
    brand = models.CharField(_("brand"), max_length=200, blank=True)
    amount = MoneyField(_("nominal"))
    balance = MoneyField(_("balance"))
    currency = models.CharField(_("currency"), max_length=3, default=DEFAULT_CURRENCY)
    status = models.CharField(
        _("status"),
        max_length=10,
        choices=CertificateStatus.choices,
        default=CertificateStatus.ACTIVE,
    )
    expires_at = models.DateTimeField(_("expires"))
    created_at = models.DateTimeField(_("issued"), auto_now_add=True)

    class Meta:
        verbose_name = _("certificate")
        verbose_name_plural = _("certificates")
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(balance__gte=0), name="certificate_balance_not_negative"
            )
        ]

    def __str__(self) -> str:
        return self.code


class Redemption(models.Model):
    """A (partial) use of a certificate, once per order id."""

    certificate = models.ForeignKey(
        Certificate, on_delete=models.CASCADE, related_name="redemptions"
    )
    order_id = models.CharField(_("order id"), max_length=200)
    amount = MoneyField(_("amount"))
    balance_after = MoneyField(_("balance after"))
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("redemption")
        verbose_name_plural = _("redemptions")
        constraints = [
            models.UniqueConstraint(
                fields=["certificate", "order_id"], name="redemption_once_per_order"
            )
        ]

    def __str__(self) -> str:
        return f"{self.order_id}: {self.amount}"
