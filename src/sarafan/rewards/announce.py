"""The reward events this app publishes to the outbox (sarafan.events), one call each."""

from collections.abc import Sequence

from sarafan.core.money import money_str
from sarafan.events.outbox import publish
from sarafan.participants.models import Participant

from .models import Certificate, CertificatePool, Redemption, Reward, RewardStatus

# The status moves announced as `reward.<status>` (issue is announced with its certificate).
ANNOUNCED = {RewardStatus.APPROVED, RewardStatus.CANCELLED}


def _reward(reward: Reward) -> dict[str, str]:
    return {
        "reward": reward.public_id,
        "status": reward.status,
        "amount": money_str(reward.amount),
        "currency": reward.currency,
    }


def reward_created(reward: Reward) -> None:
    """A new reward (already approved when it has no hold: both are announced)."""
    publish(reward.project_id, reward.livemode, "reward.created", _reward(reward))
    if reward.status == RewardStatus.APPROVED:
        publish(reward.project_id, reward.livemode, "reward.approved", _reward(reward))


def reward_moved(reward: Reward) -> None:
    if reward.status in ANNOUNCED:
        publish(reward.project_id, reward.livemode, f"reward.{reward.status}", _reward(reward))


def reward_issued(reward: Reward, certificate: Certificate, banked: Sequence[Reward]) -> None:
    """Issued with its certificate (and the banked rewards paid inside it)."""
    payload = {
        **_reward(reward),
        "certificate": certificate.public_id,
        "kind": certificate.kind,
        "banked": [member.public_id for member in banked],
    }
    publish(reward.project_id, reward.livemode, "reward.issued", payload)


def certificate_redeemed(certificate: Certificate, redemption: Redemption) -> None:
    payload = {
        "certificate": certificate.public_id,
        "order": redemption.order_id,
        "amount": money_str(redemption.amount),
        "balance": money_str(redemption.balance_after),
        "currency": certificate.currency,
        "status": certificate.status,
    }
    publish(certificate.project_id, certificate.livemode, "certificate.redeemed", payload)


def pool_refilled(pool: CertificatePool, added: int) -> None:
    """Codes arrived: the rewards waiting for them are resumed by a handler."""
    if added:
        payload = {"pool": pool.public_id, "added": added}
        publish(pool.project_id, pool.livemode, "pool.refilled", payload)


def tax_details_recorded(participant: Participant, held: int) -> None:
    """A person's tax details arrived: the rewards held for them are resumed by a handler.
    Internal (no webhook consumer is told of it): the payload names the person, never the
    details."""
    payload = {"participant": participant.public_id, "held": held}
    publish(
        participant.project_id, participant.livemode, "participant.tax_details_recorded", payload
    )
