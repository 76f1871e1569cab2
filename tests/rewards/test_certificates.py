"""Certificates: balance check, partial redemption, idempotency per order, never below zero."""

import pytest

from tests.factories import create_referrer


@pytest.fixture
def certificate(api):
    create_referrer(api, "u-7")
    reward = api.post("rewards", {"recipient": "u-7", "amount": "500.00", "note": "goodwill"})
    assert reward.status_code == 201, reward.content
    data = reward.json()
    assert data["status"] == "issued"
    assert data["certificate"]["pin"].isdigit()
    return data["certificate"]


def test_certificate_shows_status_and_balance_without_pin(api, certificate):
    data = api.get(f"certificates/{certificate['code']}").json()
    assert data["balance"] == "500.00"
    assert data["status"] == "active"
    assert "pin" not in data
    assert api.get(f"certificates/{certificate['code'].lower()}").status_code == 200


def test_partial_redemptions_until_zero(api, certificate):
    path = f"certificates/{certificate['code']}/redeem"
    first = api.post(path, {"amount": "200.00", "order_id": "A"})
    assert first.status_code == 201
    assert first.json()["redemption"]["balance_after"] == "300.00"
    second = api.post(path, {"amount": "300.00", "order_id": "B"})
    assert second.json()["certificate"]["status"] == "redeemed"
    assert second.json()["certificate"]["balance"] == "0.00"


def test_same_order_redeems_once(api, certificate):
    path = f"certificates/{certificate['code']}/redeem"
    first = api.post(path, {"amount": "200.00", "order_id": "A"})
    again = api.post(path, {"amount": "200.00", "order_id": "A"})
    assert again.status_code == 200
    assert again.json()["redemption"] == first.json()["redemption"]
    assert api.get(f"certificates/{certificate['code']}").json()["balance"] == "300.00"
    changed = api.post(path, {"amount": "250.00", "order_id": "A"})
    assert changed.status_code == 409
    assert changed.json()["error"]["code"] == "order_already_redeemed"


def test_balance_never_goes_below_zero(api, certificate):
    path = f"certificates/{certificate['code']}/redeem"
    over = api.post(path, {"amount": "500.01", "order_id": "A"})
    assert over.status_code == 409
    assert over.json()["error"]["code"] == "insufficient_balance"
    assert api.post(path, {"amount": "-1.00", "order_id": "B"}).status_code == 422
    assert api.post(path, {"amount": "1.001", "order_id": "B"}).status_code == 422
    assert api.get(f"certificates/{certificate['code']}").json()["balance"] == "500.00"


def test_cancelled_reward_certificate_cannot_be_redeemed(api, certificate):
    reward_id = api.get("rewards", participant="u-7").json()["data"][0]["id"]
    assert api.post(f"rewards/{reward_id}/cancel").json()["status"] == "cancelled"
    response = api.post(
        f"certificates/{certificate['code']}/redeem", {"amount": "1.00", "order_id": "A"}
    )
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "certificate_not_active"


def test_unknown_certificate_and_other_mode(api, live_api, certificate):
    assert api.get("certificates/SF-NOPE").status_code == 404
    assert live_api.get(f"certificates/{certificate['code']}").status_code == 404


def test_manual_reward_needs_a_known_participant(api):
    response = api.post("rewards", {"recipient": "ghost", "amount": "1.00"})
    assert response.status_code == 404
    assert response.json()["error"]["param"] == "recipient"


def test_reward_moves_follow_the_state_machine(api, certificate):
    reward_id = api.get("rewards", participant="u-7").json()["data"][0]["id"]
    response = api.post(f"rewards/{reward_id}/approve")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "invalid_status_transition"
    assert api.post(f"rewards/{reward_id}/reject").status_code == 409
