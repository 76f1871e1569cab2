"""Rows for the console tests, made with the models directly (the console only reads them)."""

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from django.contrib.auth.models import Group, User
from django.utils import timezone

from sarafan.campaigns.models import Campaign, RewardRule
from sarafan.links.models import Click, Link
from sarafan.participants.models import Participant
from sarafan.projects.models import Project
from sarafan.projects.services import create_project
from sarafan.referrals.models import Referral, ReferralEvent
from sarafan.rewards.models import Certificate, Redemption, Reward, RewardEvent
from sarafan.rewards.tasks import release_due_rewards
from sarafan.tracking.models import Event, Order


@dataclass
class Chain:
    """One referral from click to redeemed certificate, and everything it touched."""

    n: int
    project: Project
    campaign: Campaign
    referrer: Participant
    referee: Participant
    link: Link
    click: Click
    event: Event
    order: Order
    referral: Referral
    reward: Reward
    certificate: Certificate
    redemption: Redemption
    user: User
    group: Group
    task_id: str


def make_chain(
    n: int, *, project: Project | None = None, livemode: bool = False, status: str = "issued"
) -> Chain:
    """The n-th chain; every unique value carries n so chains can be told apart."""
    if project is None:
        project, _keys = create_project(name=f"Магазин {n}")
    scope = {"project": project, "livemode": livemode}
    now = timezone.now()
    campaign = Campaign.objects.create(
        **scope,
        name=f"Приведи друга {n}",
        landing_url="https://shop.example/welcome",
        allowed_redirect_hosts=["shop.example"],
    )
    RewardRule.objects.create(
        campaign=campaign, recipient="referrer", trigger="first_order", kind="fixed", amount=500
    )
    referrer = Participant.objects.create(
        **scope,
        external_id=f"u-{n}",
        email=f"anna{n}@example.ru",
        name=f"Анна {n}",
        referral_code=f"RC{n:06d}",
        portal_token=f"portal-{n}",
    )
    referee = Participant.objects.create(
        **scope,
        external_id=f"friend-{n}",
        email=f"boris{n}@example.ru",
        name=f"Борис {n}",
        referral_code=f"RF{n:06d}",
        portal_token=f"portal-friend-{n}",
        paid_orders=1,
        first_order_at=now,
    )
    link = Link.objects.create(
        **scope,
        participant=referrer,
        campaign=campaign,
        code=referrer.referral_code,
        channel="link",
        is_primary=True,
    )
    click = Click.objects.create(
        **scope,
        link=link,
        participant=referrer,
        campaign=campaign,
        channel="link",
        visitor_id=f"visitor-{n}",
        utm={"utm_source": "telegram"},
    )
    referral = Referral.objects.create(
        **scope,
        campaign=campaign,
        referrer=referrer,
        referee=referee,
        link=link,
        channel="link",
        source="click",
        status="qualified",
        risk_score=0.5,
        risk_decision="review",
        risk_reasons=["self_referral_phone"],
    )
    ReferralEvent.objects.create(referral=referral, kind="attributed", data={"source": "click"})
    event = Event.objects.create(
        **scope,
        type="order",
        participant=referee,
        referral=referral,
        channel="link",
        order_id=f"order-{n}",
        amount=Decimal("4990.00"),
        payload={"type": "order"},
        occurred_at=now,
    )
    order = Order.objects.create(
        **scope,
        order_id=f"order-{n}",
        event=event,
        participant=referee,
        referral=referral,
        amount=Decimal("4990.00"),
        is_first=True,
        occurred_at=now,
    )
    reward = Reward.objects.create(
        **scope,
        campaign=campaign,
        referral=referral,
        recipient=referrer,
        order=order,
        trigger="first_order",
        amount=Decimal("500.00"),
        status=status,
        available_at=now,
        dedupe_key=f"reward-{n}",
    )
    RewardEvent.objects.create(reward=reward, from_status="approved", to_status=status)
    certificate = Certificate.objects.create(
        **scope,
        reward=reward,
        code=f"SF-TEST-{n:04d}",
        pin=f"{n:06d}",
        brand="Sarafan",
        amount=Decimal("500.00"),
        balance=Decimal("300.00"),
        expires_at=now + timedelta(days=365),
    )
    redemption = Redemption.objects.create(
        certificate=certificate,
        order_id=f"second-order-{n}",
        amount=Decimal("200.00"),
        balance_after=Decimal("300.00"),
    )
    user = User.objects.create_user(username=f"marketer{n}", email=f"marketer{n}@example.ru")
    group = Group.objects.create(name=f"Маркетологи {n}")
    user.groups.add(group)
    task = release_due_rewards.enqueue()
    return Chain(
        n=n,
        project=project,
        campaign=campaign,
        referrer=referrer,
        referee=referee,
        link=link,
        click=click,
        event=event,
        order=order,
        referral=referral,
        reward=reward,
        certificate=certificate,
        redemption=redemption,
        user=user,
        group=group,
        task_id=str(task.id),
    )
