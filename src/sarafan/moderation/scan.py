"""The periodic side of the stop-rules: anomalies seen across many events.

Every few minutes the worker looks, per enabled rule, for IP addresses and devices shared
by too many customers, referrers bringing too many friends, referrers converting far above
their campaign, and campaigns spending faster than planned; it holds the affected
referrals, alerts and pauses as each rule says.
"""

from collections.abc import Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from itertools import groupby
from operator import attrgetter

from django.db.models import Count, Q, Sum
from django.utils import timezone

from sarafan.campaigns.models import Campaign, CampaignStatus
from sarafan.core.sweeps import isolated
from sarafan.fraud.models import Fingerprint, SignalKind, StopRule, StopRuleKind
from sarafan.fraud.stoprules import BUDGET_PLAN_DAYS, HOLD, SPIKE_MIN_CLICKS, trip
from sarafan.links.models import Click
from sarafan.referrals.models import Referral, ReferralStatus
from sarafan.rewards.models import Reward
from sarafan.rewards.transitions import COUNTED

from .services import hold_referrals

K = StopRuleKind
OPEN = (ReferralStatus.PENDING, ReferralStatus.QUALIFIED)


def _open_referrals(rule: StopRule, **where: object) -> list[Referral]:
    referrals = Referral.objects.filter(
        project_id=rule.project_id, livemode=rule.livemode, status__in=OPEN, **where
    )
    if rule.campaign_id is not None:
        referrals = referrals.filter(campaign_id=rule.campaign_id)
    # Worth holding: cases not qualified yet (their rewards are still to come) and
    # qualified ones with rewards still in their hold period; paid rewards stay paid.
    waiting = Q(status=ReferralStatus.PENDING) | Q(rewards__status="pending")
    return list(referrals.filter(waiting).distinct())


def _hold(rule: StopRule, referrals: list[Referral], evidence: Mapping[str, object]) -> int:
    if HOLD not in rule.actions or not referrals:
        return 0
    return hold_referrals(referrals, reason=str(rule.kind), evidence=dict(evidence))


def _shared_values(rule: StopRule, since: datetime) -> int:
    kind = SignalKind.IP if rule.kind == K.VELOCITY_IP else SignalKind.DEVICE
    crowded = (
        Fingerprint.objects.filter(
            project_id=rule.project_id, livemode=rule.livemode, kind=kind, last_seen_at__gte=since
        )
        .values("value_hash")
        .annotate(customers=Count("participant_id"))
        .filter(customers__gt=int(rule.threshold))
    )
    held = 0
    for row in crowded[:100]:
        people = Fingerprint.objects.filter(
            project_id=rule.project_id,
            livemode=rule.livemode,
            value_hash=row["value_hash"],
            last_seen_at__gte=since,
        ).values("participant_id")
        evidence = {"count": row["customers"], "threshold": float(rule.threshold)}
        held += _hold(rule, _open_referrals(rule, referee_id__in=people), evidence)
        trip(rule, subject=row["value_hash"][:12], value=row["customers"], campaign=None)
    return held


def _busy_referrers(rule: StopRule, since: datetime) -> int:
    referrals = Referral.objects.filter(
        project_id=rule.project_id, livemode=rule.livemode, created_at__gte=since
    )
    if rule.campaign_id is not None:
        referrals = referrals.filter(campaign_id=rule.campaign_id)
    busy = (
        referrals.values("referrer_id")
        .annotate(brought=Count("id"))
        .filter(brought__gt=int(rule.threshold))
    )
    held = 0
    for row in busy[:100]:
        evidence = {"count": row["brought"], "threshold": float(rule.threshold)}
        held += _hold(
            rule,
            _open_referrals(rule, referrer_id=row["referrer_id"], created_at__gte=since),
            evidence,
        )
        trip(rule, subject=f"referrer:{row['referrer_id']}", value=row["brought"], campaign=None)
    return held


def _campaigns(rule: StopRule) -> list[Campaign]:
    campaigns = Campaign.objects.filter(
        project_id=rule.project_id, livemode=rule.livemode, status=CampaignStatus.ACTIVE
    )
    if rule.campaign_id is not None:
        campaigns = campaigns.filter(pk=rule.campaign_id)
    return list(campaigns)


def _conversion_spikes(rule: StopRule, since: datetime) -> int:
    """Referrers whose clicks turn into referrals `threshold` times more often than the rest."""
    held = 0
    for campaign in _campaigns(rule):
        clicks = dict(
            Click.objects.filter(campaign=campaign, created_at__gte=since, is_bot=False)
            .values("participant_id")
            .annotate(n=Count("id"))
            .values_list("participant_id", "n")
        )
        brought = dict(
            Referral.objects.filter(campaign=campaign, created_at__gte=since)
            .values("referrer_id")
            .annotate(n=Count("id"))
            .values_list("referrer_id", "n")
        )
        total_clicks, total_brought = sum(clicks.values()), sum(brought.values())
        for referrer_id, own_clicks in clicks.items():
            own = brought.get(referrer_id, 0)
            if own_clicks < SPIKE_MIN_CLICKS or not own:
                continue
            rest_clicks = total_clicks - own_clicks
            rest = total_brought - own
            if rest_clicks <= 0:
                continue
            # Where nobody else converted, the rest count as one conversion: the lone
            # converter among many idle clicks stands out, a handful of clicks does not.
            ratio = (own / own_clicks) / (max(rest, 1) / rest_clicks)
            if ratio <= float(rule.threshold):
                continue
            evidence = {"ratio": round(ratio, 2), "threshold": float(rule.threshold)}
            held += _hold(
                rule,
                _open_referrals(rule, referrer_id=referrer_id, campaign=campaign),
                evidence,
            )
            trip(rule, subject=f"referrer:{referrer_id}", value=round(ratio, 2), campaign=campaign)
    return held


def _planned_spend(campaign: Campaign, window: timedelta, now: datetime) -> Decimal | None:
    """What the campaign should spend in `window` to last its dates (or BUDGET_PLAN_DAYS)."""
    if campaign.budget is None:
        return None
    start = campaign.starts_at or campaign.created_at
    end = campaign.ends_at or max(now, start) + timedelta(days=BUDGET_PLAN_DAYS)
    length = max(end - start, window)
    return campaign.budget * Decimal(window / length)


def _budget_burn(rule: StopRule, now: datetime) -> int:
    window = timedelta(minutes=rule.window_minutes)
    for campaign in _campaigns(rule):
        plan = _planned_spend(campaign, window, now)
        if not plan:
            continue
        burned = Reward.objects.filter(
            campaign=campaign, status__in=COUNTED, created_at__gte=now - window
        ).aggregate(total=Sum("amount"))["total"] or Decimal(0)
        if burned > plan * rule.threshold:
            trip(
                rule,
                subject=f"campaign:{campaign.pk}",
                value=f"{burned} / {plan.quantize(Decimal('0.01'))}",
                campaign=campaign,
                data={"burned": str(burned), "planned": str(plan.quantize(Decimal("0.01")))},
            )
    return 0


def _run(rule: StopRule, now: datetime) -> int:
    since = now - timedelta(minutes=rule.window_minutes)
    if rule.kind in (K.VELOCITY_IP, K.VELOCITY_DEVICE):
        return _shared_values(rule, since)
    if rule.kind == K.VELOCITY_REFERRER:
        return _busy_referrers(rule, since)
    if rule.kind == K.CONVERSION_SPIKE:
        return _conversion_spikes(rule, since)
    if rule.kind == K.BUDGET_BURN:
        return _budget_burn(rule, now)
    return 0


def run_stop_rules(*, now: datetime | None = None) -> int:
    """Evaluate every enabled stop-rule once; returns how many referrals were held.

    Project by project: one whose data makes a rule fail is logged and skipped, and the
    other projects' rules still run."""
    now = now or timezone.now()
    rules = StopRule.objects.filter(enabled=True).select_related("project")
    held = 0
    for _, grouped in groupby(rules.order_by("project_id", "id"), key=attrgetter("project_id")):
        project_rules = list(grouped)
        with isolated("stop-rules", project=project_rules[0].project.public_id):
            held += sum(_run(rule, now) for rule in project_rules)
    return held
