"""Reads of the anti-fraud app shared by several pages."""

from django.db.models import QuerySet

from .models import Alert


def open_alerts(*, project_id: int | None = None, livemode: bool) -> QuerySet[Alert]:
    """Alerts nobody has acknowledged yet, in one mode (and project, if given)."""
    alerts = Alert.objects.filter(livemode=livemode, acknowledged_at__isnull=True)
    return alerts.filter(project_id=project_id) if project_id is not None else alerts
