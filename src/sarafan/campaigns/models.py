"""Campaigns: who is rewarded, for what, with what, and within which limits."""

from django.db import models
from django.utils.translation import gettext_lazy as _

from sarafan.core.ids import public_id_factory
from sarafan.core.models import Scoped
from sarafan.core.money import DEFAULT_CURRENCY, MoneyField


class CampaignStatus(models.TextChoices):
    DRAFT = "draft", _("draft")
    ACTIVE = "active", _("active")
    PAUSED = "paused", _("paused")
    ENDED = "ended", _("ended")


class Recipient(models.TextChoices):
    REFERRER = "referrer", _("referrer")
    REFEREE = "referee", _("referee")


class Trigger(models.TextChoices):
    SIGNUP = "signup", _("signup")
    FIRST_ORDER = "first_order", _("first paid order")
    REPEAT_ORDER = "repeat_order", _("repeat order")
    LEAD_WON = "lead_won", _("B2B lead won")


class RewardKind(models.TextChoices):
    FIXED = "fixed", _("fixed amount")
    PERCENT = "percent", _("percent of the order")
    TIERED = "tiered", _("tiered")


class RewardSourceType(models.TextChoices):
    INTERNAL = "internal", _("Sarafan certificate")
    POOL = "pool", _("certificate pool")
    ISSUER = "issuer", _("external issuer")


class Campaign(Scoped):
    """A referral program; its counters let limits be checked under one row lock."""

    public_id = models.CharField(max_length=32, unique=True, default=public_id_factory("cmp"))
    name = models.CharField(_("name"), max_length=200)
    status = models.CharField(
        _("status"), max_length=10, choices=CampaignStatus.choices, default=CampaignStatus.ACTIVE
    )
    landing_url = models.URLField(_("landing URL"), max_length=2000)
    allowed_redirect_hosts = models.JSONField(_("allowed redirect hosts"), default=list)
    attribution_window_days = models.PositiveIntegerField(_("attribution window, days"), default=30)
    new_customers_only = models.BooleanField(_("new customers only"), default=True)
    currency = models.CharField(_("currency"), max_length=3, default=DEFAULT_CURRENCY)
    starts_at = models.DateTimeField(_("starts"), null=True, blank=True)
    ends_at = models.DateTimeField(_("ends"), null=True, blank=True)
    limit_per_referrer_per_month = models.PositiveIntegerField(
        _("rewards per referrer per month"), null=True, blank=True
    )
    limit_per_referrer_amount_per_month = MoneyField(
        _("amount per referrer per month"), null=True, blank=True
    )
    budget = MoneyField(_("budget"), null=True, blank=True)
    max_rewards = models.PositiveIntegerField(_("max rewards"), null=True, blank=True)
    reward_source = models.JSONField(_("reward source"), default=dict)
    # Anti-fraud settings (weights, thresholds, banned referrer domains, review deadline):
    # validated by campaigns.schemas.FraudIn, read through sarafan.fraud.settings.
    fraud = models.JSONField(_("anti-fraud settings"), default=dict, blank=True)
    spent = MoneyField(_("spent"), default=0)
    rewards_count = models.PositiveIntegerField(_("rewards"), default=0)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("campaign")
        verbose_name_plural = _("campaigns")
        ordering = ["-id"]
        indexes = [models.Index(fields=["project", "livemode", "status"])]

    def __str__(self) -> str:
        return self.name


class RewardRule(models.Model):
    """One line of a campaign's mechanics: recipient, trigger and how the amount is found."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="rules")
    position = models.PositiveSmallIntegerField(default=0)
    recipient = models.CharField(_("recipient"), max_length=10, choices=Recipient.choices)
    trigger = models.CharField(_("trigger"), max_length=20, choices=Trigger.choices)
    kind = models.CharField(_("kind"), max_length=10, choices=RewardKind.choices)
    amount = MoneyField(_("amount"), null=True, blank=True)
    percent = models.DecimalField(
        _("percent"), max_digits=6, decimal_places=3, null=True, blank=True
    )
    max_amount = MoneyField(_("cap"), null=True, blank=True)
    min_order_amount = MoneyField(_("minimum order"), null=True, blank=True)
    hold_days = models.PositiveIntegerField(_("hold, days"), default=0)
    # [{"from": 1, "amount": "500.00"}, …] sorted by "from".
    tiers = models.JSONField(_("tiers"), default=list, blank=True)

    class Meta:
        verbose_name = _("reward rule")
        verbose_name_plural = _("reward rules")
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return f"{self.recipient}/{self.trigger}/{self.kind}"
