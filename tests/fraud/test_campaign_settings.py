"""A campaign's `fraud` settings through the campaigns API, and their effect on scoring."""

import pytest

from tests.fraud.support import campaign, error, ok, reasons, referrer, signup

DEFAULTS = {
    "weights": {},
    "review_at": 0.5,
    "block_at": 0.9,
    "paid_ad_params": None,
    "banned_referrer_domains": [],
    "review_deadline_days": None,
    "review_deadline_action": "reject",
    "refund_rate_threshold": 0.25,
    "refund_rate_min_orders": 4,
}
FULL = {
    "weights": {"same_ip": 0.5, "similar_name": 0.0},
    "review_at": 0.4,
    "block_at": 0.8,
    "paid_ad_params": ["GCLID", " yclid ", "gclid"],
    "banned_referrer_domains": ["Coupons.Example", "www.cashback.example", "coupons.example"],
    "review_deadline_days": 7,
    "review_deadline_action": "approve",
    "refund_rate_threshold": 0.3,
    "refund_rate_min_orders": 10,
}


def test_a_campaign_without_fraud_settings_answers_the_defaults(api):
    assert campaign(api)["fraud"] == DEFAULTS


def test_fraud_settings_are_accepted_cleaned_and_returned(api):
    body = campaign(api, fraud=FULL)
    assert body["fraud"] == {
        **FULL,
        "paid_ad_params": ["gclid", "yclid"],
        "banned_referrer_domains": ["coupons.example", "cashback.example"],
    }
    assert ok(api.get(f"campaigns/{body['id']}"), 200)["fraud"] == body["fraud"]


def test_patch_replaces_the_fraud_settings_whole(api):
    body = campaign(api, fraud=FULL)
    changed = ok(api.patch(f"campaigns/{body['id']}", {"fraud": {"review_at": 0.3}}), 200)
    assert changed["fraud"] == {**DEFAULTS, "review_at": 0.3}
    untouched = ok(api.patch(f"campaigns/{body['id']}", {"name": "Renamed"}), 200)
    assert untouched["fraud"] == changed["fraud"]


@pytest.mark.parametrize(
    ("fraud", "param"),
    [
        ({"weights": {"bad_vibes": 0.5}}, "fraud.weights.bad_vibes"),
        ({"weights": {"limit_per_referrer": 0.5}}, "fraud.weights.limit_per_referrer"),
        ({"review_at": 0.8, "block_at": 0.7}, "fraud.block_at"),
        ({"banned_referrer_domains": ["ok.example", "https://x.example/"]}, None),
        ({"banned_referrer_domains": ["localhost"]}, None),
    ],
)
def test_bad_fraud_settings_are_422_naming_the_field(api, fraud, param):
    err = error(api.post("campaigns", _body(fraud=fraud)), 422)
    assert err["type"] == "invalid_request"
    if param:
        assert err["param"] == param
    else:
        assert err["param"].startswith("fraud.banned_referrer_domains.")


@pytest.mark.parametrize(
    "fraud",
    [
        {"weights": {"same_ip": 1.5}},
        {"review_at": -0.1},
        {"block_at": 2},
        {"review_deadline_days": 0},
        {"review_deadline_action": "ignore"},
        {"refund_rate_threshold": 1.2},
        {"refund_rate_min_orders": 0},
        {"unknown": True},
    ],
)
def test_out_of_range_fraud_settings_are_422(api, fraud):
    err = error(api.post("campaigns", _body(fraud=fraud)), 422)
    assert err["type"] == "invalid_request"
    assert err["param"].startswith("fraud")


def test_patch_checks_the_fraud_settings_too(api):
    body = campaign(api)
    bad = api.patch(f"campaigns/{body['id']}", {"fraud": {"weights": {"nope": 0.1}}})
    assert error(bad, 422)["param"] == "fraud.weights.nope"
    assert ok(api.get(f"campaigns/{body['id']}"), 200)["fraud"] == DEFAULTS


def test_campaign_weights_and_thresholds_decide_its_referrals(api):
    body = campaign(api)
    code = referrer(api)
    friend = {"external_id": "u-8", "email": "u-8@mailinator.com"}
    assert signup(api, friend, code=code)["fraud"]["decision"] == "review"  # 0.6 ≥ 0.5

    ok(api.patch(f"campaigns/{body['id']}", {"fraud": {"weights": {"disposable_email": 0.3}}}), 200)
    relaxed = signup(api, {**friend, "external_id": "u-9"}, code=code)
    assert (relaxed["fraud"]["score"], relaxed["fraud"]["decision"]) == (0.3, "allow")
    assert reasons(relaxed) == ["disposable_email"]

    ok(api.patch(f"campaigns/{body['id']}", {"fraud": {"review_at": 0.2, "block_at": 0.6}}), 200)
    strict = signup(api, {**friend, "external_id": "u-10"}, code=code)
    assert strict["fraud"]["decision"] == "block"
    assert strict["referral"]["status"] == "rejected"


def _body(**overrides):
    from tests.factories import campaign_body

    return campaign_body(**overrides)
