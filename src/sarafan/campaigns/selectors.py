"""Campaign reads shared by several callers."""

from django.db.models import Q
from django.utils import timezone

from sarafan.projects.models import Project

from .models import Campaign, CampaignStatus


def default_campaign(*, project: Project, livemode: bool) -> Campaign | None:
    """A project's default campaign: its first active one (API.md), in this mode."""
    return (
        Campaign.objects.filter(project=project, livemode=livemode, status=CampaignStatus.ACTIVE)
        .order_by("id")
        .first()
    )


def running_campaigns(*, project: Project, livemode: bool) -> list[Campaign]:
    """Active campaigns inside their start/end dates, oldest first."""
    now = timezone.now()
    return list(
        Campaign.objects.filter(project=project, livemode=livemode, status=CampaignStatus.ACTIVE)
        .filter(Q(starts_at__isnull=True) | Q(starts_at__lte=now))
        .filter(Q(ends_at__isnull=True) | Q(ends_at__gt=now))
        .order_by("id")
    )
