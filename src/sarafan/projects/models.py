"""Projects own everything; each has four API keys (secret/publishable × test/live)."""

from decimal import Decimal

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from sarafan.core.ids import public_id_factory
from sarafan.core.money import MoneyField

# Gifts to a person from a company above this much a year are taxable income in Russia.
DEFAULT_TAX_THRESHOLD = Decimal("4000.00")


class Project(models.Model):
    """A business running referral programs; the unit every row is scoped by."""

    public_id = models.CharField(max_length=32, unique=True, default=public_id_factory("prj"))
    name = models.CharField(_("name"), max_length=200)
    # The yearly total of rewards per person is kept against this threshold: the console
    # warns from tax_warn_percent of it, and with tax_hold rewards past it wait for the
    # person's tax details.
    tax_threshold = MoneyField(
        _("yearly gift-tax threshold"),
        default=DEFAULT_TAX_THRESHOLD,
        validators=[MinValueValidator(Decimal(0))],
    )
    tax_warn_percent = models.PositiveSmallIntegerField(
        _("warn from, percent of the threshold"),
        default=80,
        validators=[MinValueValidator(1), MaxValueValidator(100)],
    )
    tax_hold = models.BooleanField(_("hold rewards past the threshold"), default=False)
    # Certificates are e-mailed to recipients who have an e-mail address.
    email_rewards = models.BooleanField(_("e-mail certificates"), default=True)
    email_from = models.CharField(_("sender of e-mails"), max_length=254, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("project")
        verbose_name_plural = _("projects")
        ordering = ["-id"]

    def __str__(self) -> str:
        return self.name


class KeyKind(models.TextChoices):
    SECRET = "sk", _("secret")
    PUBLISHABLE = "pk", _("publishable")


class ApiKey(models.Model):
    """An API key, stored only as its SHA-256; `prefix` shows which key it is in the console."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="api_keys")
    livemode = models.BooleanField(_("live mode"))
    kind = models.CharField(_("kind"), max_length=2, choices=KeyKind.choices)
    prefix = models.CharField(_("key prefix"), max_length=24)
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    # Set when a key is rotated: the old key keeps working until then.
    expires_at = models.DateTimeField(_("expires"), null=True, blank=True)

    class Meta:
        verbose_name = _("API key")
        verbose_name_plural = _("API keys")

    def __str__(self) -> str:
        return f"{self.prefix}…"
