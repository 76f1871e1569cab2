"""Anti-fraud use cases on the events path: record identity signals, assess a referral.

Signals are stored per participant as keyed hashes (Fingerprint); a referral's risk comes
from what referrer and referee share, what the friend looks like (disposable e-mail, block
lists, flagged devices), how the friend arrived (paid ad, banned site) and the stop-rules.
"""

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone

from sarafan.campaigns.models import Campaign
from sarafan.core.errors import InvalidRequest
from sarafan.core.identity import (
    Identity,
    email_domain,
    email_matches,
    ip_in_range,
    is_disposable_email,
    similar_names,
)
from sarafan.links.models import Click
from sarafan.participants.models import Participant

from . import risk as scoring
from .config import banned_referrer, cached_list, fraud_settings, paid_ad_params
from .models import BlockKind, BlockRule, Fingerprint, FlaggedSignal, SignalKind
from .risk import Finding, Risk
from .signals import hashed_signals
from .stoprules import EventFacts, active_rules, carry_out, evaluate_event

S = SignalKind
# Shared IP addresses count only when both sides used them within this many days.
IP_WINDOW = timedelta(days=30)
# What a shared signal says about a referral.
SHARED: dict[str, str] = {
    S.EMAIL: "self_referral_email",
    S.PHONE: "self_referral_phone",
    S.DEVICE: "self_referral_device",
    S.VISITOR: "self_referral_device",
    S.CARD: "self_referral_card",
}
# Signals a fraudster's mark passes on to later events (never the user agent or subnet).
FLAGGABLE = (S.EMAIL, S.PHONE, S.DEVICE, S.VISITOR, S.CARD, S.IP)


def record_signals(
    *, project_id: int, livemode: bool, participant: Participant, identity: Identity
) -> dict[str, str]:
    """Remember the signals an event carried for its participant; returns them hashed."""
    hashes = hashed_signals(identity, phone_region=settings.SARAFAN_PHONE_REGION)
    if hashes:
        now = timezone.now()
        Fingerprint.objects.bulk_create(
            [
                Fingerprint(
                    project_id=project_id,
                    livemode=livemode,
                    participant=participant,
                    kind=kind,
                    value_hash=value,
                    first_seen_at=now,
                    last_seen_at=now,
                )
                for kind, value in hashes.items()
            ],
            update_conflicts=True,
            unique_fields=["participant", "kind", "value_hash"],
            update_fields=["last_seen_at"],
        )
    return hashes


def record_contacts(*, participant: Participant) -> None:
    """Remember a participant's e-mail and phone as identity signals (after an upsert)."""
    if participant.email or participant.phone:
        record_signals(
            project_id=participant.project_id,
            livemode=participant.livemode,
            participant=participant,
            identity=Identity(email=participant.email or None, phone=participant.phone or None),
        )


def forget_signals(*, participant: Participant) -> None:
    """Delete a person's identity signals (their erasure).

    A fraudster mark's flagged signals stay: the business's legitimate interest in not
    paying the same fraud twice.
    """
    Fingerprint.objects.filter(participant=participant).delete()


@dataclass(frozen=True)
class Subject:
    """A referral to assess: who referred whom, how, and what this event carried."""

    project_id: int
    livemode: bool
    campaign: Campaign
    referrer: Participant
    referee: Participant
    identity: Identity
    signals: dict[str, str]
    # How many referrals the referrer brought since a moment (referrals.selectors).
    referred_since: Callable[[datetime], int]
    click: Click | None = None
    clicked_at: datetime | None = None
    ordered_at: datetime | None = None
    # Set when an existing referral is assessed again; None while it is being created.
    referral_created_at: datetime | None = None


def _shared(subject: Subject) -> list[Finding]:
    """Signals the referrer was seen with that the referee has too."""
    now = timezone.now()
    referee_values = Fingerprint.objects.filter(participant_id=subject.referee.pk).values(
        "value_hash"
    )
    rows = Fingerprint.objects.filter(
        project_id=subject.project_id,
        livemode=subject.livemode,
        participant_id=subject.referrer.pk,
        value_hash__in=referee_values,
    ).values_list("kind", "last_seen_at")
    kinds = {kind for kind, seen in rows if kind not in (S.IP, S.IP_NET) or seen >= now - IP_WINDOW}
    findings = [Finding(SHARED[kind], {"signal": kind}) for kind in sorted(kinds) if kind in SHARED]
    if S.IP in kinds or S.IP_NET in kinds:
        exact = S.IP in kinds
        same_agent = exact and S.USER_AGENT in kinds
        findings.append(
            Finding(
                "same_ip",
                {"signal": S.IP if exact else S.IP_NET, "same_user_agent": same_agent},
                weight_key="same_ip_and_user_agent" if same_agent else "",
            )
        )
    return findings


def _blocked(subject: Subject) -> list[Finding]:
    """The friend's e-mail or IP address on the project's block list."""
    email = subject.referee.email or subject.identity.email or ""
    ip = subject.identity.ip or ""
    if not email and not ip:
        return []
    entries = cached_list(
        "block_rules",
        subject.project_id,
        subject.livemode,
        lambda: list(
            BlockRule.objects.filter(project_id=subject.project_id, livemode=subject.livemode)
        ),
    )
    for entry in entries:
        if (
            (entry.kind == BlockKind.EMAIL_PATTERN and email and email_matches(email, entry.value))
            or (
                entry.kind == BlockKind.EMAIL_DOMAIN
                and email
                and _in_domain(email_domain(email), entry.value)
            )
            or (entry.kind == BlockKind.IP_RANGE and ip and ip_in_range(ip, entry.value))
        ):
            return [Finding("blocklisted", {"entry": f"{entry.kind}:{entry.value}"})]
    return []


def check_block_value(kind: str, value: str) -> str:
    """A block list value as stored, or InvalidRequest saying what is wrong with it."""
    value = value.strip().lower()
    if kind == BlockKind.IP_RANGE:
        try:
            return str(ipaddress.ip_network(value, strict=False))
        except ValueError:
            raise InvalidRequest(
                f"'{value}' is not an IP address or range such as 203.0.113.0/24.",
                param="value",
            ) from None
    if kind == BlockKind.EMAIL_DOMAIN:
        value = value.lstrip("@")
        if "." not in value or any(ch in value for ch in "@/: *?"):
            raise InvalidRequest(
                f"'{value}' is not a domain name such as spam.example.", param="value"
            )
        return value
    if kind == BlockKind.EMAIL_PATTERN:
        if "@" not in value or " " in value:
            raise InvalidRequest(
                f"'{value}' is not an e-mail pattern such as *@spam.example or bot*@*.",
                param="value",
            )
        return value
    raise InvalidRequest(f"Unknown block list kind '{kind}'.", param="kind")


def _in_domain(domain: str, blocked: str) -> bool:
    blocked = blocked.lower().lstrip("@")
    return domain == blocked or domain.endswith("." + blocked)


def _flagged(subject: Subject) -> list[Finding]:
    findings: list[Finding] = []
    if subject.referrer.fraud_flagged_at is not None:
        findings.append(Finding("referrer_flagged", {}))
    if "high_refund_rate" in (subject.referrer.risk_flags or []):
        findings.append(Finding("high_refund_rate", {}))
    values = Fingerprint.objects.filter(participant_id=subject.referee.pk).values("value_hash")
    kinds = sorted(
        set(
            FlaggedSignal.objects.filter(
                project_id=subject.project_id, livemode=subject.livemode, value_hash__in=values
            ).values_list("kind", flat=True)
        )
    )
    if kinds:
        findings.append(Finding("flagged_signal", {"signals": kinds}))
    return findings


def _friend(subject: Subject) -> list[Finding]:
    findings: list[Finding] = []
    email = subject.referee.email or subject.identity.email or ""
    if email and is_disposable_email(email):
        findings.append(Finding("disposable_email", {"domain": email_domain(email)}))
    names = (subject.referrer.name, subject.referee.name)
    if all(names) and similar_names(*names):
        findings.append(Finding("similar_name", {}))
    return findings


def _arrival(subject: Subject) -> list[Finding]:
    """How the friend came: through a paid ad, or from a site banned for the campaign."""
    click = subject.click
    if click is None:
        return []
    findings: list[Finding] = []
    # The redirect keeps a click id under the name as sent (?GCLID=…); the lists are lower-case.
    sent = {name.lower() for name in click.click_ids or {}}
    paid = sorted(sent & paid_ad_params(subject.campaign))
    if paid:
        findings.append(Finding("paid_ad_traffic", {"params": paid}))
    domain = banned_referrer(subject.campaign, click.referer)
    if domain:
        findings.append(Finding("banned_referrer", {"domain": domain}))
    return findings


def assess(subject: Subject) -> Risk:
    """Score a referral with the campaign's weights and thresholds."""
    config = fraud_settings(subject.campaign)
    facts = EventFacts(
        project_id=subject.project_id,
        livemode=subject.livemode,
        campaign=subject.campaign,
        referrer_id=subject.referrer.pk,
        signals=subject.signals,
        referred_since=subject.referred_since,
        clicked_at=subject.clicked_at,
        ordered_at=subject.ordered_at,
        referral_created_at=subject.referral_created_at,
    )
    rules = active_rules(subject.project_id, subject.livemode, subject.campaign.pk)
    findings = [
        *_shared(subject),
        *_flagged(subject),
        *_blocked(subject),
        *_friend(subject),
        *_arrival(subject),
    ]
    stops = evaluate_event(facts, rules)
    carry_out(stops.tripped)  # alerts, and pauses through the campaigns service
    findings.extend(stops.findings)
    return scoring.score(
        findings, weights=config.weights, review_at=config.review_at, block_at=config.block_at
    )


def risk_out(
    score: float, decision: str, reasons: list[str], details: dict[str, Any]
) -> dict[str, Any]:
    """The API's `fraud`/`risk` object: API.md's three fields plus each reason explained."""
    return {
        "score": round(score, 4),
        "decision": decision,
        "reasons": reasons,
        "details": [
            {"code": code, "message": scoring.message(code), **details.get(code, {})}
            for code in reasons
        ],
    }
