"""Campaign use cases: create, change, pause, resume."""

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any, Protocol
from urllib.parse import urlsplit

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from sarafan.alerts.services import raise_alert
from sarafan.core.errors import Conflict, InvalidRequest
from sarafan.core.validation import refuse_control_characters
from sarafan.events.outbox import publish
from sarafan.projects.models import Project

from .models import Campaign, CampaignStatus, RewardKind, RewardRule
from .reasons import REASONS
from .schemas import CampaignIn, CampaignPatch, FraudIn, LimitsIn, RewardSourceIn, RuleIn

# The one table of allowed status changes.
TRANSITIONS: dict[str, set[str]] = {
    CampaignStatus.DRAFT: {CampaignStatus.ACTIVE, CampaignStatus.ENDED},
    CampaignStatus.ACTIVE: {CampaignStatus.PAUSED, CampaignStatus.ENDED},
    CampaignStatus.PAUSED: {CampaignStatus.ACTIVE, CampaignStatus.ENDED},
    CampaignStatus.ENDED: set(),
}


def _host_of(url: str, *, param: str) -> str:
    refuse_control_characters(url, param=param)
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise InvalidRequest(f"{param} must be an absolute http:// or https:// URL.", param=param)
    if parts.username or parts.password:
        raise InvalidRequest(f"{param} must not contain credentials.", param=param)
    return parts.hostname.lower()


def _clean_hosts(hosts: list[str], landing_host: str) -> list[str]:
    cleaned: list[str] = []
    for index, raw in enumerate(hosts):
        refuse_control_characters(raw, param=f"allowed_redirect_hosts.{index}")
        host = raw.strip().lower()
        if not host or any(ch in host for ch in "/:?#@ \\") or host.startswith("."):
            raise InvalidRequest(
                f"'{raw}' is not a host name; give names like 'shop.example' without scheme or path.",
                param=f"allowed_redirect_hosts.{index}",
            )
        if host not in cleaned:
            cleaned.append(host)
    if landing_host not in cleaned:
        cleaned.insert(0, landing_host)
    return cleaned


def _check_rule(rule: RuleIn, index: int) -> None:
    param = f"rules.{index}"
    if rule.kind == RewardKind.FIXED and rule.amount is None:
        raise InvalidRequest("A fixed reward needs 'amount'.", param=f"{param}.amount")
    if rule.kind == RewardKind.PERCENT and rule.percent is None:
        raise InvalidRequest("A percent reward needs 'percent'.", param=f"{param}.percent")
    if rule.kind == RewardKind.PERCENT and rule.trigger == "signup":
        raise InvalidRequest(
            "A percent reward needs an order; use it with first_order or repeat_order.",
            param=f"{param}.kind",
        )
    if rule.kind == RewardKind.TIERED:
        if not rule.tiers:
            raise InvalidRequest("A tiered reward needs 'tiers'.", param=f"{param}.tiers")
        starts = [tier.from_ for tier in rule.tiers]
        if starts != sorted(set(starts)):
            raise InvalidRequest(
                "Tiers must be in ascending order of 'from' with no repeats.",
                param=f"{param}.tiers",
            )


def _check_dates(campaign: Campaign) -> None:
    if campaign.starts_at and campaign.ends_at and campaign.ends_at <= campaign.starts_at:
        raise InvalidRequest("ends_at must be after starts_at.", param="ends_at")


def _payouts(rules: list[RuleIn] | None, campaign: Campaign | None) -> list[tuple[int, str, list]]:
    """(rule index, kind, the fixed amounts it pays) of the sent rules or the stored ones."""
    if rules is not None:
        return [
            (i, r.kind, [r.amount] if r.amount is not None else [t.amount for t in r.tiers or []])
            for i, r in enumerate(rules)
        ]
    stored = list(campaign.rules.order_by("position")) if campaign is not None else []
    return [
        (
            i,
            r.kind,
            [r.amount] if r.kind == RewardKind.FIXED else [Decimal(t["amount"]) for t in r.tiers],
        )
        for i, r in enumerate(stored)
    ]


@dataclass(frozen=True)
class PoolTerms:
    """What a campaign's reward source needs to know of a pool it names."""

    currency: str
    denomination: Decimal
    brand: str  # the brand's public id


class RewardSources(Protocol):
    """The project's issuers and pools, looked up for a campaign's reward source.

    Rewards (above campaigns) answer it: `sarafan.rewards.sources.CAMPAIGN_SOURCES`, handed
    in by the API, the console and the demo.
    """

    def has_issuer(self, *, project: Project, livemode: bool, public_id: str) -> bool: ...

    def pools(
        self, *, project: Project, livemode: bool, public_ids: list[str]
    ) -> dict[str, PoolTerms]: ...


def _check_source(
    source: RewardSourceIn,
    *,
    project: Project,
    livemode: bool,
    currency: str,
    payouts: list[tuple[int, str, list]],
    sources: RewardSources,
) -> dict[str, Any]:
    """Check a reward source against the project's pools/issuers and the campaign's rules.

    Pools have fixed denominations, so a pool source needs rules with fixed amounts (fixed
    or tiered) that some pool of the campaign can pay; the bank pays any total, so it needs
    Sarafan's own certificates.
    """
    stored: dict[str, Any] = {"type": source.type}
    if source.type != "pool" and (source.pool or source.pools or source.choice):
        raise InvalidRequest(
            "pool, pools and choice belong to a 'pool' reward source.", param="reward_source.type"
        )
    if source.type != "issuer" and source.issuer:
        raise InvalidRequest(
            "issuer belongs to an 'issuer' reward source.", param="reward_source.type"
        )
    if source.bank is not None:
        if source.type != "internal":
            raise InvalidRequest(
                "The reward bank pays totals of any size, so it needs Sarafan's own "
                "certificates ('internal').",
                param="reward_source.bank",
            )
        stored["bank"] = {"min_amount": str(source.bank.min_amount)}
    if source.type == "issuer":
        if not source.issuer:
            raise InvalidRequest("An 'issuer' source needs 'issuer'.", param="reward_source.issuer")
        if not sources.has_issuer(project=project, livemode=livemode, public_id=source.issuer):
            raise InvalidRequest(
                f"No issuer '{source.issuer}' in this project and mode.",
                param="reward_source.issuer",
            )
        stored["issuer"] = source.issuer
    if source.type == "pool":
        pools = _check_pools(
            source,
            scope={"project": project, "livemode": livemode},
            sources=sources,
            currency=currency,
            payouts=payouts,
        )
        stored.update(pools)
    return stored


def _check_pools(
    source: RewardSourceIn,
    *,
    scope: dict[str, Any],
    sources: RewardSources,
    currency: str,
    payouts: list,
) -> dict[str, Any]:
    ids = list(dict.fromkeys([*([source.pool] if source.pool else []), *source.pools]))
    if not ids:
        raise InvalidRequest("A 'pool' source needs 'pool' or 'pools'.", param="reward_source.pool")
    pools = sources.pools(**scope, public_ids=ids)
    for index, public_id in enumerate(ids):
        pool = pools.get(public_id)
        if pool is None:
            raise InvalidRequest(
                f"No pool '{public_id}' in this project and mode.",
                param=f"reward_source.pools.{index}",
            )
        if pool.currency != currency:
            raise InvalidRequest(
                f"Pool '{public_id}' holds {pool.currency} certificates; the campaign pays "
                f"in {currency}.",
                param=f"reward_source.pools.{index}",
            )
    denominations = sorted({pool.denomination for pool in pools.values()})
    for index, kind, amounts in payouts:
        if kind == RewardKind.PERCENT:
            raise InvalidRequest(
                "A percent reward cannot be paid from pools of fixed denominations; use "
                "fixed or tiered amounts, or Sarafan's own certificates.",
                code="pool_needs_fixed_amounts",
                param=f"rules.{index}.kind",
            )
        for amount in amounts:
            if amount not in denominations:
                raise InvalidRequest(
                    f"No pool of this campaign holds certificates of {amount}; the pools "
                    f"hold {', '.join(str(d) for d in denominations)}.",
                    code="no_pool_for_amount",
                    param=f"rules.{index}.amount",
                )
    stored: dict[str, Any] = {"pool": ids[0], "pools": ids}
    if source.choice is not None:
        brands = {pool.brand for pool in pools.values()}
        default = source.choice.default_brand
        if default is not None and default not in brands:
            raise InvalidRequest(
                f"The default brand '{default}' has no pool in this campaign.",
                param="reward_source.choice.default_brand",
            )
        stored["choice"] = {"days": source.choice.days, "default_brand": default}
    return stored


def _clean_fraud(fraud: FraudIn) -> dict[str, Any]:
    """Check a campaign's anti-fraud settings and return them as stored (only what was set)."""
    for code in fraud.weights:
        if code not in REASONS:
            raise InvalidRequest(
                f"'{code}' is not a reason code; see the README's anti-fraud section.",
                param=f"fraud.weights.{code}",
            )
    if fraud.block_at < fraud.review_at:
        raise InvalidRequest(
            "fraud.block_at must not be below fraud.review_at.", param="fraud.block_at"
        )
    domains: list[str] = []
    for index, raw in enumerate(fraud.banned_referrer_domains):
        host = raw.strip().lower().removeprefix("www.")
        if not host or any(ch in host for ch in "/:?#@ \\") or "." not in host:
            raise InvalidRequest(
                f"'{raw}' is not a domain name; give names like 'coupons.example'.",
                param=f"fraud.banned_referrer_domains.{index}",
            )
        if host not in domains:
            domains.append(host)
    cleaned = fraud.model_copy(
        update={
            "banned_referrer_domains": domains,
            "paid_ad_params": (
                None
                if fraud.paid_ad_params is None
                else sorted({name.strip().lower() for name in fraud.paid_ad_params})
            ),
        }
    )
    return cleaned.model_dump(mode="json", exclude_defaults=True)


def _apply_limits(campaign: Campaign, limits: LimitsIn) -> None:
    campaign.limit_per_referrer_per_month = limits.per_referrer_per_month
    campaign.limit_per_referrer_amount_per_month = limits.per_referrer_amount_per_month
    campaign.budget = limits.budget
    campaign.max_rewards = limits.max_rewards


def _replace_rules(campaign: Campaign, rules: list[RuleIn]) -> None:
    for index, rule in enumerate(rules):
        _check_rule(rule, index)
    campaign.rules.all().delete()
    RewardRule.objects.bulk_create(
        RewardRule(
            campaign=campaign,
            position=index,
            recipient=rule.recipient,
            trigger=rule.trigger,
            kind=rule.kind,
            amount=rule.amount if rule.kind == RewardKind.FIXED else None,
            percent=rule.percent if rule.kind == RewardKind.PERCENT else None,
            max_amount=rule.max_amount if rule.kind == RewardKind.PERCENT else None,
            min_order_amount=rule.min_order_amount,
            hold_days=rule.hold_days,
            tiers=(
                [{"from": t.from_, "amount": str(t.amount)} for t in rule.tiers or []]
                if rule.kind == RewardKind.TIERED
                else []
            ),
        )
        for index, rule in enumerate(rules)
    )


@transaction.atomic
def create_campaign(
    *, project: Project, livemode: bool, data: CampaignIn, sources: RewardSources
) -> Campaign:
    """Create a campaign with its rules; landing URL must be http(s), its host is always allowed.

    A reward source naming issuers or pools is checked through `sources` (see RewardSources).
    """
    landing_host = _host_of(data.landing_url, param="landing_url")
    campaign = Campaign(
        project=project,
        livemode=livemode,
        name=data.name.strip(),
        status=data.status,
        landing_url=data.landing_url,
        allowed_redirect_hosts=_clean_hosts(data.allowed_redirect_hosts, landing_host),
        attribution_window_days=data.attribution_window_days,
        new_customers_only=data.new_customers_only,
        currency=data.currency,
        starts_at=data.starts_at,
        ends_at=data.ends_at,
        reward_source=_check_source(
            data.reward_source,
            project=project,
            livemode=livemode,
            currency=data.currency,
            payouts=_payouts(data.rules, None),
            sources=sources,
        ),
        fraud=_clean_fraud(data.fraud),
    )
    _apply_limits(campaign, data.limits)
    _check_dates(campaign)
    campaign.save()
    _replace_rules(campaign, data.rules)
    return campaign


def _set_status(campaign: Campaign, status: str) -> None:
    if status == campaign.status:
        return
    if status not in TRANSITIONS[campaign.status]:
        raise Conflict(
            f"A campaign cannot go from '{campaign.status}' to '{status}'.",
            code="invalid_status_transition",
            param="status",
        )
    campaign.status = status
    if status == CampaignStatus.PAUSED:
        announce_paused(campaign, by="manager")


def announce_paused(campaign: Campaign, *, by: str) -> None:
    """Publish campaign.paused (sarafan.events) inside the caller's transaction."""
    payload = {"campaign": campaign.public_id, "by": by}
    publish(campaign.project_id, campaign.livemode, "campaign.paused", payload)


def pause_campaign(campaign: Campaign, *, why: str) -> bool:
    """Pause an active campaign (a stop-rule's action) and say so in an alert."""
    with transaction.atomic():
        changed = Campaign.objects.filter(pk=campaign.pk, status=CampaignStatus.ACTIVE).update(
            status=CampaignStatus.PAUSED, updated_at=timezone.now()
        )
        if changed:
            announce_paused(campaign, by="stop-rule")
            raise_alert(
                project_id=campaign.project_id,
                livemode=campaign.livemode,
                campaign_id=campaign.pk,
                kind="campaign.paused",
                subject=f"campaign:{campaign.pk}",
                message=_("Campaign «%(name)s» was paused: %(why)s")
                % {"name": campaign.name, "why": why},
                window=timedelta(minutes=1),
            )
    return bool(changed)


@transaction.atomic
def update_campaign(*, campaign: Campaign, data: CampaignPatch, sources: RewardSources) -> Campaign:
    """Change what was sent; rules and limits are replaced whole; status follows TRANSITIONS."""
    campaign = Campaign.objects.select_for_update(no_key=True).get(pk=campaign.pk)
    sent = data.model_fields_set
    for field in ("name", "attribution_window_days", "new_customers_only", "currency"):
        if field in sent and getattr(data, field) is not None:
            setattr(campaign, field, getattr(data, field))
    for field in ("starts_at", "ends_at"):
        if field in sent:
            setattr(campaign, field, getattr(data, field))
    if "landing_url" in sent and data.landing_url is not None:
        campaign.landing_url = data.landing_url
    landing_host = _host_of(campaign.landing_url, param="landing_url")
    hosts = data.allowed_redirect_hosts if "allowed_redirect_hosts" in sent else None
    campaign.allowed_redirect_hosts = _clean_hosts(
        hosts if hosts is not None else campaign.allowed_redirect_hosts, landing_host
    )
    if "limits" in sent and data.limits is not None:
        _apply_limits(campaign, data.limits)
    new_rules = data.rules if "rules" in sent else None
    if ("reward_source" in sent and data.reward_source is not None) or new_rules is not None:
        source = data.reward_source if "reward_source" in sent else None
        campaign.reward_source = _check_source(
            source or RewardSourceIn.model_validate(campaign.reward_source or {}),
            project=campaign.project,
            livemode=campaign.livemode,
            currency=campaign.currency,
            payouts=_payouts(new_rules, campaign),
            sources=sources,
        )
    if "fraud" in sent and data.fraud is not None:
        campaign.fraud = _clean_fraud(data.fraud)
    if "status" in sent and data.status is not None:
        _set_status(campaign, data.status)
    _check_dates(campaign)
    campaign.save()
    if "rules" in sent and data.rules is not None:
        _replace_rules(campaign, data.rules)
    return campaign


@transaction.atomic
def change_status(*, campaign: Campaign, status: str) -> Campaign:
    """Pause, resume or end a campaign; only moves allowed by TRANSITIONS."""
    campaign = Campaign.objects.select_for_update(no_key=True).get(pk=campaign.pk)
    _set_status(campaign, status)
    campaign.save(update_fields=["status", "updated_at"])
    return campaign


def create_demo_campaign(*, project: Project, sources: RewardSources) -> Campaign:
    """The «Приведи друга» campaign of the demo project, in test mode."""
    data = CampaignIn.model_validate(
        {
            "name": "Приведи друга",
            "landing_url": "https://shop.example/welcome",
            "allowed_redirect_hosts": ["shop.example"],
            "attribution_window_days": 30,
            "new_customers_only": True,
            "rules": [
                {
                    "recipient": "referrer",
                    "trigger": "first_order",
                    "kind": "fixed",
                    "amount": "500.00",
                    "min_order_amount": "1000.00",
                    "hold_days": 0,
                },
                {
                    "recipient": "referee",
                    "trigger": "signup",
                    "kind": "fixed",
                    "amount": "300.00",
                    "hold_days": 0,
                },
                {
                    "recipient": "referrer",
                    "trigger": "repeat_order",
                    "kind": "percent",
                    "percent": "5",
                    "max_amount": "1000.00",
                    "hold_days": 14,
                },
            ],
            "limits": {
                "per_referrer_per_month": 10,
                "per_referrer_amount_per_month": "5000.00",
                "budget": "1000000.00",
                "max_rewards": 5000,
            },
        }
    )
    return create_campaign(project=project, livemode=False, data=data, sources=sources)
