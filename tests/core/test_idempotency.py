"""Idempotency-Key placeholders are leases: a request killed mid-way does not hold its key for days."""

from datetime import timedelta
from typing import Any

import pytest
from django.test import override_settings
from django.utils import timezone

from sarafan.core.models import IdempotencyRecord
from sarafan.rewards.models import Reward
from tests.at_rest import rows_holding
from tests.factories import create_campaign, create_referrer

KEY = {"Idempotency-Key": "order-o-1"}


def _order_body(code: str) -> dict[str, Any]:
    return {
        "type": "order",
        "customer": {"external_id": "u-42", "email": "u-42@mail.example"},
        "order": {"id": "o-1", "amount": "4990.00", "currency": "RUB", "status": "paid"},
        "referral_code": code,
    }


@pytest.fixture
def body(api: Any) -> dict[str, Any]:
    """A referred customer's first paid order, recorded once under KEY."""
    create_campaign(api)
    order = _order_body(create_referrer(api, "u-7")["referral_code"])
    assert api.post("events", order, headers=KEY).status_code == 201
    return order


def _killed_after_commit(age: timedelta) -> None:
    """What a web process killed after its event committed leaves: a placeholder, unanswered."""
    IdempotencyRecord.objects.filter(key=KEY["Idempotency-Key"]).update(
        status_code=None, response_body=None, created_at=timezone.now() - age
    )


@override_settings(SARAFAN_IDEMPOTENCY_LEASE_SECONDS=60)
def test_a_lapsed_placeholder_lets_the_retry_run_and_the_order_still_pays_once(api, body):
    _killed_after_commit(timedelta(seconds=61))

    retry = api.post("events", body, headers=KEY)

    assert retry.status_code == 200  # the order was already recorded: answered, not run twice
    assert "Idempotent-Replayed" not in retry.headers
    assert retry.json()["order"]["id"] == "o-1"
    assert Reward.objects.filter(trigger="first_order").count() == 1
    # The retry's answer is now the key's answer.
    replay = api.post("events", body, headers=KEY)
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json() == retry.json()


@override_settings(SARAFAN_IDEMPOTENCY_LEASE_SECONDS=60)
def test_a_placeholder_within_its_lease_is_still_in_progress(api, body):
    _killed_after_commit(timedelta(seconds=20))

    response = api.post("events", body, headers=KEY)

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "idempotency_in_progress"
    assert 1 <= int(response.headers["Retry-After"]) <= 40


@override_settings(SARAFAN_IDEMPOTENCY_LEASE_SECONDS=60)
def test_a_lapsed_placeholder_is_not_taken_over_by_a_different_request(api, body):
    _killed_after_commit(timedelta(seconds=61))

    other = api.post("events", {**body, "order": {**body["order"], "id": "o-2"}}, headers=KEY)

    assert other.status_code == 409
    assert IdempotencyRecord.objects.get(key=KEY["Idempotency-Key"]).status_code is None


def test_stored_answers_and_paths_keep_no_certificate_code_or_pin_in_clear(api):
    create_referrer(api, "u-7")
    given = api.post(
        "rewards", {"recipient": "u-7", "amount": "500.00"}, headers={"Idempotency-Key": "r-1"}
    )
    assert given.status_code == 201, given.content
    certificate = given.json()["certificate"]
    redeem = f"certificates/{certificate['code']}/redeem"
    spent = api.post(
        redeem, {"amount": "200.00", "order_id": "A"}, headers={"Idempotency-Key": "s"}
    )
    assert spent.status_code == 201, spent.content

    assert rows_holding(certificate["code"], certificate["pin"]) == []
    # The answers are replayed as they were given, code and PIN included.
    replayed = api.post(
        "rewards", {"recipient": "u-7", "amount": "500.00"}, headers={"Idempotency-Key": "r-1"}
    )
    assert replayed.headers["Idempotent-Replayed"] == "true"
    assert replayed.json() == given.json()
    again = api.post(
        redeem, {"amount": "200.00", "order_id": "A"}, headers={"Idempotency-Key": "s"}
    )
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == spent.json()
