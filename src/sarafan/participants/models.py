"""Participants: the business's customers, who refer and are referred."""

from django.db import models
from django.utils.translation import gettext_lazy as _

from sarafan.core.crypto import decrypt, encrypt
from sarafan.core.hashing import token_hash
from sarafan.core.ids import public_id_factory
from sarafan.core.models import Scoped


class Participant(Scoped):
    """A person known by the business's own external_id; owns a primary referral code."""

    public_id = models.CharField(max_length=32, unique=True, default=public_id_factory("prt"))
    external_id = models.CharField(_("external id"), max_length=200)
    email = models.EmailField(_("e-mail"), max_length=254, blank=True)
    phone = models.CharField(_("phone"), max_length=32, blank=True)
    name = models.CharField(_("name"), max_length=200, blank=True)
    attributes = models.JSONField(_("attributes"), default=dict, blank=True)
    tags = models.JSONField(_("tags"), default=list, blank=True)
    consent = models.JSONField(_("consent"), default=dict, blank=True)
    # The language of e-mails to this person ("" for the installation's default).
    language = models.CharField(_("language"), max_length=8, blank=True)
    # Tax details (e.g. the INN) recorded for gifts past the yearly threshold; encrypted.
    tax_details_encrypted = models.TextField(blank=True)
    tax_details_at = models.DateTimeField(_("tax details recorded"), null=True, blank=True)
    referral_code = models.CharField(_("referral code"), max_length=16, unique=True)
    # The portal token /p/<token>: hashed to be found, encrypted to be given out again
    # (portal_url); both blank once the person is erased.
    portal_token_hash = models.CharField(max_length=64, unique=True, null=True, blank=True)
    portal_token_encrypted = models.TextField(blank=True)
    paid_orders = models.PositiveIntegerField(_("paid orders"), default=0)
    first_order_at = models.DateTimeField(_("first order"), null=True, blank=True)
    erased_at = models.DateTimeField(_("erased"), null=True, blank=True)
    # Set when a moderator marks the participant as a fraudster (their signals are flagged).
    fraud_flagged_at = models.DateTimeField(_("marked as fraudster"), null=True, blank=True)
    # Standing risk flags such as "high_refund_rate", checked for every later referral.
    risk_flags = models.JSONField(_("risk flags"), default=list, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("participant")
        verbose_name_plural = _("participants")
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "livemode", "external_id"], name="participant_external_id_unique"
            )
        ]
        indexes = [
            models.Index(fields=["project", "livemode", "email"]),
            # Analytics counts a period's new participants.
            models.Index(fields=["project", "livemode", "created_at"]),
        ]

    def __str__(self) -> str:
        return self.name or self.external_id

    def keep_portal_token(self, token: str) -> None:
        """Set the portal token: its hash finds this person, its encrypted copy is the link."""
        self.portal_token_hash = portal_token_hash(token)
        self.portal_token_encrypted = encrypt(token)

    def portal_token_value(self) -> str:
        """The portal token in clear ("" when there is none); never log it."""
        return decrypt(self.portal_token_encrypted) if self.portal_token_encrypted else ""


def portal_token_hash(token: str) -> str:
    """Plain SHA-256: the token is random enough that nothing can be guessed from its hash."""
    return token_hash(token)
