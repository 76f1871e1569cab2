"""Rewards paid by an external issuer, against a real local HTTP provider: issued once,
retried with backoff while it fails or times out, given up on visibly, the circuit
respected, and cancelled at the provider when the reward is cancelled."""

from datetime import timedelta

import pytest
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from sarafan.alerts.models import Alert
from sarafan.core.circuit import CIRCUIT_THRESHOLD
from sarafan.rewards import external, issuers, waiting
from sarafan.rewards.models import Certificate, Reward
from sarafan.rewards.tasks import issue_with_issuer
from tests.factories import create_campaign, create_referrer, order

pytestmark = pytest.mark.django_db
# An answer may take seconds on a loaded machine; the test of a timeout sets a short one.
TIMEOUT_SECONDS = 30

RULE = {
    "recipient": "referrer",
    "trigger": "first_order",
    "kind": "fixed",
    "amount": "750.00",
    "hold_days": 0,
}


@pytest.fixture
def issuer(project, provider):
    issuer = issuers.create_issuer(
        project=project,
        livemode=False,
        name="Gift provider",
        url=provider.url,
        token=provider.token,
        timeout_seconds=TIMEOUT_SECONDS,
        max_attempts=3,
    )
    return issuer


@pytest.fixture
def reward_id(api, issuer):
    create_campaign(api, rules=[RULE], reward_source={"type": "issuer", "issuer": issuer.public_id})
    code = create_referrer(api, "r-1")["referral_code"]
    response = order(api, "c-1", "o-1", code=code)
    assert response.status_code == 201, response.content
    return response.json()["rewards"][0]["id"]


def test_a_new_reward_waiting_for_the_issuer_has_its_attempt_queued_at_once(
    api, issuer, django_capture_on_commit_callbacks
):
    # Before, the attempt was queued with the id the new reward did not have yet (None),
    # and only the 30 s sweep found it.
    create_campaign(api, rules=[RULE], reward_source={"type": "issuer", "issuer": issuer.public_id})
    code = create_referrer(api, "r-1")["referral_code"]
    with django_capture_on_commit_callbacks(execute=True):
        response = order(api, "c-1", "o-1", code=code)
    reward_id = response.json()["rewards"][0]["id"]
    assert queued_attempts(reward_id) == 1
    assert not DBTaskResult.objects.filter(
        task_path=issue_with_issuer.module_path, args_kwargs__args=[None]
    ).exists()


def _reward(api, reward_id):
    return api.get(f"rewards/{reward_id}").json()


def _pk(reward_id):
    return Reward.objects.get(public_id=reward_id).pk


def queued_attempts(reward_id):
    """Issuer attempts for the reward waiting in the task queue."""
    return DBTaskResult.objects.filter(
        task_path=issue_with_issuer.module_path, args_kwargs__args=[_pk(reward_id)]
    ).count()


def _due(reward_id):
    Reward.objects.filter(public_id=reward_id).update(next_attempt_at=timezone.now())


def test_the_reward_waits_for_the_issuer_then_gets_its_certificate(api, reward_id, provider):
    waiting = _reward(api, reward_id)
    assert waiting["status"] == "approved"
    assert waiting["waiting"]["reason"] == "issuer"
    # The event's transaction made no HTTP call.
    assert provider.requests == []

    assert external.attempt_issuer(_pk(reward_id)) == "issued"
    reward = _reward(api, reward_id)
    assert reward["status"] == "issued"
    certificate = reward["certificate"]
    assert certificate["kind"] == "issuer"
    sent = provider.issued[reward_id]
    assert certificate["code"] == sent["code"]
    assert certificate["pin"] == sent["pin"]
    assert certificate["amount"] == "750.00"
    request = provider.requests[0]
    assert request.headers["idempotency-key"] == reward_id
    assert request.headers["authorization"] == f"Bearer {provider.token}"
    assert request.body["recipient"]["email"] == "r-1@example.ru"
    stored = Certificate.objects.get(public_id=certificate["id"])
    assert stored.external_id == sent["id"]
    assert sent["code"] not in stored.code_encrypted
    # Nothing left to do: a second attempt does not call the provider.
    assert external.attempt_issuer(_pk(reward_id)) == "skipped"
    assert len(provider.requests) == 1


def test_a_failing_provider_is_retried_with_backoff_and_recovers(api, reward_id, provider):
    provider.fail_next(1)
    before = timezone.now()
    assert external.attempt_issuer(_pk(reward_id)) == "retry"
    after = timezone.now()
    reward = _reward(api, reward_id)
    assert reward["status"] == "approved"
    assert reward["waiting"]["attempts"] == 1
    assert "500" in reward["waiting"]["last_error"]
    next_at = timezone.datetime.fromisoformat(reward["waiting"]["next_attempt_at"])
    # About 5 s after the failure, however long the attempt took.
    assert timedelta(seconds=3) <= next_at - before
    assert next_at - after <= timedelta(seconds=8)
    # Not due yet: the sweep leaves it alone.
    assert waiting.resume_waiting() == 0
    assert queued_attempts(reward_id) == 0
    assert external.attempt_issuer(_pk(reward_id)) == "not_due"
    _due(reward_id)
    # Due: the sweep queues the attempt for a worker (a task of its own), which issues it.
    waiting.resume_waiting()
    assert queued_attempts(reward_id) == 1
    assert issue_with_issuer.call(_pk(reward_id)) == "issued"
    assert _reward(api, reward_id)["status"] == "issued"
    assert provider.issue_count[reward_id] == 1


def test_a_lost_answer_is_retried_without_issuing_twice(api, reward_id, provider, issuer):
    issuers.update_issuer(issuer, timeout_seconds=0.5)
    provider.mode = "timeout"
    assert external.attempt_issuer(_pk(reward_id)) == "retry"
    assert _reward(api, reward_id)["waiting"]["last_error"] == "No answer within 0.5 s."
    issuers.update_issuer(issuer, timeout_seconds=TIMEOUT_SECONDS)
    provider.mode = "ok"
    _due(reward_id)
    assert external.attempt_issuer(_pk(reward_id)) == "issued"
    # The provider created the certificate during the lost request; the retry got it back.
    assert provider.issue_count[reward_id] == 1
    assert _reward(api, reward_id)["certificate"]["code"] == provider.issued[reward_id]["code"]


def test_after_its_attempts_the_reward_is_marked_failed_with_an_alert(
    api, reward_id, provider, django_capture_on_commit_callbacks
):
    provider.mode = "fail"
    results = []
    for _ in range(3):
        _due(reward_id)
        results.append(external.attempt_issuer(_pk(reward_id)))
    assert results == ["retry", "retry", "failed"]
    reward = _reward(api, reward_id)
    assert reward["waiting"]["reason"] == "issuer_failed"
    assert "failed 3 times" in reward["waiting"]["last_error"]
    alert = Alert.objects.get(kind="issuer.failed")
    assert alert.subject == reward_id
    # The sweep does not hammer it further; a person retries once the provider is back.
    assert waiting.resume_waiting() == 0
    provider.mode = "ok"
    with django_capture_on_commit_callbacks(execute=True):
        retried = api.post(f"rewards/{reward_id}/retry")
    # Answered at once with the reward as it is; the worker makes the call.
    assert retried.status_code == 200
    assert retried.json()["status"] == "approved"
    assert retried.json()["waiting"]["reason"] == "issuer"
    assert queued_attempts(reward_id) == 1
    assert issue_with_issuer.call(_pk(reward_id)) == "issued"
    assert _reward(api, reward_id)["status"] == "issued"


def test_a_refusal_is_not_retried(api, reward_id, provider):
    provider.mode = "refuse"
    assert external.attempt_issuer(_pk(reward_id)) == "failed"
    reward = _reward(api, reward_id)
    assert reward["waiting"]["reason"] == "issuer_failed"
    assert reward["waiting"]["last_error"].startswith("The issuer refused")


def test_an_open_circuit_postpones_without_calling(api, reward_id, provider, issuer):
    until = timezone.now() + timedelta(minutes=5)
    type(issuer).objects.filter(pk=issuer.pk).update(
        consecutive_failures=CIRCUIT_THRESHOLD, circuit_open_until=until
    )
    assert external.attempt_issuer(_pk(reward_id)) == "circuit_open"
    assert provider.requests == []
    reward = Reward.objects.get(public_id=reward_id)
    assert reward.attempts == 0
    assert reward.next_attempt_at == until


def test_cancelling_an_issued_reward_cancels_it_at_the_provider(api, reward_id, provider):
    external.attempt_issuer(_pk(reward_id))
    cancelled = api.post(f"rewards/{reward_id}/cancel").json()
    assert cancelled["status"] == "cancelled"
    certificate = Certificate.objects.get(reward__public_id=reward_id)
    # The task enqueued after commit; run its service directly.
    assert external.cancel_issued(certificate.pk) == "cancelled"
    assert provider.find(certificate.external_id)["status"] == "cancelled"


def test_a_reward_cancelled_while_waiting_is_never_issued(api, reward_id, provider):
    cancelled = api.post(f"rewards/{reward_id}/cancel").json()
    assert cancelled["status"] == "cancelled"
    assert cancelled["waiting"] is None
    assert external.attempt_issuer(_pk(reward_id)) == "skipped"
    assert provider.requests == []


def test_an_issuer_source_needs_an_existing_issuer(api):
    response = api.post(
        "campaigns",
        {
            "name": "X",
            "landing_url": "https://shop.example/",
            "rules": [RULE],
            "reward_source": {"type": "issuer"},
        },
    )
    assert response.status_code == 422
    assert response.json()["error"]["param"] == "reward_source.issuer"


def test_a_certificate_redeemed_at_the_provider_redeems_the_reward(api, reward_id, provider):
    from sarafan.rewards.lifecycle import sync_issued_externally

    external.attempt_issuer(_pk(reward_id))
    assert sync_issued_externally() == 0
    certificate = Certificate.objects.get(reward__public_id=reward_id)
    provider.find(certificate.external_id)["status"] = "redeemed"
    assert sync_issued_externally() == 1
    reward = _reward(api, reward_id)
    assert reward["status"] == "redeemed"
    assert reward["certificate"]["status"] == "redeemed"
    assert reward["history"][-1]["note"] == "redeemed at Gift provider"
    # An unreachable provider changes nothing.
    assert sync_issued_externally() == 0
