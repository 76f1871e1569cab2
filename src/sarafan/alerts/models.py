"""Console notices, raised through `services.raise_alert` by any app."""

from django.db import models
from django.utils.translation import gettext_lazy as _

from sarafan.core.ids import public_id_factory
from sarafan.core.models import Scoped


class Alert(Scoped):
    """A console notice: a stop-rule crossed, a campaign paused, a pool empty, an issuer failing."""

    public_id = models.CharField(max_length=32, unique=True, default=public_id_factory("alr"))
    campaign = models.ForeignKey(
        "campaigns.Campaign",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("campaign"),
    )
    # A string reference: the stop-rules are fraud's, above alerts.
    rule = models.ForeignKey(
        "fraud.StopRule",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        verbose_name=_("stop-rule"),
    )
    kind = models.CharField(_("kind"), max_length=40)
    # Repeated triggers of one rule for one subject within the rule's window raise one alert.
    subject = models.CharField(_("subject"), max_length=200, blank=True)
    message = models.TextField(_("message"))
    data = models.JSONField(_("details"), default=dict, blank=True)
    created_at = models.DateTimeField(_("raised"), auto_now_add=True, db_index=True)
    acknowledged_at = models.DateTimeField(_("acknowledged"), null=True, blank=True)
    acknowledged_by = models.CharField(_("acknowledged by"), max_length=200, blank=True)

    class Meta:
        db_table = "fraud_alert"  # the anti-fraud app had the first alerts
        verbose_name = _("alert")
        verbose_name_plural = _("alerts")
        ordering = ["-id"]

    def __str__(self) -> str:
        return self.message[:80]
