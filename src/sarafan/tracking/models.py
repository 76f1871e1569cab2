"""Events as they arrive and paid orders (one row per order id)."""

from django.db import models
from django.utils.translation import gettext_lazy as _

from sarafan.core.ids import public_id_factory
from sarafan.core.models import Scoped
from sarafan.core.money import DEFAULT_CURRENCY, MoneyField


class EventType(models.TextChoices):
    SIGNUP = "signup", _("signup")
    ORDER = "order", _("order")
    REFUND = "refund", _("refund")
    SHARE = "share", _("share")
    LEAD = "lead", _("lead")


class Event(Scoped):
    """An event accepted through the API; `response` is what the API answered for it."""

    public_id = models.CharField(max_length=32, unique=True, default=public_id_factory("evt"))
    type = models.CharField(_("type"), max_length=10, choices=EventType.choices)
    participant = models.ForeignKey(
        "participants.Participant",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("participant"),
    )
    referral = models.ForeignKey(
        "referrals.Referral",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("referral"),
    )
    channel = models.CharField(_("channel"), max_length=20, blank=True)
    order_id = models.CharField(_("order"), max_length=200, blank=True)
    amount = MoneyField(_("amount"), null=True, blank=True)
    currency = models.CharField(_("currency"), max_length=3, default=DEFAULT_CURRENCY)
    payload = models.JSONField(_("payload"), default=dict)
    # Identity signals the event carried, as keyed hashes by kind (never in clear).
    signals = models.JSONField(_("signals"), default=dict, blank=True)
    response = models.JSONField(default=dict)
    occurred_at = models.DateTimeField(_("occurred"))
    created_at = models.DateTimeField(_("received"), auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = _("event")
        verbose_name_plural = _("events")
        ordering = ["-id"]
        indexes = [models.Index(fields=["project", "livemode", "type", "occurred_at"])]

    def __str__(self) -> str:
        return self.public_id


class OrderStatus(models.TextChoices):
    PAID = "paid", _("paid")
    REFUNDED = "refunded", _("refunded")


class Order(Scoped):
    """A paid order, once per order id: the unique constraint is what stops double rewards."""

    order_id = models.CharField(_("order id"), max_length=200)
    # No database foreign key: on PostgreSQL tracking_event is partitioned by created_at and
    # its primary key is (id, created_at), which `id` alone cannot reference. Deleting an
    # event still deletes its order, through Django's collector (on_delete runs in Python).
    event = models.OneToOneField(
        Event, on_delete=models.CASCADE, related_name="order", db_constraint=False
    )
    participant = models.ForeignKey(
        "participants.Participant", on_delete=models.CASCADE, related_name="orders"
    )
    referral = models.ForeignKey(
        "referrals.Referral", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    amount = MoneyField(_("amount"))
    currency = models.CharField(_("currency"), max_length=3, default=DEFAULT_CURRENCY)
    is_first = models.BooleanField(_("first order"), default=False)
    status = models.CharField(
        _("status"), max_length=10, choices=OrderStatus.choices, default=OrderStatus.PAID
    )
    occurred_at = models.DateTimeField(_("occurred"))
    refunded_at = models.DateTimeField(_("refunded"), null=True, blank=True)

    class Meta:
        verbose_name = _("order")
        verbose_name_plural = _("orders")
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "livemode", "order_id"], name="order_id_unique"
            )
        ]
        # The analytics summary counts a period's orders (tests/test_explain.py).
        indexes = [models.Index(fields=["project", "livemode", "occurred_at"])]

    def __str__(self) -> str:
        return self.order_id
