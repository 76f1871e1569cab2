"""Reward sources: where a campaign's certificates come from (API.md `reward_source`).

Sarafan's own certificates ("internal"), codes from the campaign's pools (with the
recipient's choice of brand when the campaign offers one, and a reward bank), or an
external issuer. Read here for fulfilment, the console and the referrer portal.
"""

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sarafan.campaigns.models import Campaign
from sarafan.campaigns.services import PoolTerms
from sarafan.projects.models import Project

from .models import Brand, CertificatePool, Issuer, Reward


@dataclass(frozen=True)
class Source:
    """A campaign's reward source, as stored by campaigns.services (API.md `reward_source`)."""

    type: str = "internal"
    pools: tuple[str, ...] = ()
    issuer: str | None = None
    choice_days: int | None = None
    default_brand: str | None = None
    bank_min: Decimal | None = None


def source_of(campaign: Campaign | None) -> Source:
    data: dict[str, Any] = (campaign.reward_source if campaign is not None else None) or {}
    choice = data.get("choice") or {}
    bank = data.get("bank") or {}
    return Source(
        type=data.get("type", "internal"),
        pools=tuple(data.get("pools") or ([data["pool"]] if data.get("pool") else [])),
        issuer=data.get("issuer"),
        choice_days=choice.get("days"),
        default_brand=choice.get("default_brand"),
        bank_min=Decimal(bank["min_amount"]) if bank.get("min_amount") else None,
    )


def pools_for(reward: Reward, source: Source) -> list[CertificatePool]:
    """The campaign's pools that can pay this reward's amount, in the campaign's order."""
    found = {
        pool.public_id: pool
        for pool in CertificatePool.objects.select_related("brand").filter(
            project_id=reward.project_id,
            livemode=reward.livemode,
            public_id__in=source.pools,
            denomination=reward.amount,
            currency=reward.currency,
        )
    }
    return [found[public_id] for public_id in source.pools if public_id in found]


def offered_brands(reward: Reward, source: Source | None = None) -> list[Brand]:
    """The brands the recipient may choose from for this reward (one each, campaign order)."""
    source = source or source_of(reward.campaign)
    if source.type != "pool":
        return []
    brands: dict[int, Brand] = {}
    for pool in pools_for(reward, source):
        brands.setdefault(pool.brand_id, pool.brand)
    return list(brands.values())


def find_issuer(reward: Reward) -> Issuer | None:
    """The external issuer of the reward's campaign, if it pays from one."""
    source = source_of(reward.campaign)
    if source.type != "issuer" or not source.issuer:
        return None
    return (
        Issuer.objects.select_related("brand")
        .filter(project_id=reward.project_id, livemode=reward.livemode, public_id=source.issuer)
        .first()
    )


class CampaignSources:
    """The issuers and pools a campaign's reward source may name, for campaigns.services
    (its RewardSources): the API, the console and the demo hand this in."""

    def has_issuer(self, *, project: Project, livemode: bool, public_id: str) -> bool:
        return Issuer.objects.filter(
            project=project, livemode=livemode, public_id=public_id
        ).exists()

    def pools(
        self, *, project: Project, livemode: bool, public_ids: list[str]
    ) -> dict[str, PoolTerms]:
        return {
            pool.public_id: PoolTerms(pool.currency, pool.denomination, pool.brand.public_id)
            for pool in CertificatePool.objects.select_related("brand").filter(
                project=project, livemode=livemode, public_id__in=public_ids
            )
        }


CAMPAIGN_SOURCES = CampaignSources()
