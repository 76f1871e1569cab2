"""Rows for the console tests, made with the models directly (the console only reads them).

A chain's brand, pool and codes are made by rewards.pools, as the console makes them; its
issuer, delivery and reward (with the brand) directly.

The anti-fraud rows of a chain (a decision, an alert, a block list entry, a campaign's
stop-rule, a flagged signal) are here so that the page smoke tests open their pages too;
cases that moderators decide are made through the API in test_moderation.py.
"""

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from django.contrib.auth.models import Group, User
from django.utils import timezone

from sarafan.alerts.models import Alert
from sarafan.campaigns.models import Campaign, RewardRule
from sarafan.core.crypto import encrypt
from sarafan.fraud.models import BlockRule, FlaggedSignal, StopRule
from sarafan.links.models import Click, Link
from sarafan.moderation.models import Decision
from sarafan.participants.models import Participant
from sarafan.projects.models import Project
from sarafan.projects.services import create_project
from sarafan.referrals.models import Referral, ReferralEvent
from sarafan.rewards import pools
from sarafan.rewards.models import (
    Brand,
    Certificate,
    CertificatePool,
    Delivery,
    Issuer,
    Redemption,
    Reward,
    RewardEvent,
)
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
    decision: Decision
    alert: Alert
    block: BlockRule
    stop_rule: StopRule
    flagged: FlaggedSignal
    brand: Brand
    pool: CertificatePool
    batch: str
    issuer: Issuer
    delivery: Delivery


def make_chain(
    n: int, *, project: Project | None = None, livemode: bool = False, status: str = "issued"
) -> Chain:
    """The n-th chain; every unique value carries n so chains can be told apart."""
    if project is None:
        project, _keys = create_project(name=f"Магазин {n}")
    scope = {"project": project, "livemode": livemode}
    now = timezone.now()
    brand = pools.create_brand(**scope, name=f"Лента {n}", logo_url="https://shop.example/logo.png")
    pool = pools.create_pool(brand=brand, denomination=Decimal("1000.00"), low_stock_threshold=2)
    # Three codes, two left after one is handed out: the pool is low on stock.
    codes = "".join(f"GIFT-{i}-{n:04d},{i}{n:05d},1000.00,\n" for i in range(3))
    batch = pools.upload_codes(
        pool=pool, csv_text=f"code,pin,nominal,expiry\n{codes}", dry_run=False
    )
    pools.allocate_code(pool=pool)
    issuer = Issuer.objects.create(
        **scope,
        name=f"Шлюз подарков {n}",
        url=f"https://issuer{n}.example/api",
        token_encrypted=encrypt(f"token-{n}"),
        brand=brand,
    )
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
    )
    referee = Participant.objects.create(
        **scope,
        external_id=f"friend-{n}",
        email=f"boris{n}@example.ru",
        name=f"Борис {n}",
        referral_code=f"RF{n:06d}",
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
        brand=brand,
    )
    RewardEvent.objects.create(reward=reward, from_status="approved", to_status=status)
    certificate = Certificate(
        **scope,
        reward=reward,
        brand="Sarafan",
        amount=Decimal("500.00"),
        balance=Decimal("300.00"),
        expires_at=now + timedelta(days=365),
    )
    certificate.keep_own_code(f"SF-TEST-{n:04d}", f"{n:06d}")
    certificate.save()
    redemption = Redemption.objects.create(
        certificate=certificate,
        order_id=f"second-order-{n}",
        amount=Decimal("200.00"),
        balance_after=Decimal("300.00"),
    )
    delivery = Delivery.objects.create(
        **scope,
        reward=reward,
        kind="certificate",
        to=referrer.email,
        language="ru",
        status="sent",
    )
    user = User.objects.create_user(username=f"marketer{n}", email=f"marketer{n}@example.ru")
    group = Group.objects.create(name=f"Маркетологи {n}")
    user.groups.add(group)
    task = release_due_rewards.enqueue()
    decision = Decision.objects.create(
        **scope,
        referral=referral,
        action="approve",
        actor=f"moderator{n}",
        reason=f"знакомый клиент {n}",
    )
    stop_rule = StopRule.objects.create(
        **scope,
        campaign=campaign,
        kind="velocity_ip",
        threshold=Decimal(5),
        window_minutes=60,
        actions=["alert", "hold"],
    )
    alert = Alert.objects.create(
        **scope,
        campaign=campaign,
        rule=stop_rule,
        kind="fraud.review_required",
        subject=f"velocity_ip:{n}",
        message=f"Стоп-правило «клиенты с одного IP» сработало: {n + 5}",
        data={"rule": stop_rule.public_id, "value": str(n + 5)},
    )
    block = BlockRule.objects.create(
        **scope, kind="email_domain", value=f"spam{n}.example", note=f"спам-домен {n}"
    )
    flagged = FlaggedSignal.objects.create(
        **scope,
        kind="device",
        value_hash=f"{n:064x}",
        participant=referrer,
        reason=f"ферма аккаунтов {n}",
        created_by="director",
    )
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
        decision=decision,
        alert=alert,
        block=block,
        stop_rule=stop_rule,
        flagged=flagged,
        brand=brand,
        pool=pool,
        batch=batch["batch"],
        issuer=issuer,
        delivery=delivery,
    )


# The fulfilment pages as test_pages.PAGES lists the others.
FULFILMENT_PAGES = {
    "rewards.brand": (
        lambda c: {"q": c.brand.name, "livemode__exact": "0", "project__id__exact": c.project.pk},
        lambda c: c.brand.public_id,
        lambda c: c.brand,
    ),
    "rewards.certificatepool": (
        lambda c: {"q": c.pool.public_id, "livemode__exact": "0", "brand__id__exact": c.brand.pk},
        lambda c: c.pool.public_id,
        lambda c: c.pool,
    ),
    "rewards.poolcode": (
        lambda c: {"q": c.batch, "pool": c.pool.pk, "status__exact": "available"},
        lambda c: c.batch,
        lambda c: c.pool.codes.filter(status="available").first(),
    ),
    "rewards.issuer": (
        lambda c: {"q": c.issuer.name, "livemode__exact": "0", "project__id__exact": c.project.pk},
        lambda c: c.issuer.name,
        lambda c: c.issuer,
    ),
    "rewards.delivery": (
        lambda c: {
            "q": c.reward.public_id,
            "status__exact": "sent",
            "kind__exact": "certificate",
            "livemode__exact": "0",
        },
        lambda c: c.delivery.to,
        lambda c: c.delivery,
    ),
}


# The anti-fraud pages as test_pages.PAGES lists the others: (query that must find the
# row, text of the row, object to open).
FRAUD_PAGES = {
    "alerts.alert": (
        lambda c: {
            "q": c.alert.public_id,
            "acknowledged": "no",
            "kind": "fraud.review_required",
            "livemode__exact": "0",
        },
        lambda c: c.alert.message,
        lambda c: c.alert,
    ),
    "fraud.blockrule": (
        lambda c: {
            "q": c.block.value,
            "kind__exact": "email_domain",
            "livemode__exact": "0",
            "project__id__exact": c.project.pk,
        },
        lambda c: c.block.value,
        lambda c: c.block,
    ),
    "moderation.decision": (
        lambda c: {
            "q": c.referral.public_id,
            "action__exact": "approve",
            "reversed": "no",
            "livemode__exact": "0",
        },
        lambda c: c.decision.public_id,
        lambda c: c.decision,
    ),
    "fraud.flaggedsignal": (
        lambda c: {"q": c.referrer.external_id, "kind__exact": "device", "livemode__exact": "0"},
        lambda c: c.flagged.reason,
        lambda c: c.flagged,
    ),
    "fraud.stoprule": (
        lambda c: {
            "q": c.stop_rule.public_id,
            "kind__exact": "velocity_ip",
            "enabled__exact": "1",
            "livemode__exact": "0",
        },
        lambda c: c.campaign.name,
        lambda c: c.stop_rule,
    ),
}
