"""Console notices: a stop-rule crossed, a campaign paused, a pool empty or running low, an
issuer failing. Any app raises one here; repeats for one subject within a window are one.

This module is the one writer of alerts. The table keeps its first name, `fraud_alert` (the
anti-fraud app had the first alerts); a stop-rule's alert names its rule by id.
"""

from datetime import timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from sarafan.events.outbox import publish

from .models import Alert


def raise_alert(
    *,
    project_id: int,
    livemode: bool,
    kind: str,
    subject: str,
    message: str,
    campaign_id: int | None = None,
    rule_id: int | None = None,
    data: dict[str, Any] | None = None,
    window: timedelta = timedelta(hours=1),
) -> Alert | None:
    """A console notice, unless the same rule raised one for the same subject lately."""
    since = timezone.now() - window
    recent = Alert.objects.filter(
        project_id=project_id, livemode=livemode, kind=kind, subject=subject, created_at__gte=since
    )
    if recent.exists():
        return None
    # The alert and its event commit together: in the caller's transaction (no savepoint),
    # or in one of their own when a sweep raises it outside any.
    with transaction.atomic(savepoint=False):
        alert = Alert.objects.create(
            project_id=project_id,
            livemode=livemode,
            campaign_id=campaign_id,
            rule_id=rule_id,
            kind=kind,
            subject=subject,
            message=message,
            data=data or {},
        )
        payload = {"alert": alert.public_id, "kind": kind, "subject": subject, "message": message}
        publish(project_id, livemode, "alert.raised", payload)
    return alert


def acknowledge(alert: Alert, *, actor: str) -> None:
    """Mark an alert as seen (it stays in the list)."""
    if alert.acknowledged_at is None:
        alert.acknowledged_at = timezone.now()
        alert.acknowledged_by = actor
        alert.save(update_fields=["acknowledged_at", "acknowledged_by"])
