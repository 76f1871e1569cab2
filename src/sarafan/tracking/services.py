"""Event ingestion: signup, order, refund and share, each in one transaction.

A paid order is identified by its order id: the Order row's unique constraint makes the
second copy of an order (sent twice, or at the same moment on two servers) find the first
one's answer instead of rewarding again.
"""

import logging
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from pydantic import ValidationError as PydanticError

from sarafan.campaigns.models import Campaign
from sarafan.campaigns.selectors import CampaignTerms, campaign_terms, find_campaign
from sarafan.core.errors import InvalidRequest, NotFound, SarafanError, error_body
from sarafan.core.identity import Identity
from sarafan.core.money import DEFAULT_CURRENCY, money_str
from sarafan.core.validation import validation_error
from sarafan.events import outbox as events
from sarafan.fraud.services import record_signals, risk_out
from sarafan.moderation.services import hold_or_reject
from sarafan.participants.models import Participant
from sarafan.participants.services import upsert_participant
from sarafan.projects.models import Project
from sarafan.referrals import services as referrals
from sarafan.referrals.models import Referral
from sarafan.referrals.services import EventContext
from sarafan.rewards.models import Reward, RewardStatus
from sarafan.rewards.rules import apply_rules
from sarafan.rewards.services import BudgetContended, cancel_reward

from .models import Event, EventType, Invite, Order, OrderStatus
from .refunds import check_refund_rate
from .schemas import CustomerIn, EventIn, OrderIn

logger = logging.getLogger("sarafan.tracking")
FUTURE_TOLERANCE = timedelta(days=1)
# The reason a paid order of 0.00 earns nothing, shown in the answer's fraud.reasons.
ZERO_AMOUNT = "order_amount_zero"


def _occurred_at(data: EventIn) -> datetime:
    if data.occurred_at is None:
        return timezone.now()
    if timezone.is_naive(data.occurred_at):
        raise InvalidRequest("occurred_at must include a time zone offset.", param="occurred_at")
    if data.occurred_at > timezone.now() + FUTURE_TOLERANCE:
        raise InvalidRequest("occurred_at is in the future.", param="occurred_at")
    return data.occurred_at


def _campaign(project: Project, livemode: bool, public_id: str | None) -> Campaign | None:
    return find_campaign(project=project, livemode=livemode, public_id=public_id)


def _customer(project: Project, livemode: bool, customer: CustomerIn | None) -> Participant:
    if customer is None:
        raise InvalidRequest("This event needs 'customer'.", param="customer")
    participant, _ = upsert_participant(
        project=project,
        livemode=livemode,
        external_id=customer.external_id,
        email=customer.email,
        phone=customer.phone,
        name=customer.name,
        attributes=customer.attributes,
        tags=customer.tags,
        consent=customer.consent,
        # Locking the customer serializes their events, so "first order" is decided once.
        lock=True,
        record_contacts=False,  # _context records them with the event's other signals
    )
    return participant


def reward_out(reward: Reward, recipient_external_id: str) -> dict[str, Any]:
    return {
        "id": reward.public_id,
        "recipient": recipient_external_id,
        "amount": money_str(reward.amount),
        "currency": reward.currency,
        "status": reward.status,
        "available_at": reward.available_at.isoformat(),
    }


def referral_summary(referral: Referral | None) -> dict[str, Any] | None:
    if referral is None:
        return None
    return {
        "id": referral.public_id,
        "referrer": referral.referrer.external_id,
        "referee": referral.referee.external_id,
        "status": referral.status,
        "channel": referral.channel,
    }


def _fraud(referral: Referral | None, extra_reasons: list[str]) -> dict[str, Any]:
    """API.md's `fraud` object: the referral's risk plus why rewards were not created."""
    reasons = list(referral.risk_reasons) if referral is not None else []
    reasons += [reason for reason in extra_reasons if reason not in reasons]
    if referral is None:
        return risk_out(0.0, "allow", reasons, {})
    return risk_out(referral.risk_score, referral.risk_decision, reasons, referral.risk_details)


def _finish(
    event: Event,
    *,
    referral: Referral | None,
    rewards: list[Reward],
    reasons: list[str],
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Build the API answer, store it on the event (replays return it), and return it."""
    names = {}
    if referral is not None:
        names = {
            referral.referrer_id: referral.referrer.external_id,
            referral.referee_id: referral.referee.external_id,
        }
    response: dict[str, Any] = {
        "id": event.public_id,
        "object": "event",
        "type": event.type,
        "livemode": event.livemode,
        "occurred_at": event.occurred_at.isoformat(),
        "customer": event.participant.external_id if event.participant else None,
        **(extra or {}),
        "referral": referral_summary(referral),
        "rewards": [reward_out(r, names.get(r.recipient_id, "")) for r in rewards],
        "fraud": _fraud(referral, reasons),
    }
    event.referral = referral
    event.response = response
    # created_at names the event's partition on PostgreSQL (tracking_event is partitioned by
    # month), so the UPDATE looks in one partition instead of probing every month's index.
    Event.objects.filter(pk=event.pk, created_at=event.created_at).update(
        referral=referral, response=response
    )
    return response


# Personal data lives on the participant (where erasure reaches it), never in event payloads.
_PAYLOAD_EXCLUDE: Any = {
    "customer": {"email", "phone", "name", "attributes", "tags", "consent"},
    "context": {"ip", "user_agent", "card_fingerprint", "referer"},
    "invitee": True,
}


def _context(
    project: Project,
    livemode: bool,
    data: EventIn,
    customer: Participant,
    *,
    ordered_at: datetime | None = None,
) -> EventContext:
    """The event's identity signals, remembered for the customer, for the fraud checks."""
    context = data.context
    identity = Identity(
        email=customer.email or None,
        phone=customer.phone or None,
        device_id=context.device_id,
        visitor_id=context.visitor_id,
        card_fingerprint=context.card_fingerprint,
        ip=context.ip,
        user_agent=context.user_agent,
    )
    signals = record_signals(
        project_id=project.pk, livemode=livemode, participant=customer, identity=identity
    )
    return EventContext(identity=identity, signals=signals, ordered_at=ordered_at)


def _new_event(
    project: Project, livemode: bool, data: EventIn, occurred_at: datetime, **fields: Any
) -> Event:
    return Event.objects.create(
        project=project,
        livemode=livemode,
        type=data.type,
        occurred_at=occurred_at,
        payload=data.model_dump(mode="json", exclude_none=True, exclude=_PAYLOAD_EXCLUDE),
        **fields,
    )


def _attribute(
    project: Project,
    livemode: bool,
    data: EventIn,
    customer: Participant,
    campaign: Campaign | None,
    context: EventContext,
    *,
    qualifies: bool = False,
) -> referrals.Attribution:
    attribution = referrals.attribute(
        project=project,
        livemode=livemode,
        customer=customer,
        campaign=campaign,
        code=data.referral_code,
        visitor_id=data.context.visitor_id or "",
        was_customer=customer.paid_orders > 0,
        context=context,
        qualifies=qualifies,
    )
    escalation = attribution.escalation
    if escalation is not None and attribution.referral is not None:
        # In the event's transaction, before the rules run: no reward of a case new
        # evidence holds or rejects is granted in between.
        hold_or_reject(attribution.referral, escalation.status, reasons=escalation.reasons)
    return attribution


def _signup(
    project: Project, livemode: bool, data: EventIn, *, exact: bool = False
) -> tuple[int, dict[str, Any]]:
    occurred_at = _occurred_at(data)
    campaign = _campaign(project, livemode, data.campaign)
    with events.atomic():
        customer = _customer(project, livemode, data.customer)
        context = _context(project, livemode, data, customer)
        attribution = _attribute(project, livemode, data, customer, campaign, context)
        event = _new_event(
            project, livemode, data, occurred_at, participant=customer, signals=context.signals
        )
        rewards, reasons = apply_rules(
            project=project,
            referral=attribution.referral,
            trigger="signup",
            order_id=None,
            order_amount=None,
            occurred_at=occurred_at,
            fresh=attribution.created,
            exact=exact,
            known=attribution.terms,
        )
        response = _finish(
            event,
            referral=attribution.referral,
            rewards=rewards,
            reasons=attribution.reasons + reasons,
        )
    return 201, response


def _order(
    project: Project, livemode: bool, data: EventIn, *, exact: bool = False
) -> tuple[int, dict[str, Any]]:
    if data.order is None:
        raise InvalidRequest("An order event needs 'order'.", param="order")
    if data.order.status == "paid" and data.order.amount is None:
        raise InvalidRequest("A paid order needs 'order.amount'.", param="order.amount")
    occurred_at = _occurred_at(data)
    campaign = _campaign(project, livemode, data.campaign)
    try:
        return _record_order(
            project, livemode, data, data.order, occurred_at, campaign, exact=exact
        )
    except IntegrityError:
        # The same order id arrived for another customer at the same moment: the Order
        # row's unique constraint let the first one in, and this one gets its answer.
        first = _previous_answer(project, livemode, data.order.id)
        if first is None:
            raise
        return 200, first


def _record_order(
    project: Project,
    livemode: bool,
    data: EventIn,
    order_in: OrderIn,
    occurred_at: datetime,
    campaign: Campaign | None,
    *,
    exact: bool,
) -> tuple[int, dict[str, Any]]:
    with events.atomic():
        customer = _customer(project, livemode, data.customer)
        previous = _previous_answer(project, livemode, order_in.id)
        if previous is not None:
            return 200, previous
        paid_first = order_in.status == "paid" and customer.paid_orders == 0
        context = _context(
            project, livemode, data, customer, ordered_at=occurred_at if paid_first else None
        )
        # A referral made by the first paid order is written qualified (one write, not two).
        qualifies = paid_first and bool(order_in.amount)
        attribution = _attribute(
            project, livemode, data, customer, campaign, context, qualifies=qualifies
        )
        referral = attribution.referral
        terms = attribution.terms
        if referral is not None and terms is None:
            terms = campaign_terms(referral.campaign_id)
        # Raising rolls back the customer, the signals and a referral made just now.
        currency = _order_currency(order_in, referral, terms, campaign)
        event = _new_event(
            project,
            livemode,
            data,
            occurred_at,
            participant=customer,
            signals=context.signals,
            order_id=order_in.id,
            amount=order_in.amount,
            currency=currency,
            channel=referral.channel if referral else "",
        )
        if order_in.status != "paid":
            response = _finish(event, referral=referral, rewards=[], reasons=attribution.reasons)
            return 201, response
        if not order_in.amount:
            # A paid order must be positive to count: a 0.00 order is recorded, but it is not
            # the customer's first (or any) purchase and earns nothing.
            response = _finish(
                event,
                referral=referral,
                rewards=[],
                reasons=[*attribution.reasons, ZERO_AMOUNT],
                extra={
                    "order": {
                        "id": order_in.id,
                        "amount": money_str(order_in.amount),
                        "currency": currency,
                        "first": False,
                        "qualifies": False,
                    }
                },
            )
            return 201, response
        is_first = customer.paid_orders == 0
        # Without a savepoint: a duplicate order id fails the whole transaction (see _order).
        order = Order.objects.create(
            project=project,
            livemode=livemode,
            order_id=order_in.id,
            event=event,
            participant=customer,
            referral=referral,
            amount=order_in.amount,
            currency=currency,
            is_first=is_first,
            occurred_at=occurred_at,
        )
        Participant.objects.filter(pk=customer.pk).update(
            paid_orders=F("paid_orders") + 1,
            first_order_at=customer.first_order_at or occurred_at,
        )
        _announce_order(order, "order.paid", customer=customer.external_id)
        if referral is not None and is_first:
            referrals.qualify(referral)
        trigger = "first_order" if is_first else "repeat_order"
        rewards, reasons = apply_rules(
            project=project,
            referral=referral,
            trigger=trigger,
            order_id=order.pk,
            order_amount=order.amount,
            occurred_at=occurred_at,
            fresh=True,
            exact=exact,
            known=terms,
        )
        response = _finish(
            event,
            referral=referral,
            rewards=rewards,
            reasons=attribution.reasons + reasons,
            extra={
                "order": {
                    "id": order.order_id,
                    "amount": money_str(order.amount),
                    "currency": order.currency,
                    "first": is_first,
                    "qualifies": True,
                }
            },
        )
    return 201, response


def _announce_order(order: Order, type: str, *, customer: str) -> None:
    """Publish an order event (sarafan.events) inside the order's transaction."""
    payload = {
        "order": order.order_id,
        "customer": customer,
        "amount": money_str(order.amount),
        "currency": order.currency,
        "first": order.is_first,
        "referral": order.referral.public_id if order.referral is not None else None,
    }
    events.publish(order.project_id, order.livemode, type, payload)


def _order_currency(
    order_in: OrderIn,
    referral: Referral | None,
    terms: CampaignTerms | None,
    named: Campaign | None,
) -> str:
    """The order's currency, which must be that of the campaign it is judged by.

    That campaign is the referral's, else the one the event names. There is no conversion
    table: an amount in another currency is refused rather than compared as if it were the
    campaign's (1 000 IDR is not 1 000 RUB). An order without currency takes the campaign's.
    """
    campaign = terms.campaign if terms is not None and referral is not None else named
    if campaign is None:
        return order_in.currency or DEFAULT_CURRENCY
    expected = campaign.currency
    currency = order_in.currency or expected
    if currency != expected:
        raise InvalidRequest(
            f"The order is in {currency}, but campaign '{campaign.public_id}' pays in "
            f"{expected}; send orders in {expected} (amounts are not converted).",
            code="currency_mismatch",
            param="order.currency",
        )
    return currency


def _previous_answer(project: Project, livemode: bool, order_id: str) -> dict[str, Any] | None:
    """The answer given to the first copy of this paid order, if there was one."""
    response: dict[str, Any] | None = (
        Order.objects.filter(project=project, livemode=livemode, order_id=order_id)
        .values_list("event__response", flat=True)
        .first()
    )
    return response


def _refund(project: Project, livemode: bool, data: EventIn) -> tuple[int, dict[str, Any]]:
    if data.order is None:
        raise InvalidRequest("A refund needs 'order.id'.", param="order")
    occurred_at = _occurred_at(data)
    with events.atomic():
        order = (
            Order.objects.select_for_update(of=("self",), no_key=True)
            .select_related(
                "participant", "referral__referrer", "referral__referee", "referral__campaign"
            )
            .filter(project=project, livemode=livemode, order_id=data.order.id)
            .first()
        )
        if order is None:
            raise NotFound(f"No paid order '{data.order.id}'.", param="order.id")
        if order.status == OrderStatus.REFUNDED:
            earlier = (
                Event.objects.filter(
                    project=project,
                    livemode=livemode,
                    type=EventType.REFUND,
                    order_id=order.order_id,
                )
                .order_by("id")
                .first()
            )
            if earlier is not None:
                return 200, earlier.response
        order.status = OrderStatus.REFUNDED
        order.refunded_at = occurred_at
        order.save(update_fields=["status", "refunded_at"])
        _announce_order(order, "order.refunded", customer=order.participant.external_id)
        event = _new_event(
            project,
            livemode,
            data,
            occurred_at,
            participant=order.participant,
            order_id=order.order_id,
            amount=order.amount,
            currency=order.currency,
        )
        cancelled: list[Reward] = []
        clawed_back = Decimal(0)
        for reward in Reward.objects.filter(order=order).order_by("pk"):
            if reward.status in {
                RewardStatus.REDEEMED,
                RewardStatus.REJECTED,
                RewardStatus.CANCELLED,
                RewardStatus.EXPIRED,
            }:
                continue
            clawed_back += cancel_reward(
                reward=reward, actor="system", note=f"refund of order {order.order_id}"
            )
            reward.refresh_from_db(fields=["status"])
            cancelled.append(reward)
        if order.referral is not None:
            check_refund_rate(order.referral)
        response = _finish(
            event,
            referral=order.referral,
            rewards=cancelled,
            reasons=[],
            extra={
                "order": {"id": order.order_id, "status": order.status},
                "clawed_back": money_str(clawed_back),
            },
        )
    return 201, response


def _share(project: Project, livemode: bool, data: EventIn) -> tuple[int, dict[str, Any]]:
    if not data.participant:
        raise InvalidRequest(
            "A share needs 'participant' (the sharer's external_id).", param="participant"
        )
    occurred_at = _occurred_at(data)
    sharer = Participant.objects.filter(
        project=project, livemode=livemode, external_id=data.participant
    ).first()
    if sharer is None:
        raise NotFound(f"No participant '{data.participant}'.", param="participant")
    channel = (data.channel or "link").strip().lower()
    with transaction.atomic():
        event = _new_event(
            project, livemode, data, occurred_at, participant=sharer, channel=channel
        )
        if data.invitee is not None:
            if "@" not in data.invitee.email:
                raise InvalidRequest(
                    "invitee.email is not an e-mail address.", param="invitee.email"
                )
            Invite.objects.create(
                project=project,
                livemode=livemode,
                referrer=sharer,
                email_hash=referrals.email_hash(data.invitee.email),
                channel=channel,
            )
        response = _finish(event, referral=None, rewards=[], reasons=[], extra={"channel": channel})
    return 201, response


def record_event(*, project: Project, livemode: bool, data: EventIn) -> tuple[int, dict[str, Any]]:
    """Accept one event; returns the HTTP status (201 new, 200 an order already seen) and body."""
    if data.type == EventType.SIGNUP:
        handler = _signup
    elif data.type == EventType.ORDER:
        handler = _order
    elif data.type == EventType.REFUND:
        return _refund(project, livemode, data)
    elif data.type == EventType.SHARE:
        return _share(project, livemode, data)
    else:
        raise InvalidRequest(
            "Lead events arrive with the B2B lead pipeline; it is not enabled yet.",
            code="unsupported_event_type",
            param="type",
        )
    try:
        return handler(project, livemode, data)
    except BudgetContended:
        # The campaign's budget or max rewards is nearly used up: everything this event
        # wrote was rolled back, and it runs again deciding reward by reward.
        return handler(project, livemode, data, exact=True)


def record_batch(
    *, project: Project, livemode: bool, items: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Accept up to 1000 events in order; each answer is the event's body or its own error.

    Each item is checked and recorded on its own, in a savepoint: an item that is refused,
    or that fails in a way nobody foresaw, leaves the items before it committed and the
    ones after it processed, and answers an `error` in its place instead of ending the batch.
    """
    results: list[dict[str, Any]] = []
    for index, item in enumerate(items):
        try:
            with transaction.atomic():
                data = EventIn.model_validate(item)
                _, body = record_event(project=project, livemode=livemode, data=data)
        except PydanticError as exc:
            body = validation_error([dict(e) for e in exc.errors()])[1]
        except SarafanError as exc:
            body = exc.as_body()
        except Exception:
            logger.exception("batch item %d of project %s failed", index, project.public_id)
            body = error_body(
                "server", "server_error", "This event could not be recorded; it was logged."
            )
        results.append(body)
    return results
