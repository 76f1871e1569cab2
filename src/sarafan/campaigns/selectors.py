"""Campaign reads shared by several callers."""

from dataclasses import dataclass

from django.db import connection
from django.db.models import Q
from django.utils import timezone

from sarafan.core.errors import NotFound
from sarafan.projects.models import Project

from .models import Campaign, CampaignStatus, RewardRule


def find_campaign(
    *, project: Project, livemode: bool, public_id: str | None, param: str = "campaign"
) -> Campaign | None:
    """The campaign a caller named (None when none was named); NotFound names `param`."""
    if not public_id:
        return None
    campaign = Campaign.objects.filter(
        project=project, livemode=livemode, public_id=public_id
    ).first()
    if campaign is None:
        raise NotFound(f"No campaign '{public_id}'.", param=param)
    return campaign


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


@dataclass(frozen=True)
class CampaignTerms:
    """A campaign and its rules as the rules engine reads them; shared, never modified.

    Its `spent` and `rewards_count` are whatever they were when it was read: limits are
    checked against the database (rewards.services), never against these.
    """

    campaign: Campaign
    rules: tuple[RewardRule, ...]
    version: object


# Every event that pays reads its campaign and rules; building those queries cost more CPU
# than the rest of a reward's reads (measured with the events benchmark), so each process
# keeps them and checks one plain column to see whether they changed. Every change of a
# campaign or of its rules saves the campaign, which moves `updated_at`.
_TERMS: dict[int, CampaignTerms] = {}
_TERMS_MAX = 1000
_VERSION = "SELECT updated_at FROM campaigns_campaign WHERE id = %s"


def campaign_terms(campaign_id: int) -> CampaignTerms | None:
    """The campaign with its rules, from this process's memory while it is unchanged."""
    with connection.cursor() as cursor:
        cursor.execute(_VERSION, [campaign_id])
        row = cursor.fetchone()
    if row is None:
        return None
    cached = _TERMS.get(campaign_id)
    if cached is not None and cached.version == row[0]:
        return cached
    campaign = Campaign.objects.filter(pk=campaign_id).first()
    if campaign is None:
        return None
    terms = CampaignTerms(campaign, tuple(campaign.rules.all()), row[0])
    if len(_TERMS) >= _TERMS_MAX:
        _TERMS.clear()
    _TERMS[campaign_id] = terms
    return terms
