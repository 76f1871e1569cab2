"""Campaign use cases: create, change, pause, resume."""

from typing import Any
from urllib.parse import urlsplit

from django.db import transaction

from sarafan.core.errors import Conflict, InvalidRequest
from sarafan.fraud.risk import REASONS
from sarafan.projects.models import Project

from .models import Campaign, CampaignStatus, RewardKind, RewardRule
from .schemas import CampaignIn, CampaignPatch, FraudIn, LimitsIn, RewardSourceIn, RuleIn

# The one table of allowed status changes.
TRANSITIONS: dict[str, set[str]] = {
    CampaignStatus.DRAFT: {CampaignStatus.ACTIVE, CampaignStatus.ENDED},
    CampaignStatus.ACTIVE: {CampaignStatus.PAUSED, CampaignStatus.ENDED},
    CampaignStatus.PAUSED: {CampaignStatus.ACTIVE, CampaignStatus.ENDED},
    CampaignStatus.ENDED: set(),
}


def _host_of(url: str, *, param: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise InvalidRequest(f"{param} must be an absolute http:// or https:// URL.", param=param)
    if parts.username or parts.password:
        raise InvalidRequest(f"{param} must not contain credentials.", param=param)
    return parts.hostname.lower()


def _clean_hosts(hosts: list[str], landing_host: str) -> list[str]:
    cleaned: list[str] = []
    for index, raw in enumerate(hosts):
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


def _check_source(source: RewardSourceIn) -> dict[str, Any]:
    if source.type != "internal":
        raise InvalidRequest(
            "Only Sarafan's own certificates ('internal') are available as a reward source so far.",
            code="unsupported_reward_source",
            param="reward_source.type",
        )
    return {"type": source.type}


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
def create_campaign(*, project: Project, livemode: bool, data: CampaignIn) -> Campaign:
    """Create a campaign with its rules; landing URL must be http(s), its host is always allowed."""
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
        reward_source=_check_source(data.reward_source),
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


@transaction.atomic
def update_campaign(*, campaign: Campaign, data: CampaignPatch) -> Campaign:
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
    if "reward_source" in sent and data.reward_source is not None:
        campaign.reward_source = _check_source(data.reward_source)
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


def create_demo_campaign(*, project: Project) -> Campaign:
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
    return create_campaign(project=project, livemode=False, data=data)
