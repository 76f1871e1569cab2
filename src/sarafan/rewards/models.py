"""Rewards, the e-certificates that pay them, and redemptions of those certificates."""

from django.db import models
from django.utils.translation import gettext_lazy as _

from sarafan.core.codes import normalize_code
from sarafan.core.crypto import decrypt, encrypt
from sarafan.core.hashing import keyed_hash
from sarafan.core.ids import public_id_factory
from sarafan.core.models import Circuit, Scoped
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


class Waiting(models.TextChoices):
    """Why an approved reward is not issued yet (shown in the console and the API)."""

    NONE = "", _("nothing")
    CHOICE = "choice", _("the recipient's choice of brand")
    POOL_EMPTY = "pool_empty", _("codes in the pool")
    ISSUER = "issuer", _("the external issuer")
    ISSUER_FAILED = "issuer_failed", _("the external issuer refused; needs attention")
    TAX_DETAILS = "tax_details", _("the recipient's tax details")
    BANK = "bank", _("the reward bank to reach its minimum")


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
    # Fulfilment: the brand chosen (or defaulted) for the certificate, what an approved
    # reward waits for, until when the recipient may choose, and the external issuer's
    # retry schedule.
    brand = models.ForeignKey(
        "Brand",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("brand"),
    )
    waiting = models.CharField(
        _("waiting for"), max_length=16, choices=Waiting.choices, default="", blank=True
    )
    choose_by = models.DateTimeField(_("choose a brand by"), null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(_("issue attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt"), null=True, blank=True)
    last_error = models.CharField(_("last error"), max_length=500, blank=True)
    # When the certificate was issued: the yearly totals kept against the gift-tax threshold.
    issued_at = models.DateTimeField(_("issued"), null=True, blank=True)
    # A small reward paid as part of a bank reward's certificate.
    banked_into = models.ForeignKey(
        "self",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="banked",
        verbose_name=_("paid in bank reward"),
    )
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
            models.Index(fields=["status", "waiting", "next_attempt_at"]),
            models.Index(fields=["project", "livemode", "recipient", "issued_at"]),
            # Issued rewards whose e-mail a crash may have lost (rewards/delivery.py).
            models.Index(fields=["status", "issued_at"], name="reward_issued"),
        ]

    def __str__(self) -> str:
        return self.public_id

    def paying_certificate(self) -> "Certificate | None":
        """The certificate that pays this reward: its own, or its bank reward's."""
        own: Certificate | None = getattr(self, "certificate", None)
        if own is None and self.banked_into is not None:
            return getattr(self.banked_into, "certificate", None)
        return own


class RewardEvent(models.Model):
    """Append-only history of a reward: every transition, by whom and why.

    Each row is also the reward's outgoing event `reward.<to_status>` (an outbox read in
    id order by webhook delivery).
    """

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

    @property
    def event_type(self) -> str:
        return f"reward.{self.to_status}"


class CertificateStatus(models.TextChoices):
    ACTIVE = "active", _("active")
    REDEEMED = "redeemed", _("redeemed")
    CANCELLED = "cancelled", _("cancelled")
    EXPIRED = "expired", _("expired")


class CertificateKind(models.TextChoices):
    INTERNAL = "internal", _("Sarafan's own")
    POOL = "pool", _("from a pool")
    ISSUER = "issuer", _("from an external issuer")


CODE_HASH_PURPOSE = "certificate_code"


def certificate_code_hash(code: str) -> str:
    """The keyed hash Sarafan's own certificate is found by: of the code as typed, normalized."""
    return keyed_hash(normalize_code(code), purpose=CODE_HASH_PURPOSE)


class Certificate(Scoped):
    """An e-certificate paying a reward.

    No code or PIN is stored in clear. Sarafan's own (`internal`): the code as a keyed hash
    (what the API finds it by) plus an encrypted copy, the PIN encrypted, a balance that only
    goes down, redeemed through the API. From a pool or an external issuer: the brand's code
    and PIN encrypted, redeemed at the brand (no hash: Sarafan's API does not redeem them).
    """

    public_id = models.CharField(max_length=32, unique=True, default=public_id_factory("crt"))
    reward = models.OneToOneField(
        Reward, on_delete=models.SET_NULL, null=True, blank=True, related_name="certificate"
    )
    kind = models.CharField(
        _("kind"), max_length=10, choices=CertificateKind.choices, default=CertificateKind.INTERNAL
    )
    # Unique across the installation, as the clear codes were: /certificates/<code> is found
    # by this hash within the caller's project and mode.
    code_hash = models.CharField(max_length=64, unique=True, null=True, blank=True)
    code_encrypted = models.TextField(blank=True)
    pin_encrypted = models.TextField(blank=True)
    brand = models.CharField(_("brand"), max_length=200, blank=True)
    catalog_brand = models.ForeignKey(
        "Brand",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="certificates",
        verbose_name=_("brand from the catalogue"),
    )
    # A pool code pays one certificate only: the one-to-one is the database's guarantee.
    pool_code = models.OneToOneField(
        "PoolCode", on_delete=models.PROTECT, null=True, blank=True, related_name="certificate"
    )
    issuer = models.ForeignKey(
        "Issuer", on_delete=models.PROTECT, null=True, blank=True, related_name="certificates"
    )
    external_id = models.CharField(_("issuer's id"), max_length=200, blank=True)
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
    reminded_at = models.DateTimeField(_("expiry reminder sent"), null=True, blank=True)
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
        indexes = [models.Index(fields=["status", "expires_at"], name="certificate_expiry")]

    def __str__(self) -> str:
        return self.public_id

    def keep_own_code(self, code: str, pin: str) -> None:
        """Set Sarafan's own code (hashed to be found, encrypted to be shown) and PIN (encrypted)."""
        self.code_hash = certificate_code_hash(code)
        self.code_encrypted = encrypt(normalize_code(code))
        self.pin_encrypted = encrypt(pin) if pin else ""

    def code_value(self) -> str:
        """The code in clear, whatever the kind; never log it."""
        return decrypt(self.code_encrypted) if self.code_encrypted else ""

    def pin_value(self) -> str:
        """The PIN in clear ("" when there is none); never log it."""
        return decrypt(self.pin_encrypted) if self.pin_encrypted else ""


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


class Issuer(Scoped, Circuit):
    """An external provider's HTTP API that issues certificates (README, "External issuers").

    Its credentials are encrypted; the circuit fields stop calls to a failing provider.
    """

    public_id = models.CharField(max_length=32, unique=True, default=public_id_factory("iss"))
    name = models.CharField(_("name"), max_length=200)
    url = models.URLField(_("API URL"), max_length=500)
    token_encrypted = models.TextField(blank=True)
    brand = models.ForeignKey(
        Brand,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="issuers",
        verbose_name=_("brand"),
    )
    timeout_seconds = models.FloatField(_("timeout, seconds"), default=10.0)
    max_attempts = models.PositiveSmallIntegerField(_("attempts per reward"), default=8)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("external issuer")
        verbose_name_plural = _("external issuers")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def token_value(self) -> str:
        return decrypt(self.token_encrypted) if self.token_encrypted else ""


class DeliveryKind(models.TextChoices):
    CERTIFICATE = "certificate", _("certificate")
    REMINDER = "reminder", _("expiry reminder")


class DeliveryStatus(models.TextChoices):
    SENT = "sent", _("sent")
    FAILED = "failed", _("failed")
    SENDING = "sending", _("sending")


class Delivery(Scoped):
    """One e-mail about a reward's certificate: the first send, a resend or a reminder."""

    reward = models.ForeignKey(
        Reward, on_delete=models.CASCADE, related_name="deliveries", verbose_name=_("reward")
    )
    kind = models.CharField(_("kind"), max_length=12, choices=DeliveryKind.choices)
    # Blanked when the recipient is erased.
    to = models.EmailField(_("to"), max_length=254, blank=True)
    language = models.CharField(_("language"), max_length=8)
    status = models.CharField(_("status"), max_length=8, choices=DeliveryStatus.choices)
    error = models.CharField(_("error"), max_length=500, blank=True)
    actor = models.CharField(_("by"), max_length=200, default="system")
    # A send is claimed ("sending") before the SMTP round trip, so one e-mail goes out once
    # however many tasks and sweeps try; a claim left by a worker that died is taken over
    # once it is SARAFAN_DELIVERY_GRACE_SECONDS old (rewards/delivery.py).
    claimed_at = models.DateTimeField(_("sending since"), null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=1)
    created_at = models.DateTimeField(_("sent"), auto_now_add=True)

    class Meta:
        verbose_name = _("delivery")
        verbose_name_plural = _("deliveries")
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["reward", "kind"],
                condition=models.Q(status="sending"),
                name="delivery_one_send_at_a_time",
            )
        ]
        indexes = [
            models.Index(
                fields=["claimed_at"],
                condition=models.Q(status="sending"),
                name="delivery_interrupted",
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} → {self.to or '—'}: {self.status}"
