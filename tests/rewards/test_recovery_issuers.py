"""External-issuer work lost to a crash is picked up by resume_waiting, against a real local
provider: an attempt whose enqueue was lost, and one whose worker died mid-call.

Here the issuer task of the reward fixture is never enqueued (on-commit callbacks do not
run inside the test's transaction): the reward starts as one whose enqueue was lost.
"""

from datetime import timedelta

import pytest
from django.utils import timezone

from sarafan.rewards import external, issuer_client, waiting
from sarafan.rewards.models import Reward
from sarafan.rewards.tasks import issue_with_issuer
from tests.rewards.test_issuer_rewards import _pk, issuer, queued_attempts, reward_id

__all__ = ["issuer", "reward_id"]
pytestmark = pytest.mark.django_db


def test_an_issuer_attempt_whose_enqueue_was_lost_is_queued_by_the_sweep(api, reward_id, provider):
    assert queued_attempts(reward_id) == 0

    waiting.resume_waiting()

    assert queued_attempts(reward_id) == 1
    assert issue_with_issuer.call(_pk(reward_id)) == "issued"
    assert provider.issue_count[reward_id] == 1


def test_an_issuer_attempt_whose_worker_died_is_made_again_after_its_lease(
    api, reward_id, provider, issuer
):
    reward = Reward.objects.select_related("recipient").get(public_id=reward_id)
    # What the dead worker did: it claimed the attempt (a lease) and its request reached
    # the provider, which issued the certificate; the answer was never recorded.
    Reward.objects.filter(pk=reward.pk).update(
        attempts=1, next_attempt_at=timezone.now() + external.ISSUER_LEASE
    )
    issuer_client.issue(
        issuer,
        reference=reward_id,
        amount=reward.amount,
        currency=reward.currency,
        brand="",
        recipient_email=reward.recipient.email,
        recipient_name=reward.recipient.name,
    )

    waiting.resume_waiting()
    assert queued_attempts(reward_id) == 0  # the lease holds: the worker may still answer
    Reward.objects.filter(pk=reward.pk).update(
        next_attempt_at=timezone.now() - timedelta(minutes=1)
    )
    waiting.resume_waiting()
    assert queued_attempts(reward_id) == 1

    assert issue_with_issuer.call(reward.pk) == "issued"
    # The provider saw the reward's id as the idempotency key: the same certificate.
    assert provider.issue_count[reward_id] == 1
    assert (
        api.get(f"rewards/{reward_id}").json()["certificate"]["code"]
        == (provider.issued[reward_id]["code"])
    )
