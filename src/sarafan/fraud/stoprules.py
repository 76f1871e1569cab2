"""Stop-rules: anomaly thresholds checked as events arrive and by a periodic task.

Each rule has a kind, a threshold, a window and actions: `hold` (the affected referrals and
their not yet paid rewards go to the moderation queue), `pause` (the campaign is paused)
and `alert` (a console notice, once per rule and subject within the rule's window).
Every project gets DEFAULT_RULES when it is created (on `projects.services.project_created`);
they are edited in the console.

Evaluation (`evaluate_event`) reads and returns findings and the rules it found crossed;
the caller then carries each crossed rule out with `trip`: the alert through
`alerts.services`, the pause through `campaigns.services.pause_campaign`. The referrals a
referrer brought are counted by the caller's `referred_since` (referrals sit above fraud).
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _

from sarafan.alerts.services import raise_alert
from sarafan.campaigns.models import Campaign
from sarafan.campaigns.services import pause_campaign
from sarafan.projects.models import Project

from .config import cached_list
from .models import Fingerprint, SignalKind, StopAction, StopRule, StopRuleKind
from .risk import Finding

K = StopRuleKind
HOLD, PAUSE, ALERT = StopAction.HOLD, StopAction.PAUSE, StopAction.ALERT

# kind, threshold, window in minutes, actions. Thresholds: customers seen with one IP or
# device, referrals by one referrer, seconds from click to order, times the campaign's
# conversion, times the planned spend.
DEFAULT_RULES: tuple[tuple[str, str, int, tuple[str, ...]], ...] = (
    (K.VELOCITY_IP, "10", 60, (HOLD, ALERT)),
    (K.VELOCITY_DEVICE, "3", 60, (HOLD, ALERT)),
    (K.VELOCITY_REFERRER, "10", 60, (HOLD, ALERT)),
    (K.FAST_CONVERSION, "30", 60, (HOLD,)),
    (K.CONVERSION_SPIKE, "5", 7 * 24 * 60, (HOLD, ALERT)),
    (K.BUDGET_BURN, "3", 24 * 60, (ALERT, PAUSE)),
)
# A referrer's conversion is compared with the campaign's only past this many clicks.
SPIKE_MIN_CLICKS = 20
# Without an end date, a budget is planned to last this long.
BUDGET_PLAN_DAYS = 30


def create_default_rules(*, project: Project) -> None:
    """Give a new project the default stop-rules, in both modes."""
    StopRule.objects.bulk_create(
        StopRule(
            project=project,
            livemode=livemode,
            kind=kind,
            threshold=Decimal(threshold),
            window_minutes=window,
            actions=list(actions),
        )
        for livemode in (False, True)
        for kind, threshold, window, actions in DEFAULT_RULES
    )


def active_rules(project_id: int, livemode: bool, campaign_id: int | None) -> list[StopRule]:
    """Enabled rules for every campaign plus those for this one (kept per process briefly)."""
    rules = cached_list(
        "stop_rules",
        project_id,
        livemode,
        lambda: list(
            StopRule.objects.filter(project_id=project_id, livemode=livemode, enabled=True)
        ),
    )
    return [rule for rule in rules if rule.campaign_id in (None, campaign_id)]


def threshold_str(threshold: Decimal) -> str:
    """A threshold as people write it: 10, 2.5 (never 1E+1)."""
    return format(threshold.normalize(), "f")


def _describe(rule: StopRule, value: object) -> str:
    return _("Stop-rule «%(rule)s» (threshold %(threshold)s): %(value)s") % {
        "rule": rule.get_kind_display(),
        "threshold": threshold_str(rule.threshold),
        "value": value,
    }


def trip(
    rule: StopRule,
    *,
    subject: str,
    value: object,
    campaign: Campaign | None,
    data: dict[str, Any] | None = None,
) -> None:
    """Carry out a crossed rule's alert and pause actions (hold is up to the caller).

    The pause goes through the campaigns service, which raises the campaign's own alert.
    """
    now = timezone.now()
    StopRule.objects.filter(pk=rule.pk).update(last_triggered_at=now)
    text = _describe(rule, value)
    if ALERT in rule.actions:
        raise_alert(
            project_id=rule.project_id,
            livemode=rule.livemode,
            campaign_id=campaign.pk if campaign else rule.campaign_id,
            rule_id=rule.pk,
            kind="fraud.review_required" if HOLD in rule.actions else "fraud.anomaly",
            subject=f"{rule.kind}:{subject}",
            message=text,
            data={"rule": rule.public_id, "value": str(value), **(data or {})},
            window=timedelta(minutes=rule.window_minutes),
        )
    if PAUSE in rule.actions and campaign is not None:
        pause_campaign(campaign, why=text)


@dataclass(frozen=True)
class Tripped:
    """A rule an event crossed: what `trip` carries out."""

    rule: StopRule
    subject: str
    value: object
    campaign: Campaign | None


@dataclass(frozen=True)
class Evaluation:
    """What the stop-rules say about one event: findings to score, rules to carry out."""

    findings: list[Finding] = field(default_factory=list)
    tripped: list[Tripped] = field(default_factory=list)


@dataclass(frozen=True)
class EventFacts:
    """What one event tells the stop-rules."""

    project_id: int
    livemode: bool
    campaign: Campaign
    referrer_id: int
    signals: dict[str, str]
    # How many referrals the referrer brought since a moment (counted by the caller).
    referred_since: Callable[[datetime], int]
    clicked_at: datetime | None
    ordered_at: datetime | None
    # When the referral being assessed was created; None while it is being created.
    referral_created_at: datetime | None = None


def _since(rule: StopRule, now: datetime) -> datetime:
    return now - timedelta(minutes=rule.window_minutes)


def _seen_with(facts: EventFacts, value_hash: str, since: datetime) -> int:
    return Fingerprint.objects.filter(
        project_id=facts.project_id,
        livemode=facts.livemode,
        value_hash=value_hash,
        last_seen_at__gte=since,
    ).count()


def evaluate_event(facts: EventFacts, rules: Iterable[StopRule]) -> Evaluation:
    """Holding rules crossed by this event, as findings, and every rule it crossed.

    Nothing is written: the caller carries the crossed rules out (`carry_out`).
    """
    now = timezone.now()
    findings: list[Finding] = []
    tripped: list[Tripped] = []
    for rule in rules:
        value: int | float | None = None
        subject = ""
        if rule.kind in (K.VELOCITY_IP, K.VELOCITY_DEVICE):
            kind = SignalKind.IP if rule.kind == K.VELOCITY_IP else SignalKind.DEVICE
            value_hash = facts.signals.get(kind)
            if value_hash:
                value, subject = _seen_with(facts, value_hash, _since(rule, now)), value_hash[:12]
        elif rule.kind == K.VELOCITY_REFERRER:
            since = _since(rule, now)
            if facts.referral_created_at is not None and facts.referral_created_at < since:
                continue  # an older referral is not part of this hour's burst
            value = facts.referred_since(since)
            # The referral being created counts too, as the customer counts for an IP.
            if facts.referral_created_at is None:
                value += 1
            subject = f"referrer:{facts.referrer_id}"
        elif rule.kind == K.FAST_CONVERSION and facts.clicked_at and facts.ordered_at:
            seconds = (facts.ordered_at - facts.clicked_at).total_seconds()
            if seconds < float(rule.threshold):
                if HOLD in rule.actions:
                    findings.append(
                        Finding(
                            "fast_conversion",
                            {"seconds": round(seconds, 1), "threshold": float(rule.threshold)},
                            hold=True,
                        )
                    )
                tripped.append(
                    Tripped(
                        rule,
                        subject=f"referrer:{facts.referrer_id}",
                        value=round(seconds, 1),
                        campaign=facts.campaign,
                    )
                )
            continue
        if value is None or value <= rule.threshold:
            continue
        # The referral bears the reason only when the rule holds: a rule set to alert or
        # pause must not put cases in review through its weight.
        if HOLD in rule.actions:
            findings.append(
                Finding(
                    str(rule.kind),
                    {"count": value, "threshold": float(rule.threshold)},
                    hold=True,
                )
            )
        tripped.append(Tripped(rule, subject=subject, value=value, campaign=facts.campaign))
    return Evaluation(findings, tripped)


def carry_out(tripped: Iterable[Tripped]) -> None:
    """Carry out the alert and pause actions of the rules an evaluation found crossed."""
    for crossed in tripped:
        trip(crossed.rule, subject=crossed.subject, value=crossed.value, campaign=crossed.campaign)
