"""Rows shared by every app: the scoping and circuit mixins, stored idempotent responses,
outbound call slots and rate-limit counters."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class Scoped(models.Model):
    """Every row that belongs to a project carries the project and the live/test mode."""

    project = models.ForeignKey(
        "projects.Project", on_delete=models.CASCADE, related_name="+", verbose_name=_("project")
    )
    livemode = models.BooleanField(_("live mode"), default=False)

    class Meta:
        abstract = True


class Circuit(models.Model):
    """The circuit breaker of something Sarafan calls (core/circuit.py): kept on its row."""

    consecutive_failures = models.PositiveIntegerField(_("failures in a row"), default=0)
    circuit_open_until = models.DateTimeField(_("paused until"), null=True, blank=True)
    last_error = models.CharField(_("last error"), max_length=500, blank=True)
    last_success_at = models.DateTimeField(_("last success"), null=True, blank=True)

    class Meta:
        abstract = True


class IdempotencyRecord(Scoped):
    """The first response to a POST sent with an Idempotency-Key, replayed for the same key."""

    key = models.CharField(max_length=255)
    method = models.CharField(max_length=8)
    path = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64)
    # Null while the first request is still running.
    status_code = models.PositiveSmallIntegerField(null=True)
    response_body = models.BinaryField(null=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["project", "livemode", "key"], name="idempotency_key_unique"
            )
        ]

    def __str__(self) -> str:
        return self.key


class OutboundSlot(models.Model):
    """One of the few calls a scope (a project) may have running to outside servers at once,
    held by a worker until `held_until` (core/slots.py)."""

    scope = models.CharField(max_length=64)
    number = models.PositiveSmallIntegerField()
    holder = models.CharField(max_length=32, default="")
    held_until = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["scope", "number"], name="outbound_slot_unique")
        ]

    def __str__(self) -> str:
        return f"{self.scope}#{self.number}"


class RateCounter(models.Model):
    """Failed guesses of one client in one window (core/ratelimit.py), when Redis is not used."""

    bucket = models.CharField(max_length=200, unique=True)
    # Unix seconds: the periodic sweep drops counters whose window has ended.
    expires_at = models.BigIntegerField(db_index=True)
    count = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return self.bucket
