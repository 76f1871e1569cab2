"""What the domain publishes, through the API, and that no payload carries a secret."""

import json

import pytest

from sarafan.alerts.services import raise_alert
from sarafan.events.models import OutboxEvent
from sarafan.participants.models import Participant
from sarafan.rewards.models import Certificate
from tests.factories import create_campaign, create_referrer, order


def _types() -> list[str]:
    return list(OutboxEvent.objects.order_by("id").values_list("type", flat=True))


def test_an_order_its_redemption_and_refund_publish_their_events_without_secrets(api, project_keys):
    campaign = create_campaign(api)
    referrer = create_referrer(api, "u-1")
    placed = order(api, "c-1", "o-1", code=referrer["referral_code"])
    assert placed.status_code == 201, placed.content
    assert _types() == [
        # The referral the first paid order makes is written qualified at once.
        "referral.created",
        "referral.qualified",
        "order.paid",
        "reward.created",
        "reward.approved",
        "reward.issued",
    ]
    reward_id = placed.json()["rewards"][0]["id"]
    issued = OutboxEvent.objects.get(type="reward.issued")
    certificate = Certificate.objects.get(reward__public_id=reward_id)
    assert issued.payload == {
        "reward": reward_id,
        "status": "issued",
        "amount": "500.00",
        "currency": "RUB",
        "certificate": certificate.public_id,
        "kind": "internal",
        "banked": [],
    }
    paid = OutboxEvent.objects.get(type="order.paid")
    assert paid.payload["order"] == "o-1" and paid.payload["first"] is True
    assert {e.livemode for e in OutboxEvent.objects.all()} == {False}

    code = certificate.code_value()
    redeemed = api.post(f"certificates/{code}/redeem", {"amount": "100.00", "order_id": "s-1"})
    assert redeemed.status_code in (200, 201), redeemed.content
    assert api.post(f"campaigns/{campaign['id']}/pause").status_code == 200
    refund = api.post("events", {"type": "refund", "order": {"id": "o-1"}})
    assert refund.status_code == 201, refund.content
    assert _types()[6:] == [
        "certificate.redeemed",
        "campaign.paused",
        "order.refunded",
        "reward.cancelled",
    ]

    secrets = [code, certificate.pin_value(), *project_keys.keys.values()]
    people = Participant.objects.filter(project=project_keys.project)
    secrets += [person.portal_token_value() for person in people]
    assert len(secrets) == 2 + 4 + 2
    payloads = json.dumps([e.payload for e in OutboxEvent.objects.all()])
    assert [s for s in secrets if s and s in payloads] == []


@pytest.mark.django_db(transaction=True)
def test_an_alert_a_sweep_raises_outside_a_transaction_is_published_with_it(project):
    alert = raise_alert(
        project_id=project.pk, livemode=False, kind="pool.empty", subject="pol_1", message="Empty."
    )
    assert alert is not None
    [event] = OutboxEvent.objects.all()
    assert event.type == "alert.raised"
    assert event.payload == {
        "alert": alert.public_id,
        "kind": "pool.empty",
        "subject": "pol_1",
        "message": "Empty.",
    }
