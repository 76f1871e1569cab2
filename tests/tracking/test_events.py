"""The core referral loop through the events API: attribution, rewards, refunds."""

from datetime import timedelta
from decimal import Decimal

from django.utils import timezone

from sarafan.links.models import Click, Link
from sarafan.referrals.models import Referral
from sarafan.rewards.models import Certificate, Reward
from sarafan.rewards.services import release_due_rewards
from tests.factories import create_campaign, create_referrer, order, signup


def _code(api, external_id="u-7"):
    return create_referrer(api, external_id)["referral_code"]


def test_signup_with_code_creates_referral_and_issues_referee_reward(api):
    create_campaign(api)
    code = _code(api)
    response = signup(api, "u-42", code)
    assert response.status_code == 201
    data = response.json()
    assert data["id"].startswith("evt_")
    assert data["referral"]["referrer"] == "u-7"
    assert data["referral"]["referee"] == "u-42"
    assert data["referral"]["status"] == "pending"
    assert data["fraud"] == {"score": 0.0, "decision": "allow", "reasons": [], "details": []}
    assert isinstance(data["fraud"]["score"], float)
    [reward] = data["rewards"]
    assert reward["recipient"] == "u-42"
    assert reward["amount"] == "300.00"
    assert reward["status"] == "issued"
    certificate = Certificate.objects.get(reward__public_id=reward["id"])
    assert certificate.balance == Decimal("300.00")


def test_first_paid_order_qualifies_and_rewards_the_referrer(api):
    create_campaign(api)
    code = _code(api)
    signup(api, "u-42", code)
    data = order(api, "u-42", "o-1").json()
    assert data["referral"]["status"] == "qualified"
    assert data["order"]["first"] is True
    [reward] = data["rewards"]
    assert (reward["recipient"], reward["amount"], reward["status"]) == ("u-7", "500.00", "issued")


def test_same_paid_order_twice_rewards_once(api):
    create_campaign(api)
    code = _code(api)
    first = order(api, "u-42", "o-1", code=code)
    again = order(api, "u-42", "o-1", code=code)
    assert first.status_code == 201
    assert again.status_code == 200
    assert again.json() == first.json()
    assert Reward.objects.filter(trigger="first_order").count() == 1


def test_order_below_minimum_earns_nothing(api):
    create_campaign(api)
    data = order(api, "u-42", "o-1", amount="999.99", code=_code(api)).json()
    assert data["referral"]["status"] == "qualified"
    assert [r for r in data["rewards"] if r["recipient"] == "u-7"] == []


def test_repeat_order_pays_percent_with_cap(api):
    create_campaign(
        api,
        rules=[
            {
                "recipient": "referrer",
                "trigger": "repeat_order",
                "kind": "percent",
                "percent": "5",
                "max_amount": "100.00",
            },
        ],
    )
    code = _code(api)
    assert order(api, "u-42", "o-1", code=code).json()["rewards"] == []
    small = order(api, "u-42", "o-2", amount="1000.00").json()
    big = order(api, "u-42", "o-3", amount="50000.00").json()
    assert small["rewards"][0]["amount"] == "50.00"
    assert big["rewards"][0]["amount"] == "100.00"


def test_tiered_reward_grows_with_successful_referrals(api):
    create_campaign(
        api,
        rules=[
            {
                "recipient": "referrer",
                "trigger": "first_order",
                "kind": "tiered",
                "tiers": [{"from": 1, "amount": "500.00"}, {"from": 3, "amount": "700.00"}],
            },
        ],
    )
    code = _code(api)
    amounts = [
        order(api, f"c{i}", f"o{i}", code=code).json()["rewards"][0]["amount"] for i in range(4)
    ]
    assert amounts == ["500.00", "500.00", "700.00", "700.00"]


def test_hold_period_keeps_reward_pending_until_the_task_releases_it(api):
    create_campaign(
        api,
        rules=[
            {
                "recipient": "referrer",
                "trigger": "first_order",
                "kind": "fixed",
                "amount": "500.00",
                "hold_days": 14,
            },
        ],
    )
    data = order(api, "u-42", "o-1", code=_code(api)).json()
    [reward] = data["rewards"]
    assert reward["status"] == "pending"
    assert release_due_rewards() == 0
    assert release_due_rewards(now=timezone.now() + timedelta(days=15)) == 1
    released = api.get(f"rewards/{reward['id']}").json()
    assert released["status"] == "issued"
    assert released["certificate"]["balance"] == "500.00"
    assert release_due_rewards(now=timezone.now() + timedelta(days=15)) == 0


def test_attribution_by_the_visitors_last_click(api, client):
    create_campaign(api)
    code = _code(api)
    client.get(f"/r/{code}")
    visitor = client.cookies["sf_vid"].value
    data = signup(api, "u-42", context={"visitor_id": visitor}).json()
    assert data["referral"]["referrer"] == "u-7"
    assert Referral.objects.get().source == "click"


def test_click_outside_the_window_does_not_attribute(api, client):
    create_campaign(api, attribution_window_days=7)
    client.get(f"/r/{_code(api)}")
    Click.objects.update(created_at=timezone.now() - timedelta(days=8))
    visitor = client.cookies["sf_vid"].value
    assert signup(api, "u-42", context={"visitor_id": visitor}).json()["referral"] is None


def test_attribution_by_email_invite(api):
    create_campaign(api)
    create_referrer(api, "u-7")
    share = api.post(
        "events",
        {
            "type": "share",
            "participant": "u-7",
            "channel": "email",
            "invitee": {"email": "Friend@Mail.example"},
        },
    )
    assert share.status_code == 201
    data = api.post(
        "events",
        {"type": "signup", "customer": {"external_id": "u-9", "email": "friend@mail.example"}},
    ).json()
    assert data["referral"]["referrer"] == "u-7"
    assert data["referral"]["channel"] == "email"


def test_first_referrer_keeps_the_customer(api):
    create_campaign(api)
    first, second = _code(api, "u-1"), _code(api, "u-2")
    signup(api, "u-42", first)
    data = order(api, "u-42", "o-1", code=second).json()
    assert data["referral"]["referrer"] == "u-1"
    assert data["rewards"][0]["recipient"] == "u-1"


def test_no_referral_without_evidence(api):
    create_campaign(api)
    data = signup(api, "u-42").json()
    assert data["referral"] is None
    assert data["rewards"] == []


def test_self_referral_by_email_is_blocked_without_reward(api):
    create_campaign(api)
    code = create_referrer(api, "u-7", email="anna@example.ru")["referral_code"]
    data = api.post(
        "events",
        {
            "type": "signup",
            "referral_code": code,
            "customer": {"external_id": "u-8", "email": "ANNA@example.ru"},
        },
    ).json()
    assert data["referral"]["status"] == "rejected"
    assert data["fraud"]["decision"] == "block"
    assert "self_referral_email" in data["fraud"]["reasons"]
    assert data["rewards"] == []
    assert order(api, "u-8", "o-1").json()["rewards"] == []


def test_own_code_does_not_refer_oneself(api):
    create_campaign(api)
    code = _code(api, "u-7")
    assert order(api, "u-7", "o-1", code=code).json()["referral"] is None


def test_existing_customer_is_not_a_referral_in_new_customers_only_campaign(api):
    create_campaign(api)
    order(api, "u-42", "o-0")
    data = order(api, "u-42", "o-1", code=_code(api)).json()
    assert data["referral"] is None
    assert "existing_customer" in data["fraud"]["reasons"]


def test_refund_cancels_pending_and_claws_back_unredeemed_certificate(api):
    create_campaign(
        api,
        rules=[
            {
                "recipient": "referrer",
                "trigger": "first_order",
                "kind": "fixed",
                "amount": "500.00",
            },
            {
                "recipient": "referee",
                "trigger": "first_order",
                "kind": "fixed",
                "amount": "200.00",
                "hold_days": 30,
            },
        ],
    )
    data = order(api, "u-42", "o-1", code=_code(api)).json()
    issued = next(r for r in data["rewards"] if r["recipient"] == "u-7")
    pending = next(r for r in data["rewards"] if r["recipient"] == "u-42")
    certificate = api.get(f"rewards/{issued['id']}").json()["certificate"]
    redeem = api.post(
        f"certificates/{certificate['code']}/redeem", {"amount": "120.00", "order_id": "shop-1"}
    )
    assert redeem.status_code == 201
    refund = api.post("events", {"type": "refund", "order": {"id": "o-1"}})
    assert refund.status_code == 201
    assert refund.json()["clawed_back"] == "580.00"
    assert api.get(f"rewards/{pending['id']}").json()["status"] == "cancelled"
    after = api.get(f"certificates/{certificate['code']}").json()
    assert (after["status"], after["balance"]) == ("cancelled", "0.00")
    again = api.post("events", {"type": "refund", "order": {"id": "o-1"}})
    assert again.status_code == 200
    assert again.json() == refund.json()


def test_refund_of_unknown_order_is_404(api):
    response = api.post("events", {"type": "refund", "order": {"id": "nope"}})
    assert response.status_code == 404
    assert response.json()["error"]["param"] == "order.id"


def test_monthly_limit_per_referrer_is_enforced_and_reported(api):
    create_campaign(
        api,
        limits={"per_referrer_per_month": 2},
        rules=[
            {
                "recipient": "referrer",
                "trigger": "first_order",
                "kind": "fixed",
                "amount": "100.00",
            },
        ],
    )
    code = _code(api)
    results = [order(api, f"c{i}", f"o{i}", code=code).json() for i in range(3)]
    assert [len(r["rewards"]) for r in results] == [1, 1, 0]
    assert "limit_per_referrer" in results[2]["fraud"]["reasons"]


def test_monthly_amount_limit(api):
    create_campaign(
        api,
        limits={"per_referrer_amount_per_month": "250.00"},
        rules=[
            {
                "recipient": "referrer",
                "trigger": "first_order",
                "kind": "fixed",
                "amount": "100.00",
            },
        ],
    )
    code = _code(api)
    counts = [len(order(api, f"c{i}", f"o{i}", code=code).json()["rewards"]) for i in range(3)]
    assert counts == [1, 1, 0]


def test_budget_and_max_rewards_stop_rewards(api):
    campaign = create_campaign(
        api,
        limits={"budget": "250.00"},
        rules=[
            {
                "recipient": "referrer",
                "trigger": "first_order",
                "kind": "fixed",
                "amount": "100.00",
            },
        ],
    )
    code = _code(api)
    results = [order(api, f"c{i}", f"o{i}", code=code).json() for i in range(3)]
    assert "budget_exhausted" in results[2]["fraud"]["reasons"]
    stats = api.get(f"campaigns/{campaign['id']}").json()["stats"]
    assert stats == {"spent": "200.00", "rewards_count": 2}
    capped = create_campaign(
        api,
        limits={"max_rewards": 1},
        rules=[
            {"recipient": "referee", "trigger": "signup", "kind": "fixed", "amount": "10.00"},
        ],
    )
    first = signup(api, "n1", code, campaign=capped["id"]).json()
    second = signup(api, "n2", code, campaign=capped["id"]).json()
    assert len(first["rewards"]) == 1
    assert second["rewards"] == []


def test_budget_for_one_of_two_rewards_pays_the_first_rule_and_says_why(api):
    """Both rules fire on one order, the budget covers one: it is decided reward by reward."""
    campaign = create_campaign(
        api,
        limits={"budget": "150.00"},
        rules=[
            {
                "recipient": "referrer",
                "trigger": "first_order",
                "kind": "fixed",
                "amount": "100.00",
            },
            {"recipient": "referee", "trigger": "first_order", "kind": "fixed", "amount": "100.00"},
        ],
    )
    code = _code(api)
    data = order(api, "c1", "o1", code=code).json()
    assert [(r["recipient"], r["amount"]) for r in data["rewards"]] == [("u-7", "100.00")]
    assert data["fraud"]["reasons"] == ["budget_exhausted"]
    stats = api.get(f"campaigns/{campaign['id']}").json()["stats"]
    assert stats == {"spent": "100.00", "rewards_count": 1}
    assert Reward.objects.count() == 1
    assert Certificate.objects.count() == 1


def test_a_new_reward_is_written_at_its_final_status_with_its_whole_history(api):
    create_campaign(
        api,
        rules=[
            {
                "recipient": "referrer",
                "trigger": "first_order",
                "kind": "fixed",
                "amount": "100.00",
            },
            {
                "recipient": "referee",
                "trigger": "first_order",
                "kind": "fixed",
                "amount": "50.00",
                "hold_days": 14,
            },
        ],
    )
    order(api, "c1", "o1", code=_code(api))
    issued = Reward.objects.get(amount=Decimal("100.00"))
    held = Reward.objects.get(amount=Decimal("50.00"))
    assert issued.status == "issued"
    certificate = Certificate.objects.get(reward=issued)
    steps = list(issued.history.order_by("id").values_list("from_status", "to_status", "note"))
    assert steps == [
        ("", "pending", "created"),
        ("pending", "approved", "no hold period"),
        ("approved", "issued", f"certificate {certificate.public_id}"),
    ]
    assert held.status == "pending"
    assert list(held.history.values_list("to_status", flat=True)) == ["pending"]
    assert not Certificate.objects.filter(reward=held).exists()


def test_changed_rules_and_a_pause_apply_to_the_very_next_event(api):
    """Campaigns and rules are kept in process memory; a change must still show at once."""
    rule = {"recipient": "referrer", "trigger": "first_order", "kind": "fixed"}
    campaign = create_campaign(api, rules=[{**rule, "amount": "100.00"}])
    code = _code(api)
    assert order(api, "c1", "o1", code=code).json()["rewards"][0]["amount"] == "100.00"
    api.patch(f"campaigns/{campaign['id']}", {"rules": [{**rule, "amount": "700.00"}]})
    assert order(api, "c2", "o2", code=code).json()["rewards"][0]["amount"] == "700.00"
    api.post(f"campaigns/{campaign['id']}/pause")
    paused = order(api, "c3", "o3", code=code).json()
    assert paused["rewards"] == []
    assert paused["referral"] is None


def test_paused_campaign_pays_nothing(api):
    campaign = create_campaign(api)
    code = _code(api)
    api.post(f"campaigns/{campaign['id']}/pause")
    data = signup(api, "u-42", code).json()
    assert data["referral"] is None
    assert data["rewards"] == []


def test_events_need_their_parts(api):
    cases = [
        ({"type": "signup"}, 422, "customer"),
        ({"type": "order", "customer": {"external_id": "x"}}, 422, "order"),
        (
            {"type": "order", "customer": {"external_id": "x"}, "order": {"id": "1"}},
            422,
            "order.amount",
        ),
        ({"type": "share"}, 422, "participant"),
        ({"type": "share", "participant": "ghost"}, 404, "participant"),
        ({"type": "teleport"}, 422, "type"),
        ({"type": "signup", "customer": {"external_id": "x"}, "extra": 1}, 422, "extra"),
        (
            {"type": "signup", "customer": {"external_id": "x"}, "campaign": "cmp_nope"},
            404,
            "campaign",
        ),
        (
            {
                "type": "signup",
                "customer": {"external_id": "x"},
                "occurred_at": "2026-11-20T10:00:00",
            },
            422,
            "occurred_at",
        ),
    ]
    for body, status, param in cases:
        response = api.post("events", body)
        assert response.status_code == status, (body, response.content)
        assert response.json()["error"]["param"] == param, body


def test_batch_answers_each_event_in_order(api):
    create_campaign(api)
    code = _code(api)
    response = api.post(
        "events/batch",
        {
            "events": [
                {"type": "signup", "customer": {"external_id": "b1"}, "referral_code": code},
                {"type": "bogus"},
                {
                    "type": "order",
                    "customer": {"external_id": "b1"},
                    "order": {"id": "bo-1", "amount": "1500.00"},
                },
                {
                    "type": "order",
                    "customer": {"external_id": "b1"},
                    "order": {"id": "bo-1", "amount": "1500.00"},
                },
            ]
        },
    )
    assert response.status_code == 200
    results = response.json()["results"]
    assert results[0]["referral"]["referrer"] == "u-7"
    assert results[1]["error"]["param"] == "type"
    assert results[2]["rewards"][0]["amount"] == "500.00"
    assert results[3] == results[2]
    assert Reward.objects.filter(trigger="first_order").count() == 1


def test_batch_limits(api):
    assert api.post("events/batch", {"events": []}).status_code == 422
    too_many = {"events": [{"type": "share", "participant": "x"}] * 1001}
    assert api.post("events/batch", too_many).status_code == 422


def test_idempotency_key_replays_and_detects_reuse(api):
    create_campaign(api)
    code = _code(api)
    headers = {"Idempotency-Key": "k-1"}
    first = signup(api, "u-42", code, headers=headers)
    replay = signup(api, "u-42", code, headers=headers)
    assert replay.status_code == first.status_code == 201
    assert replay["Idempotent-Replayed"] == "true"
    assert replay.json() == first.json()
    other = signup(api, "u-43", code, headers=headers)
    assert other.status_code == 409
    assert other.json()["error"]["type"] == "idempotency_conflict"


def test_live_key_does_not_see_test_codes(api, live_api):
    create_campaign(api)
    create_campaign(live_api)
    code = _code(api)
    assert signup(live_api, "u-42", code).json()["referral"] is None
    assert signup(live_api, "u-42", code).json()["livemode"] is True


def test_link_channel_is_the_referral_channel(api):
    create_campaign(api)
    create_referrer(api, "u-7")
    link = api.post("participants/u-7/links", {"channel": "email", "utm": {"utm_source": "mail"}})
    assert link.status_code == 201
    data = signup(api, "u-42", link.json()["code"].lower()).json()
    assert data["referral"]["channel"] == "email"
    assert Link.objects.filter(channel="email").count() == 1


def test_event_payload_keeps_no_personal_data_in_clear(api):
    from sarafan.tracking.models import Event

    create_campaign(api)
    api.post(
        "events",
        {
            "type": "signup",
            "customer": {
                "external_id": "u-42",
                "email": "boris@example.ru",
                "phone": "+79997654321",
                "name": "Борис",
            },
            "context": {
                "ip": "203.0.113.7",
                "user_agent": "UA/1",
                "visitor_id": "v1",
                "card_fingerprint": "card",
            },
        },
    )
    stored = str(Event.objects.get().payload)
    for secret in ("boris@example.ru", "79997654321", "Борис", "203.0.113.7", "UA/1", "card"):
        assert secret not in stored
    assert "u-42" in stored and "v1" in stored
