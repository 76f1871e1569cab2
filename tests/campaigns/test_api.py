import pytest

from tests.factories import campaign_body, create_campaign


def test_create_campaign_answers_201_with_the_contract_fields(api):
    response = api.post(
        "campaigns", campaign_body(limits={"budget": "1000000.00", "max_rewards": 5})
    )
    assert response.status_code == 201
    data = response.json()
    assert data["id"].startswith("cmp_")
    assert data["status"] == "active"
    assert data["livemode"] is False
    assert data["is_default"] is True
    assert data["rules"][0] == {
        "recipient": "referrer",
        "trigger": "first_order",
        "kind": "fixed",
        "amount": "500.00",
        "min_order_amount": "1000.00",
        "hold_days": 0,
    }
    assert data["limits"]["budget"] == "1000000.00"
    assert data["limits"]["max_rewards"] == 5
    assert data["reward_source"] == {"type": "internal"}


def test_all_rule_kinds_from_the_contract_are_accepted(api):
    rules = [
        {
            "recipient": "referrer",
            "trigger": "repeat_order",
            "kind": "percent",
            "percent": "5",
            "max_amount": "1000.00",
            "hold_days": 14,
        },
        {
            "recipient": "referrer",
            "trigger": "first_order",
            "kind": "tiered",
            "tiers": [
                {"from": 1, "amount": "500.00"},
                {"from": 3, "amount": "700.00"},
                {"from": 6, "amount": "1000.00"},
            ],
        },
    ]
    data = create_campaign(api, rules=rules)
    assert data["rules"][0]["percent"] == "5"
    assert data["rules"][0]["max_amount"] == "1000.00"
    assert data["rules"][1]["tiers"][2] == {"from": 6, "amount": "1000.00"}


def test_draft_status_on_create(api):
    assert create_campaign(api, status="draft")["status"] == "draft"


def test_landing_host_is_always_allowed(api):
    data = create_campaign(api, allowed_redirect_hosts=["promo.example"])
    assert data["allowed_redirect_hosts"] == ["shop.example", "promo.example"]


def _error(response, status, code, param=None):
    assert response.status_code == status, response.content
    error = response.json()["error"]
    assert set(error) == {"type", "code", "message", "param"}
    assert error["code"] == code
    if param is not None:
        assert error["param"] == param
    assert error["message"]
    return error


def test_bad_campaigns_are_refused_with_the_field_named(api):
    cases = [
        (campaign_body(landing_url="javascript:alert(1)"), "invalid_request", "landing_url"),
        (campaign_body(landing_url="ftp://shop.example/"), "invalid_request", "landing_url"),
        (
            campaign_body(allowed_redirect_hosts=["https://evil.example/x"]),
            "invalid_request",
            "allowed_redirect_hosts.0",
        ),
        (campaign_body(surprise=1), "unknown_field", "surprise"),
        (campaign_body(attribution_window_days="many"), "invalid_value", "attribution_window_days"),
        (
            campaign_body(
                rules=[{"recipient": "referrer", "trigger": "first_order", "kind": "fixed"}]
            ),
            "invalid_request",
            "rules.0.amount",
        ),
        (
            campaign_body(
                rules=[
                    {"recipient": "boss", "trigger": "signup", "kind": "fixed", "amount": "1.00"}
                ]
            ),
            "invalid_value",
            "rules.0.recipient",
        ),
        (
            campaign_body(
                rules=[
                    {
                        "recipient": "referrer",
                        "trigger": "first_order",
                        "kind": "tiered",
                        "tiers": [{"from": 3, "amount": "1.00"}, {"from": 1, "amount": "2.00"}],
                    }
                ]
            ),
            "invalid_request",
            "rules.0.tiers",
        ),
        (campaign_body(limits={"budget": "-5.00"}), "invalid_value", "limits.budget"),
        (
            campaign_body(reward_source={"type": "pool", "pool": "pol_missing"}),
            "invalid_request",
            "reward_source.pools.0",
        ),
        (
            campaign_body(reward_source={"type": "issuer", "issuer": "iss_missing"}),
            "invalid_request",
            "reward_source.issuer",
        ),
        (
            campaign_body(reward_source={"type": "issuer", "bank": {"min_amount": "500.00"}}),
            "invalid_request",
            "reward_source.bank",
        ),
        ({"landing_url": "https://shop.example/"}, "missing_field", "name"),
    ]
    for body, code, param in cases:
        _error(api.post("campaigns", body), 422, code, param)


def test_malformed_json_is_400(api):
    error = _error(api.post("campaigns", raw="{not json"), 400, "malformed_json")
    assert error["type"] == "invalid_request"


def test_list_paginates_newest_first(api):
    ids = [create_campaign(api, name=f"C{i}")["id"] for i in range(5)]
    first = api.get("campaigns", limit=2).json()
    assert [c["id"] for c in first["data"]] == ids[::-1][:2]
    assert first["has_more"] is True
    rest = api.get("campaigns", limit=10, starting_after=first["data"][-1]["id"]).json()
    assert [c["id"] for c in rest["data"]] == ids[::-1][2:]
    assert rest["has_more"] is False
    _error(api.get("campaigns", limit=0), 422, "invalid_request", "limit")
    _error(
        api.get("campaigns", starting_after="cmp_nope"), 422, "invalid_request", "starting_after"
    )


def test_get_patch_pause_resume(api):
    campaign = create_campaign(api)
    path = f"campaigns/{campaign['id']}"
    assert api.get(path).json()["name"] == "Приведи друга"
    patched = api.patch(path, {"name": "Весна", "limits": {"per_referrer_per_month": 3}}).json()
    assert patched["name"] == "Весна"
    assert patched["limits"]["per_referrer_per_month"] == 3
    assert len(patched["rules"]) == 2  # rules untouched when not sent
    assert api.post(f"{path}/pause").json()["status"] == "paused"
    assert api.post(f"{path}/resume").json()["status"] == "active"
    assert api.patch(path, {"status": "ended"}).json()["status"] == "ended"
    _error(api.post(f"{path}/resume"), 409, "invalid_status_transition")


def test_unknown_campaign_is_404(api):
    _error(api.get("campaigns/cmp_missing"), 404, "not_found")


def test_test_and_live_data_are_separate(api, live_api):
    campaign = create_campaign(api)
    assert live_api.get(f"campaigns/{campaign['id']}").status_code == 404
    assert live_api.get("campaigns").json()["data"] == []


def test_keys_are_checked(anon_api, project_keys):
    _error(anon_api.get("campaigns"), 401, "missing_api_key")
    anon_api.key = "sk_test_wrong"
    _error(anon_api.get("campaigns"), 401, "invalid_api_key")
    anon_api.key = project_keys.keys["publishable_key_test"]
    error = _error(anon_api.get("campaigns"), 403, "secret_key_required")
    assert error["type"] == "permission"


def test_wrong_method_is_405_in_the_error_shape(api):
    _error(api.delete("campaigns"), 405, "method_not_allowed")


@pytest.mark.parametrize(("sent", "answered"), [("10", "10"), ("100", "100"), ("2.50", "2.5")])
def test_a_percent_is_answered_as_a_plain_decimal(api, sent, answered):
    rule = {"recipient": "referrer", "trigger": "repeat_order", "kind": "percent", "percent": sent}
    created = api.post("campaigns", {**campaign_body(), "rules": [rule]})
    assert created.status_code == 201, created.content
    # Not "1E+1": what a client sent, in the API's decimal-string form.
    assert created.json()["rules"][0]["percent"] == answered
    fetched = api.get(f"campaigns/{created.json()['id']}").json()
    assert fetched["rules"][0]["percent"] == answered
