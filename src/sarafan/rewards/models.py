"""Rewards, the e-certificates that pay them, and redemptions of those certificates."""

from django.db import models
from django.utils.translation import gettext_lazy as _

from sarafan.core.crypto import decrypt
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


class Brand(Scoped):
    """A brand whose pre-bought certificates are given as rewards (its name, logo, terms)."""

    public_id = models.CharField(max_length=32, unique=True, default=public_id_factory("brd"))
    name = models.CharField(_("name"), max_length=200)
    logo_url = models.URLField(_("logo URL"), max_length=500, blank=True)
    terms = models.TextField(_("terms of use"), blank=True)
    currency = models.CharField(_("currency"), max_length=3, default=DEFAULT_CURRENCY)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("reward brand")
        verbose_name_plural = _("reward brands")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class CertificatePool(Scoped):
    """Pre-bought certificate codes of one brand and denomination, handed out one each."""

    public_id = models.CharField(max_length=32, unique=True, default=public_id_factory("pol"))
    brand = models.ForeignKey(
        Brand, on_delete=models.PROTECT, related_name="pools", verbose_name=_("brand")
    )
    denomination = MoneyField(_("denomination"))
    currency = models.CharField(_("currency"), max_length=3, default=DEFAULT_CURRENCY)
    low_stock_threshold = models.PositiveIntegerField(_("low-stock threshold"), default=50)
    # Set when stock first falls to the threshold, so the alert fires once per refill.
    low_stock_alerted_at = models.DateTimeField(_("low stock alerted"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("certificate pool")
        verbose_name_plural = _("certificate pools")
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.brand} {self.denomination} {self.currency}"


class PoolCodeStatus(models.TextChoices):
    AVAILABLE = "available", _("available")
    ALLOCATED = "allocated", _("allocated")


class PoolCode(Scoped):
    """One pre-bought code (and PIN), encrypted at rest; `code_hash` finds duplicates."""

    pool = models.ForeignKey(
        CertificatePool, on_delete=models.CASCADE, related_name="codes", verbose_name=_("pool")
    )
    code_encrypted = models.TextField()
    pin_encrypted = models.TextField(blank=True)
    code_hash = models.CharField(max_length=64)
    nominal = MoneyField(_("nominal"))
    expires_at = models.DateTimeField(_("expires"), null=True, blank=True)
    status = models.CharField(
        _("status"),
        max_length=10,
        choices=PoolCodeStatus.choices,
        default=PoolCodeStatus.AVAILABLE,
    )
    allocated_at = models.DateTimeField(_("allocated"), null=True, blank=True)
    batch = models.CharField(_("upload batch"), max_length=32)
    created_at = models.DateTimeField(_("uploaded"), auto_now_add=True)

    class Meta:
        verbose_name = _("pool code")
        verbose_name_plural = _("pool codes")
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "livemode", "code_hash"], name="pool_code_unique_per_project"
            )
        ]
        indexes = [models.Index(fields=["pool", "status", "id"], name="pool_code_allocation")]

    def __str__(self) -> str:
        return f"{self.pool_id}:{self.pk}"

    def code_value(self) -> str:
        """The code in clear; never log it."""
        return decrypt(self.code_encrypted)

    def pin_value(self) -> str:
        """The PIN in clear ("" when the code has none); never log it."""
        return decrypt(self.pin_encrypted) if self.pin_encrypted else ""
