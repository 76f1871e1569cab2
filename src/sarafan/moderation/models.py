"""Moderation: the decisions taken on referrals and rewards in review."""

from django.db import models
from django.utils.translation import gettext_lazy as _

from sarafan.core.ids import public_id_factory
from sarafan.core.models import Scoped


class DecisionAction(models.TextChoices):
    APPROVE = "approve", _("approve")
    REJECT = "reject", _("reject")


class Decision(Scoped):
    """A moderator's (or the review deadline's) decision on a referral or a reward."""

    public_id = models.CharField(max_length=32, unique=True, default=public_id_factory("dec"))
    referral = models.ForeignKey(
        "referrals.Referral",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="decisions",
        verbose_name=_("referral"),
    )
    reward = models.ForeignKey(
        "rewards.Reward",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="decisions",
        verbose_name=_("reward"),
    )
    action = models.CharField(_("decision"), max_length=10, choices=DecisionAction.choices)
    actor = models.CharField(_("by"), max_length=200)
    reason = models.CharField(_("why"), max_length=500, blank=True)
    created_at = models.DateTimeField(_("decided"), auto_now_add=True)
    reversed_at = models.DateTimeField(_("reversed"), null=True, blank=True)
    reversed_by = models.CharField(_("reversed by"), max_length=200, blank=True)

    class Meta:
        # The table it had as fraud's model (moved with SeparateDatabaseAndState).
        db_table = "fraud_decision"
        verbose_name = _("moderation decision")
        verbose_name_plural = _("moderation decisions")
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.action} by {self.actor}"
