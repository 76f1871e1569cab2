from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from sarafan.projects.models import Project


class OutboxEvent(models.Model):
    """One change a domain app announced, waiting to be handed to its handlers.

    The id is the event's sequence: a project's events are handed out in id order. An
    event is pending until every handler of its type succeeded or gave up (`processed_at`).
    `handlers` holds each handler's state by dotted path: `{"done": true, "attempts": n}`
    once it succeeded (it is never called again for this event), `{"attempts": n,
    "error": "...", "retry_at": iso}` after a failure, `{"gave_up": true, ...}` past
    SARAFAN_EVENT_MAX_ATTEMPTS. A dispatcher claims rows for SARAFAN_EVENT_LEASE_SECONDS
    (`locked_by`, `locked_until`): rows of a dispatcher that died are claimed again after it.
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    livemode = models.BooleanField(_("live mode"))
    type = models.CharField(_("type"), max_length=64)
    payload = models.JSONField(_("payload"), default=dict)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    processed_at = models.DateTimeField(_("processed"), null=True, blank=True)
    handlers = models.JSONField(_("handlers"), default=dict)
    locked_by = models.CharField(max_length=32, blank=True, default="")
    locked_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("outbox event")
        verbose_name_plural = _("outbox events")
        indexes = [
            models.Index(
                fields=["project", "id"],
                condition=Q(processed_at__isnull=True),
                name="events_pending_by_project",
            ),
            models.Index(
                fields=["id"], condition=Q(processed_at__isnull=True), name="events_pending"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.type} #{self.pk}"
