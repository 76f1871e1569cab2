"""Projects own everything; each has four API keys (secret/publishable × test/live)."""

from django.db import models
from django.utils.translation import gettext_lazy as _

from sarafan.core.ids import public_id_factory


class Project(models.Model):
    """A business running referral programs; the unit every row is scoped by."""

    public_id = models.CharField(max_length=32, unique=True, default=public_id_factory("prj"))
    name = models.CharField(_("name"), max_length=200)
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
