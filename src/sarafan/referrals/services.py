"""Attribution: which referrer, if any, brought a customer.

Order of evidence: an explicit referral code, then the visitor's last click inside the
campaign's attribution window, then an e-mail invite. The first referrer keeps the
customer: a referee has at most one referral per project and mode (a unique constraint).
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.utils import timezone

from sarafan.campaigns.models import Campaign, CampaignStatus
from sarafan.campaigns.selectors import CampaignTerms, campaign_terms, default_campaign
from sarafan.core.codes import normalize_code
from sarafan.core.hashing import keyed_hash
from sarafan.core.identity import Identity, normalize_email
from sarafan.events.outbox import publish
from sarafan.fraud import risk as scoring
from sarafan.fraud.config import fraud_settings
from sarafan.fraud.risk import Risk
from sarafan.fraud.services import Subject, assess
from sarafan.links.models import Click, Link
from sarafan.participants.models import Participant
from sarafan.projects.models import Project

from .models import AttributionSource, Invite, Referral, ReferralEvent, ReferralStatus
from .moves import move
from .selectors import referred_since

MAX_WINDOW_DAYS = 365


@dataclass(frozen=True)
class Escalation:
    """New evidence makes an open referral's decision stricter than its status: it is to be
    held for review or rejected (moderation.services.hold_or_reject), for these reasons."""

    status: str
    reasons: list[str]


@dataclass
class Attribution:
    referral: Referral | None
    created: bool = False
    reasons: list[str] = field(default_factory=list)
    risk: Risk | None = None
    # The referral's campaign and rules when attribution already read them.
    terms: CampaignTerms | None = None
    # Set when an existing referral was reassessed into a stricter status; the caller
    # applies it in the same transaction, before any reward of the referral is granted.
    escalation: Escalation | None = None


@dataclass
class Evidence:
    referrer: Participant
    source: str
    link: Link | None
    channel: str
    campaign: Campaign | None
    at: datetime
    terms: CampaignTerms | None = None
    click: Click | None = None


def email_hash(email: str) -> str:
    """The invite key of an address: its canonical mailbox (Gmail dots, +tags removed)."""
    return keyed_hash(normalize_email(email), purpose="email")


def record_invite(
    *, project: Project, livemode: bool, referrer: Participant, email: str, channel: str
) -> Invite:
    """A referrer invited someone by e-mail: their later signup attributes to the referrer."""
    return Invite.objects.create(
        project=project,
        livemode=livemode,
        referrer=referrer,
        email_hash=email_hash(email),
        channel=channel,
    )


def is_running(campaign: Campaign, at: datetime) -> bool:
    return (
        campaign.status == CampaignStatus.ACTIVE
        and (campaign.starts_at is None or campaign.starts_at <= at)
        and (campaign.ends_at is None or campaign.ends_at > at)
    )


def _find_evidence(
    *, project: Project, livemode: bool, code: str | None, visitor_id: str, email: str
) -> Evidence | None:
    scope = {"project": project, "livemode": livemode}
    now = timezone.now()
    since = now - timedelta(days=MAX_WINDOW_DAYS)
    if code:
        link = (
            Link.objects.select_related("participant")
            .filter(**scope, code=normalize_code(code))
            .first()
        )
        if link is not None:
            terms = campaign_terms(link.campaign_id) if link.campaign_id else None
            # The code names the referrer; the visitor's click on that link still tells how
            # the friend arrived (a paid ad, a banned site) and when (click-to-order time).
            click = (
                Click.objects.filter(
                    **scope, visitor_id=visitor_id, link=link, created_at__gte=since, is_bot=False
                )
                .order_by("-created_at")
                .first()
                if visitor_id
                else None
            )
            return Evidence(
                link.participant,
                AttributionSource.CODE,
                link,
                link.channel,
                terms.campaign if terms else None,
                now,
                terms,
                click=click,
            )
    if visitor_id:
        click = (
            Click.objects.select_related("link__participant", "campaign")
            # Bots' and crawlers' clicks are recorded but never attribute.
            .filter(**scope, visitor_id=visitor_id, created_at__gte=since, is_bot=False)
            .order_by("-created_at")
            .first()
        )
        if click is not None:
            return Evidence(
                click.link.participant,
                AttributionSource.CLICK,
                click.link,
                click.channel,
                click.campaign,
                click.created_at,
                click=click,
            )
    if email:
        invite = (
            Invite.objects.select_related("referrer")
            .filter(**scope, email_hash=email_hash(email), created_at__gte=since)
            .order_by("-created_at")
            .first()
        )
        if invite is not None:
            return Evidence(
                invite.referrer,
                AttributionSource.INVITE,
                None,
                invite.channel,
                None,
                invite.created_at,
            )
    return None


def log(referral: Referral, kind: str, **data: object) -> None:
    ReferralEvent.objects.create(referral=referral, kind=kind, data=data)


def announce(referral: Referral, type: str, *, status: str | None = None) -> None:
    """Publish a referral event (sarafan.events) inside the caller's transaction."""
    payload = {"referral": referral.public_id, "status": status or referral.status}
    publish(referral.project_id, referral.livemode, type, payload)
    if type == "referral.created" and payload["status"] == ReferralStatus.REJECTED:
        publish(referral.project_id, referral.livemode, "referral.rejected", payload)


@dataclass(frozen=True)
class EventContext:
    """What the event being attributed carried, for the fraud checks."""

    identity: Identity
    signals: dict[str, str]
    # Set for the customer's first paid order: click-to-order time is checked then.
    ordered_at: datetime | None = None


REASSESSED = (ReferralStatus.PENDING, ReferralStatus.REVIEW)
STATUS_FOR = {scoring.BLOCK: ReferralStatus.REJECTED, scoring.REVIEW: ReferralStatus.REVIEW}


def attribute(
    *,
    project: Project,
    livemode: bool,
    customer: Participant,
    campaign: Campaign | None,
    code: str | None,
    visitor_id: str,
    was_customer: bool,
    context: EventContext,
    qualifies: bool = False,
) -> Attribution:
    """Find or create the customer's referral, inside the caller's transaction.

    The caller has locked the customer's row (events for one customer run one at a time).
    A referral still pending or in review is assessed again with each event's signals (a
    card appears only with the order), and its decision only ever gets stricter: when the
    stricter decision changes its status, the answer's `escalation` says so, and the caller
    holds or rejects the case (moderation sits above referrals) before granting rewards.
    `qualifies`: the event is the customer's first paid order, so a referral created now
    is written already qualified (as `qualify` would make it, without a second write).
    """
    existing = (
        Referral.objects.select_related("referrer")
        .filter(project=project, livemode=livemode, referee=customer)
        .first()
    )
    if existing is not None:
        existing.referee = customer  # the row the caller locked: no second copy to join
        if existing.status in REASSESSED or (
            context.ordered_at is not None and existing.status == ReferralStatus.QUALIFIED
        ):
            return Attribution(existing, escalation=_reassess(existing, context))
        return Attribution(existing)
    evidence = _find_evidence(
        project=project, livemode=livemode, code=code, visitor_id=visitor_id, email=customer.email
    )
    if evidence is None or evidence.referrer.pk == customer.pk:
        return Attribution(None)
    chosen = campaign or evidence.campaign or default_campaign(project=project, livemode=livemode)
    now = timezone.now()
    if chosen is None or not is_running(chosen, now):
        return Attribution(None, reasons=["campaign_not_active"])
    window = timedelta(days=chosen.attribution_window_days)
    if evidence.source != AttributionSource.CODE and evidence.at < now - window:
        return Attribution(None)
    if chosen.new_customers_only and was_customer:
        return Attribution(None, reasons=["existing_customer"])
    clicked_at = evidence.click.created_at if evidence.click is not None else None
    risk = assess(
        Subject(
            project_id=project.pk,
            livemode=livemode,
            campaign=chosen,
            referrer=evidence.referrer,
            referee=customer,
            identity=context.identity,
            signals=context.signals,
            referred_since=referred_since(
                project_id=project.pk, livemode=livemode, referrer_id=evidence.referrer.pk
            ),
            click=evidence.click,
            clicked_at=clicked_at,
            ordered_at=context.ordered_at,
        )
    )
    status = STATUS_FOR.get(risk.decision, ReferralStatus.PENDING)
    qualified = qualifies and status in REASSESSED
    # The caller holds the customer's row lock, so no other event attributes this customer
    # meanwhile; the unique referee constraint stays as the last guard.
    referral = Referral.objects.create(
        project=project,
        livemode=livemode,
        campaign=chosen,
        referrer=evidence.referrer,
        referee=customer,
        link=evidence.link,
        channel=evidence.channel,
        source=evidence.source,
        status=ReferralStatus.QUALIFIED
        if qualified and status == ReferralStatus.PENDING
        else status,
        qualified_at=timezone.now() if qualified else None,
        risk_score=risk.score,
        risk_decision=risk.decision,
        risk_reasons=risk.reasons,
        risk_details=risk.details,
        clicked_at=clicked_at,
    )
    created = {"source": evidence.source, "status": status, "risk": risk.as_dict()}
    history = [ReferralEvent(referral=referral, kind="created", data=created)]
    if qualified:
        history.append(ReferralEvent(referral=referral, kind="qualified", data={}))
    ReferralEvent.objects.bulk_create(history)
    announce(referral, "referral.created", status=status)
    if qualified:
        announce(referral, "referral.qualified")
    terms = evidence.terms if evidence.terms and evidence.terms.campaign is chosen else None
    return Attribution(referral, created=True, risk=risk, terms=terms)


def _reassess(referral: Referral, context: EventContext) -> Escalation | None:
    """Assess an open referral again with this event's signals; escalate, never relax.

    Saves the merged risk; returns the stricter status the referral is to take, if any."""
    terms = campaign_terms(referral.campaign_id)
    if terms is None:
        return None
    fresh = assess(
        Subject(
            project_id=referral.project_id,
            livemode=referral.livemode,
            campaign=terms.campaign,
            referrer=referral.referrer,
            referee=referral.referee,
            identity=context.identity,
            signals=context.signals,
            referred_since=referred_since(
                project_id=referral.project_id,
                livemode=referral.livemode,
                referrer_id=referral.referrer_id,
            ),
            clicked_at=referral.clicked_at,
            ordered_at=context.ordered_at,
            referral_created_at=referral.created_at,
        )
    )
    config = fraud_settings(terms.campaign)
    old = Risk(
        referral.risk_score, referral.risk_decision, referral.risk_reasons, referral.risk_details
    )
    merged, added = scoring.merge(old, fresh, review_at=config.review_at, block_at=config.block_at)
    if not added:
        return None
    referral.risk_score = merged.score
    referral.risk_reasons = merged.reasons
    referral.risk_details = merged.details
    referral.risk_decision = merged.decision
    fields = ["risk_score", "risk_reasons", "risk_details", "risk_decision"]
    # Compared with the status, not the old decision: a case a moderator approved keeps its
    # `review` decision, and new evidence puts it back in the queue.
    status = STATUS_FOR.get(merged.decision)
    referral.save(update_fields=fields)
    log(referral, "reassessed", added=added, risk=merged.as_dict())
    if status is not None and status != referral.status:
        return Escalation(status, list(added))
    return None


def qualify(referral: Referral) -> None:
    """The referee's first paid order makes a pending referral qualified.

    A referral in review is marked qualified too (qualified_at) but stays in review until a
    moderator approves it.
    """
    if referral.status in REASSESSED and referral.qualified_at is None:
        referral.qualified_at = timezone.now()
        pending = referral.status == ReferralStatus.PENDING
        move(
            referral,
            ReferralStatus.QUALIFIED if pending else referral.status,
            also=["qualified_at"],
        )
        log(referral, "qualified")
        announce(referral, "referral.qualified")
