"""Event ingestion: signup, order, refund and share, each in one transaction.

A paid order is identified by its order id: the Order row's unique constraint makes the
second copy of an order (sent twice, or at the same moment on two servers) find the first
one's answer instead of rewarding again.
"""

import logging
from collections.abc import Callable
from dataclasses import replace
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
from sarafan.fraud.services import record_signals
from sarafan.moderation.services import hold_or_reject
from sarafan.participants.models import Participant
from sarafan.participants.services import upsert_participant
from sarafan.projects.models import Project
from sarafan.referrals import services as referrals
from sarafan.referrals.models import Referral
from sarafan.referrals.services import EventContext
from sarafan.rewards.errors import RewardError
from sarafan.rewards.models import Reward, RewardStatus
from sarafan.rewards.rules import apply_rules
from sarafan.rewards.services import BudgetContended, cancel_reward

from .errors import EventError
from .models import Event, EventType, Order, OrderStatus
from .refunds import check_refund_rate
from .results import OrderFacts, Recorded, Repeated, Shape
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
    )  # the e-mail and phone are recorded as signals by _context, with the event's others
    return participant


def _finish(
    event: Event,
    shape: Shape,
    *,
    referral: Referral | None,
    rewards: list[Reward],
    reasons: list[str],
    order: OrderFacts | None = None,
    clawed_back: Decimal | None = None,
    channel: str | None = None,
) -> Recorded:
    """The event's result, with the answer `shape` makes of it stored on the event (a
    replay of the order answers it again)."""
    result = Recorded(
        event=event,
        referral=referral,
        rewards=tuple(rewards),
        reasons=tuple(reasons),
        order=order,
        clawed_back=clawed_back,
        channel=channel,
    )
    answer = shape(result)
    event.referral = referral
    event.response = answer
    # created_at names the event's partition on PostgreSQL (tracking_event is partitioned by
    # month), so the UPDATE looks in one partition instead of probing every month's index.
    Event.objects.filter(pk=event.pk, created_at=event.created_at).update(
        referral=referral, response=answer
    )
    return replace(result, answer=answer)


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
    project: Project, livemode: bool, data: EventIn, shape: Shape, *, exact: bool = False
) -> Recorded:
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
        return _finish(
            event,
            shape,
            referral=attribution.referral,
            rewards=rewards,
            reasons=attribution.reasons + reasons,
        )


def _order(
    project: Project, livemode: bool, data: EventIn, shape: Shape, *, exact: bool = False
) -> Recorded | Repeated:
    if data.order is None:
        raise InvalidRequest("An order event needs 'order'.", param="order")
    if data.order.status == "paid" and data.order.amount is None:
        raise InvalidRequest("A paid order needs 'order.amount'.", param="order.amount")
    occurred_at = _occurred_at(data)
    campaign = _campaign(project, livemode, data.campaign)
    try:
        return _record_order(
            project, livemode, data, data.order, occurred_at, campaign, shape, exact=exact
        )
    except IntegrityError:
        # The same order id arrived for another customer at the same moment: the Order
        # row's unique constraint let the first one in, and this one gets its answer.
        first = _previous_answer(project, livemode, data.order.id)
        if first is None:
            raise
        return Repeated(first)


def _record_order(
    project: Project,
    livemode: bool,
    data: EventIn,
    order_in: OrderIn,
    occurred_at: datetime,
    campaign: Campaign | None,
    shape: Shape,
    *,
    exact: bool,
) -> Recorded | Repeated:
    with events.atomic():
        customer = _customer(project, livemode, data.customer)
        previous = _previous_answer(project, livemode, order_in.id)
        if previous is not None:
            return Repeated(previous)
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
            return _finish(event, shape, referral=referral, rewards=[], reasons=attribution.reasons)
        if not order_in.amount:
            # A paid order must be positive to count: a 0.00 order is recorded, but it is not
            # the customer's first (or any) purchase and earns nothing.
            return _finish(
                event,
                shape,
                referral=referral,
                rewards=[],
                reasons=[*attribution.reasons, ZERO_AMOUNT],
                order=OrderFacts(
                    id=order_in.id,
                    amount=order_in.amount,
                    currency=currency,
                    first=False,
                    qualifies=False,
                ),
            )
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
        return _finish(
            event,
            shape,
            referral=referral,
            rewards=rewards,
            reasons=attribution.reasons + reasons,
            order=OrderFacts(
                id=order.order_id,
                amount=order.amount,
                currency=order.currency,
                first=is_first,
                qualifies=True,
            ),
        )


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
            code=RewardError.CURRENCY_MISMATCH,
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


def _refund(project: Project, livemode: bool, data: EventIn, shape: Shape) -> Recorded | Repeated:
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
                return Repeated(earlier.response)
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
        return _finish(
            event,
            shape,
            referral=order.referral,
            rewards=cancelled,
            reasons=[],
            order=OrderFacts(id=order.order_id, status=order.status),
            clawed_back=clawed_back,
        )


def _share(project: Project, livemode: bool, data: EventIn, shape: Shape) -> Recorded:
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
            referrals.record_invite(
                project=project,
                livemode=livemode,
                referrer=sharer,
                email=data.invitee.email,
                channel=channel,
            )
        return _finish(event, shape, referral=None, rewards=[], reasons=[], channel=channel)


def record_event(
    *, project: Project, livemode: bool, data: EventIn, shape: Shape
) -> Recorded | Repeated:
    """Accept one event: what it did (Recorded, with the answer `shape` made of it), or the
    first answer of an order or refund already accepted (Repeated)."""
    handler: Callable[..., Recorded | Repeated]
    if data.type == EventType.SIGNUP:
        handler = _signup
    elif data.type == EventType.ORDER:
        handler = _order
    elif data.type == EventType.REFUND:
        return _refund(project, livemode, data, shape)
    elif data.type == EventType.SHARE:
        return _share(project, livemode, data, shape)
    else:
        raise InvalidRequest(EventError.UNSUPPORTED_EVENT_TYPE, param="type")
    try:
        return handler(project, livemode, data, shape)
    except BudgetContended:
        # The campaign's budget or max rewards is nearly used up: everything this event
        # wrote was rolled back, and it runs again deciding reward by reward.
        return handler(project, livemode, data, shape, exact=True)


def record_batch(
    *, project: Project, livemode: bool, items: list[dict[str, Any]], shape: Shape
) -> list[Recorded | Repeated | dict[str, Any]]:
    """Accept up to 1000 events in order; each result is the event's (as record_event's) or
    its own error, in API.md's error shape.

    Each item is checked and recorded on its own, in a savepoint: an item that is refused,
    or that fails in a way nobody foresaw, leaves the items before it committed and the
    ones after it processed, and answers an `error` in its place instead of ending the batch.
    """
    results: list[Recorded | Repeated | dict[str, Any]] = []
    for index, item in enumerate(items):
        result: Recorded | Repeated | dict[str, Any]
        try:
            with transaction.atomic():
                data = EventIn.model_validate(item)
                result = record_event(project=project, livemode=livemode, data=data, shape=shape)
        except PydanticError as exc:
            result = validation_error([dict(e) for e in exc.errors()])[1]
        except SarafanError as exc:
            result = exc.as_body()
        except Exception:
            logger.exception("batch item %d of project %s failed", index, project.public_id)
            result = error_body(
                "server", "server_error", "This event could not be recorded; it was logged."
            )
        results.append(result)
    return results
