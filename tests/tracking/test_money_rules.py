"""Money rules of orders: the campaign's currency only, and a paid order must be positive."""

from sarafan.referrals.models import Referral
from sarafan.rewards.models import Reward
from sarafan.tracking.models import Order
from tests.factories import create_campaign, create_referrer, signup

PERCENT_RULE = {
    "recipient": "referrer",
    "trigger": "first_order",
    "kind": "percent",
    "percent": "10",
    "hold_days": 0,
}
FIXED_RULE = {
    "recipient": "referrer",
    "trigger": "first_order",
    "kind": "fixed",
    "amount": "500.00",
    "hold_days": 0,
}


def _order(api, customer, order_id, amount, currency=None, code=None):
    body = {
        "type": "order",
        "customer": {"external_id": customer, "email": f"{customer}@mail.example"},
        "order": {"id": order_id, "amount": amount, "status": "paid"},
    }
    if currency is not None:
        body["order"]["currency"] = currency
    if code:
        body["referral_code"] = code
    return body


def _code(api):
    return create_referrer(api, "u-7")["referral_code"]


def test_order_in_another_currency_does_not_meet_the_minimum(api):
    create_campaign(api)  # 500.00 RUB for a first order of at least 1 000.00 RUB
    response = api.post("events", _order(api, "u-42", "o-1", "1000.00", "IDR", _code(api)))
    assert response.status_code == 422
    error = response.json()["error"]
    assert (error["type"], error["code"], error["param"]) == (
        "invalid_request",
        "currency_mismatch",
        "order.currency",
    )
    assert "IDR" in error["message"] and "RUB" in error["message"]
    # Nothing was recorded: no referral, no order, no reward.
    assert Referral.objects.count() == 0
    assert Order.objects.count() == 0
    assert Reward.objects.count() == 0


def test_percent_rule_never_pays_a_share_of_a_foreign_amount(api):
    create_campaign(api, rules=[PERCENT_RULE])
    code = _code(api)
    refused = api.post("events", _order(api, "u-42", "o-1", "1000000.00", "IDR", code))
    assert refused.status_code == 422
    assert Reward.objects.count() == 0
    # The same order, sent again in the campaign's currency, is a new order and pays.
    accepted = api.post("events", _order(api, "u-42", "o-1", "1000.00", "RUB", code))
    assert accepted.status_code == 201
    [reward] = accepted.json()["rewards"]
    assert (reward["amount"], reward["currency"]) == ("100.00", "RUB")


def test_order_of_an_earlier_referral_is_checked_against_its_campaign(api):
    create_campaign(api, currency="EUR", rules=[FIXED_RULE])
    signup(api, "u-42", _code(api))
    response = api.post("events", _order(api, "u-42", "o-1", "50.00", "RUB"))
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "currency_mismatch"
    assert Referral.objects.get().status == "pending"


def test_order_without_currency_takes_the_campaigns(api):
    create_campaign(api, currency="EUR", rules=[FIXED_RULE])
    data = api.post("events", _order(api, "u-42", "o-1", "50.00", code=_code(api))).json()
    assert data["order"]["currency"] == "EUR"
    assert data["rewards"][0]["currency"] == "EUR"
    assert Order.objects.get().currency == "EUR"


def test_unattributed_order_is_checked_against_the_named_campaign(api):
    campaign = create_campaign(api)
    body = _order(api, "u-42", "o-1", "50.00", "USD")
    body["campaign"] = campaign["id"]
    response = api.post("events", body)
    assert response.status_code == 422
    assert response.json()["error"]["param"] == "order.currency"


def test_batch_refuses_only_the_item_in_another_currency(api):
    create_campaign(api)
    code = _code(api)
    response = api.post(
        "events/batch",
        {
            "events": [
                _order(api, "u-41", "o-1", "5000.00", "RUB", code),
                _order(api, "u-42", "o-2", "5000.00", "IDR", code),
                _order(api, "u-43", "o-3", "5000.00", "RUB", code),
            ]
        },
    )
    assert response.status_code == 200
    first, second, third = response.json()["results"]
    assert first["rewards"][0]["amount"] == "500.00"
    assert second == {
        "error": {
            "type": "invalid_request",
            "code": "currency_mismatch",
            "message": second["error"]["message"],
            "param": "order.currency",
        }
    }
    assert third["rewards"][0]["amount"] == "500.00"
    assert sorted(Order.objects.values_list("order_id", flat=True)) == ["o-1", "o-3"]


def test_zero_paid_order_is_recorded_but_does_not_qualify(api):
    create_campaign(api, rules=[FIXED_RULE])  # no minimum order amount
    code = _code(api)
    signup(api, "u-42", code)
    response = api.post("events", _order(api, "u-42", "o-1", "0.00", "RUB"))
    assert response.status_code == 201
    data = response.json()
    assert data["id"].startswith("evt_")
    assert data["rewards"] == []
    assert data["referral"]["status"] == "pending"
    assert "order_amount_zero" in data["fraud"]["reasons"]
    assert data["order"] == {
        "id": "o-1",
        "amount": "0.00",
        "currency": "RUB",
        "first": False,
        "qualifies": False,
    }
    assert api.get("participants/u-42").json()["stats"]["orders"] == 0
    assert Reward.objects.filter(trigger="first_order").count() == 0
    # The customer's first real purchase is still their first order, and pays.
    paid = api.post("events", _order(api, "u-42", "o-2", "10.00", "RUB")).json()
    assert paid["order"]["first"] is True
    assert paid["referral"]["status"] == "qualified"
    assert [r["amount"] for r in paid["rewards"]] == ["500.00"]


def test_zero_repeat_order_earns_no_fixed_reward(api):
    create_campaign(api, rules=[{**FIXED_RULE, "trigger": "repeat_order", "amount": "100.00"}])
    code = _code(api)
    api.post("events", _order(api, "u-42", "o-1", "10.00", "RUB", code))
    data = api.post("events", _order(api, "u-42", "o-2", "0.00", "RUB")).json()
    assert data["rewards"] == []
    assert "order_amount_zero" in data["fraud"]["reasons"]
    assert Reward.objects.count() == 0


def test_manual_reward_in_another_currency_than_its_campaign_is_refused(api):
    campaign = create_campaign(api, currency="EUR", limits={"budget": "100.00"})
    create_referrer(api, "u-7")
    body = {"recipient": "u-7", "amount": "90.00", "currency": "RUB", "campaign": campaign["id"]}
    refused = api.post("rewards", body)
    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "currency_mismatch"
    assert refused.json()["error"]["param"] == "currency"
    assert api.get(f"campaigns/{campaign['id']}").json()["stats"]["spent"] == "0.00"
    # Without a currency the reward is in the campaign's.
    given = api.post("rewards", {key: v for key, v in body.items() if key != "currency"})
    assert given.status_code == 201, given.content
    assert given.json()["currency"] == "EUR"
