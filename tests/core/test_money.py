"""Amounts are ASCII decimals only and currencies three ASCII capitals: look-alikes are refused."""

import pytest

from sarafan.core.money import is_currency_code
from sarafan.rewards.models import Reward
from sarafan.tracking.models import Event
from tests.factories import campaign_body, create_campaign, create_referrer

# Each of these is a number to Python's Decimal, and none is what a shop's system sends.
LOOKALIKES = [
    "１０００",  # fullwidth digits
    "١٠٠٠",  # Arabic-Indic digits
    "۱۰۰۰",  # extended Arabic-Indic digits
    "1_000",  # an underscore between digits
    "1e3",  # exponent notation
    "1000.0０",  # one fullwidth digit among ASCII ones
]


def _refused(response, param):
    assert response.status_code == 422, response.content
    error = response.json()["error"]
    assert (error["type"], error["code"], error["param"]) == (
        "invalid_request",
        "invalid_value",
        param,
    )
    assert "ASCII" in error["message"]


@pytest.mark.parametrize("amount", LOOKALIKES)
def test_order_amount_must_be_ascii_digits(api, amount):
    create_campaign(api)
    body = {
        "type": "order",
        "customer": {"external_id": "u-42"},
        "order": {"id": "o-1", "amount": amount, "currency": "RUB", "status": "paid"},
    }
    _refused(api.post("events", body), "order.amount")
    assert Event.objects.count() == 0


def test_batch_refuses_only_the_item_with_a_lookalike_amount(api):
    create_campaign(api)
    good = {
        "type": "order",
        "customer": {"external_id": "u-41"},
        "order": {"id": "o-1", "amount": "1000.00"},
    }
    bad = {**good, "customer": {"external_id": "u-42"}, "order": {"id": "o-2", "amount": "1_000"}}
    first, second = api.post("events/batch", {"events": [good, bad]}).json()["results"]
    assert first["order"]["amount"] == "1000.00"
    assert second["error"]["param"] == "order.amount"


@pytest.mark.parametrize(
    ("change", "param"),
    [
        ({"rules": [{**campaign_body()["rules"][0], "amount": "５００"}]}, "rules.0.amount"),
        (
            {"rules": [{**campaign_body()["rules"][0], "min_order_amount": "1_000"}]},
            "rules.0.min_order_amount",
        ),
        (
            {
                "rules": [
                    {
                        "recipient": "referrer",
                        "trigger": "repeat_order",
                        "kind": "percent",
                        "percent": "١٠",
                        "max_amount": "100.00",
                    }
                ]
            },
            "rules.0.percent",
        ),
        (
            {
                "rules": [
                    {
                        "recipient": "referrer",
                        "trigger": "first_order",
                        "kind": "tiered",
                        "tiers": [{"from": 1, "amount": "5_00"}],
                    }
                ]
            },
            "rules.0.tiers.0.amount",
        ),
        ({"limits": {"budget": "１００００"}}, "limits.budget"),
        (
            {"limits": {"per_referrer_amount_per_month": "1e4"}},
            "limits.per_referrer_amount_per_month",
        ),
    ],
)
def test_campaign_amounts_must_be_ascii_digits(api, change, param):
    _refused(api.post("campaigns", campaign_body(**change)), param)
    campaign = create_campaign(api)
    _refused(api.patch(f"campaigns/{campaign['id']}", change), param)


def test_manual_reward_and_redemption_amounts_must_be_ascii_digits(api):
    create_referrer(api, "u-7")
    _refused(api.post("rewards", {"recipient": "u-7", "amount": "５００", "note": "x"}), "amount")
    assert Reward.objects.count() == 0
    reward = api.post("rewards", {"recipient": "u-7", "amount": "500.00", "note": "x"}).json()
    code = reward["certificate"]["code"]
    redeem = {"amount": "2_00", "order_id": "o-9"}
    _refused(api.post(f"certificates/{code}/redeem", redeem), "amount")
    assert api.get(f"certificates/{code}").json()["balance"] == "500.00"


def test_pool_and_stop_rule_amounts_must_be_ascii_digits(api):
    brand = api.post("brands", {"name": "Ozon"}).json()
    _refused(api.post("pools", {"brand": brand["id"], "denomination": "５００"}), "denomination")
    stop = {"kind": "budget_burn", "threshold": "٢", "actions": ["alert"]}
    _refused(api.post("fraud/stop_rules", stop), "threshold")


def test_plain_decimals_and_json_numbers_are_still_accepted(api):
    create_campaign(api)
    for order_id, amount in [("o-1", "4990.00"), ("o-2", "4990"), ("o-3", 4990.5), ("o-4", 10)]:
        body = {
            "type": "order",
            "customer": {"external_id": f"c-{order_id}"},
            "order": {"id": order_id, "amount": amount},
        }
        assert api.post("events", body).status_code == 201, (amount, order_id)


@pytest.mark.parametrize("code", ["RUB", "EUR", "KZT"])
def test_a_currency_code_is_three_ascii_capitals(code):
    assert is_currency_code(code)


@pytest.mark.parametrize("code", ["rub", "RU", "RUBL", "ÄÖÜ", "ΡΥΒ", "ＲＵＢ", "RU1", " RUB", ""])
def test_lookalike_currency_codes_are_not_codes(code):
    assert not is_currency_code(code)
