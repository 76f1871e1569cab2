"""Duplicates and limits under real concurrency: threads with their own PostgreSQL connections."""

import threading
from collections import Counter

import pytest
from django.db import connection
from django.test import Client

from sarafan.rewards.models import Reward
from tests.conftest import ApiClient
from tests.factories import create_campaign, create_referrer, order

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("on_postgres")]
THREADS = 12


def _parallel(fn, count=THREADS):
    barrier = threading.Barrier(count)
    results: list = [None] * count

    def run(index):
        try:
            barrier.wait()
            results[index] = fn(index)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_many_identical_paid_orders_at_once_give_one_reward(project_keys):
    api = ApiClient(Client(), project_keys.keys["secret_key_test"])
    create_campaign(api)
    code = create_referrer(api)["referral_code"]
    key = project_keys.keys["secret_key_test"]

    def send(_):
        response = order(ApiClient(Client(), key), "u-42", "o-1", code=code)
        return response.status_code, response.json()

    results = _parallel(send)
    statuses = Counter(status for status, _ in results)
    assert statuses == {201: 1, 200: THREADS - 1}
    assert all(body == results[0][1] for _, body in results)
    assert Reward.objects.filter(trigger="first_order").count() == 1


def test_monthly_limit_holds_under_concurrent_orders(project_keys):
    key = project_keys.keys["secret_key_test"]
    api = ApiClient(Client(), key)
    create_campaign(
        api,
        limits={"per_referrer_per_month": 3, "budget": "100000.00"},
        rules=[
            {
                "recipient": "referrer",
                "trigger": "first_order",
                "kind": "fixed",
                "amount": "100.00",
            },
        ],
    )
    code = create_referrer(api)["referral_code"]

    def send(index):
        return order(ApiClient(Client(), key), f"c{index}", f"o{index}", code=code).status_code

    assert set(_parallel(send)) == {201}
    assert Reward.objects.filter(recipient__external_id="u-7").count() == 3


def test_budget_holds_under_concurrent_orders(project_keys):
    key = project_keys.keys["secret_key_test"]
    api = ApiClient(Client(), key)
    campaign = create_campaign(
        api,
        limits={"budget": "500.00"},
        rules=[
            {
                "recipient": "referrer",
                "trigger": "first_order",
                "kind": "fixed",
                "amount": "100.00",
            },
        ],
    )
    codes = [create_referrer(api, f"r{i}")["referral_code"] for i in range(THREADS)]

    def send(index):
        return order(ApiClient(Client(), key), f"c{index}", f"o{index}", code=codes[index])

    bodies = [response.json() for response in _parallel(send)]
    assert Reward.objects.count() == 5
    assert api.get(f"campaigns/{campaign['id']}").json()["stats"]["spent"] == "500.00"
    paid = [body for body in bodies if body["rewards"]]
    refused = [body for body in bodies if not body["rewards"]]
    assert len(paid) == 5
    assert all(body["fraud"]["reasons"] == ["budget_exhausted"] for body in refused)


def test_max_rewards_hold_with_two_rewards_per_event(project_keys):
    """Every event pays two rewards; with room for seven, exactly seven exist afterwards."""
    key = project_keys.keys["secret_key_test"]
    api = ApiClient(Client(), key)
    campaign = create_campaign(
        api,
        limits={"max_rewards": 7},
        rules=[
            {"recipient": "referrer", "trigger": "first_order", "kind": "fixed", "amount": "10.00"},
            {"recipient": "referee", "trigger": "first_order", "kind": "fixed", "amount": "20.00"},
        ],
    )
    codes = [create_referrer(api, f"r{i}")["referral_code"] for i in range(THREADS)]

    def send(index):
        return order(ApiClient(Client(), key), f"c{index}", f"o{index}", code=codes[index])

    assert {response.status_code for response in _parallel(send)} == {201}
    stats = api.get(f"campaigns/{campaign['id']}").json()["stats"]
    assert Reward.objects.count() == stats["rewards_count"] == 7
    assert stats["spent"] == str(sum(reward.amount for reward in Reward.objects.all()))
