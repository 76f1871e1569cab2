"""Self-referral and traffic-quality checks, seen through POST /api/v1/events."""

import pytest
from django.utils import translation

from sarafan.participants.models import Participant
from sarafan.referrals.models import Referral
from sarafan.rewards.models import Certificate, Reward
from tests.fraud.support import (
    REFEREE_SIGNUP_REWARD,
    REFERRER_REWARD,
    buy,
    campaign,
    detail,
    error,
    ok,
    reasons,
    referral,
    referrer,
    refund,
    signup,
    visit,
)

IP = "203.0.113.7"
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
SAFARI = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)
BOTH_REWARDS = [REFERRER_REWARD, REFEREE_SIGNUP_REWARD]


def _referrer_seen_with(api, external_id="u-7", **context):
    """The referrer signs up themselves with this context; returns their referral code."""
    code = referrer(api, external_id)
    signup(api, external_id, context=context)
    return code


def _blocked_without_rewards(data, reason):
    assert data["referral"]["status"] == "rejected"
    assert data["fraud"]["decision"] == "block"
    assert reason in reasons(data)
    assert data["rewards"] == []
    assert not Reward.objects.filter(referral__public_id=data["referral"]["id"]).exists()


# --- self-referral by each signal -------------------------------------------------------------


@pytest.mark.parametrize(
    ("referrer_email", "friend_email"),
    [
        ("anna@example.ru", "ANNA@Example.RU"),
        ("anna.karenina@gmail.com", "AnnaKarenina+promo@googlemail.com"),
        ("annakarenina@gmail.com", "a.n.n.a.karenina@gmail.com"),
        ("ivan.petrov@yandex.ru", "ivan-petrov@ya.ru"),
        ("ivan-petrov@yandex.com", "Ivan.Petrov@yandex.ru"),
        ("anna@mail.ru", "anna+ref@mail.ru"),
        # A quoted local part names the same mailbox as the bare one (RFC 5321).
        ("kira@example.ru", '"kira"@example.ru'),
        ('"Kira"@example.ru', "kira@EXAMPLE.ru"),
        ("kira.ivanova@gmail.com", '"kira.ivanova+x"@gmail.com'),
        ("kira@example.ru", '"k\\ira"@example.ru'),
    ],
)
def test_self_referral_by_email_and_its_aliases_is_blocked(api, referrer_email, friend_email):
    campaign(api, rules=BOTH_REWARDS)
    code = referrer(api, email=referrer_email)
    data = signup(api, {"external_id": "u-8", "email": friend_email}, code=code)
    _blocked_without_rewards(data, "self_referral_email")
    assert data["fraud"]["score"] == 1.0
    assert detail(data, "self_referral_email")["signal"] == "email"


def test_different_mailboxes_are_no_self_referral(api):
    campaign(api, rules=BOTH_REWARDS)
    code = referrer(api, email="anna.karenina@yandex.ru")
    data = signup(api, {"external_id": "u-8", "email": "anna.karenina@mail.ru"}, code=code)
    assert data["fraud"] == {"score": 0.0, "decision": "allow", "reasons": [], "details": []}
    assert data["referral"]["status"] == "pending"
    assert [r["status"] for r in data["rewards"]] == ["issued"]


@pytest.mark.parametrize(
    ("referrer_phone", "friend_phone"),
    [
        ("+79161234567", "+7 (916) 123-45-67"),
        ("+7 916 123 45 67", "+79161234567"),
    ],
)
def test_self_referral_by_phone_is_blocked(api, referrer_phone, friend_phone):
    campaign(api, rules=BOTH_REWARDS)
    code = referrer(api, phone=referrer_phone)
    data = signup(api, {"external_id": "u-8", "phone": friend_phone}, code=code)
    _blocked_without_rewards(data, "self_referral_phone")
    assert detail(data, "self_referral_phone")["signal"] == "phone"


def test_self_referral_by_a_national_phone_number_is_blocked(api):
    campaign(api, rules=BOTH_REWARDS)
    code = referrer(api, phone="+79161234567")
    data = signup(api, {"external_id": "u-8", "phone": "8 916 123-45-67"}, code=code)
    _blocked_without_rewards(data, "self_referral_phone")


@pytest.mark.parametrize("signal", ["device_id", "visitor_id"])
def test_self_referral_by_device_or_visitor_id_is_blocked(api, signal):
    campaign(api, rules=BOTH_REWARDS)
    code = _referrer_seen_with(api, **{signal: "dev-3f9a"})
    data = signup(api, "u-8", code=code, context={signal: "dev-3f9a"})
    _blocked_without_rewards(data, "self_referral_device")
    assert data["fraud"]["score"] == pytest.approx(0.9)
    assert detail(data, "self_referral_device")["signal"] == signal.removesuffix("_id")


@pytest.mark.parametrize(
    ("seen", "sent"),
    [
        ("dev-3f9a", "DEV-3F9A"),
        ("A1B2C3D4-E5F6-4789-ABCD-0123456789EF", "a1b2c3d4-e5f6-4789-abcd-0123456789ef"),
    ],
)
def test_self_referral_by_a_device_id_in_another_case_is_blocked(api, seen, sent):
    campaign(api, rules=BOTH_REWARDS)
    code = _referrer_seen_with(api, device_id=seen)
    data = signup(api, "u-8", code=code, context={"device_id": sent})
    _blocked_without_rewards(data, "self_referral_device")


def test_card_seen_only_with_the_first_order_rejects_the_pending_referral(api):
    campaign(api)
    code = referrer(api)
    buy(api, "u-7", "own-1", context={"card_fingerprint": "card-77"})
    data = signup(api, "u-8", code=code)
    assert data["referral"]["status"] == "pending"
    assert data["fraud"]["decision"] == "allow"

    data = buy(api, "u-8", "o-1", context={"card_fingerprint": "card-77"})
    _blocked_without_rewards(data, "self_referral_card")
    assert detail(data, "self_referral_card")["signal"] == "card"
    assert Reward.objects.filter(recipient__external_id="u-7").count() == 0
    assert referral(api, data["referral"]["id"])["status"] == "rejected"


def test_a_card_arriving_later_cancels_the_friends_held_signup_reward(api):
    campaign(api, rules=[REFERRER_REWARD, {**REFEREE_SIGNUP_REWARD, "hold_days": 14}])
    code = referrer(api)
    buy(api, "u-7", "own-1", context={"card_fingerprint": "card-77"})
    [held] = signup(api, "u-8", code=code)["rewards"]
    assert held["status"] == "pending"
    buy(api, "u-8", "o-1", context={"card_fingerprint": "card-77"})
    assert api.get(f"rewards/{held['id']}").json()["status"] == "rejected"
    assert not Certificate.objects.exists()


# --- the same network -------------------------------------------------------------------------


def test_same_ip_alone_is_listed_but_allowed(api):
    campaign(api, rules=BOTH_REWARDS)
    code = _referrer_seen_with(api, ip=IP, user_agent=FIREFOX)
    data = signup(api, "u-8", code=code, context={"ip": IP, "user_agent": SAFARI})
    assert data["fraud"]["score"] == pytest.approx(0.3)
    assert data["fraud"]["decision"] == "allow"
    assert reasons(data) == ["same_ip"]
    assert detail(data, "same_ip") | {"message": ""} == {
        "code": "same_ip",
        "message": "",
        "weight": 0.3,
        "signal": "ip",
        "same_user_agent": False,
    }
    assert data["referral"]["status"] == "pending"
    assert [r["status"] for r in data["rewards"]] == ["issued"]


def test_same_subnet_counts_as_same_ip(api):
    campaign(api, rules=BOTH_REWARDS)
    code = _referrer_seen_with(api, ip="203.0.113.7")
    data = signup(api, "u-8", code=code, context={"ip": "203.0.113.200"})
    assert reasons(data) == ["same_ip"]
    assert detail(data, "same_ip")["signal"] == "ip_net"


def test_same_ip_and_same_user_agent_go_to_review_with_their_rewards(api):
    campaign(api, rules=BOTH_REWARDS)
    code = _referrer_seen_with(api, ip=IP, user_agent=FIREFOX)
    data = signup(api, "u-8", code=code, context={"ip": IP, "user_agent": FIREFOX})
    assert data["fraud"]["score"] == pytest.approx(0.6)
    assert data["fraud"]["decision"] == "review"
    assert reasons(data) == ["same_ip"]
    assert detail(data, "same_ip")["same_user_agent"] is True
    assert detail(data, "same_ip")["weight"] == 0.6
    assert data["referral"]["status"] == "review"
    assert [r["status"] for r in data["rewards"]] == ["review"]
    # The friend's first order pays the referrer into the queue too, not out.
    paid = buy(api, "u-8", "o-1")
    assert paid["referral"]["status"] == "review"
    assert [(r["recipient"], r["status"]) for r in paid["rewards"]] == [("u-7", "review")]
    assert not Certificate.objects.exists()


def test_an_ip_the_referrer_used_long_ago_is_not_shared(api):
    from datetime import timedelta

    from django.utils import timezone

    from sarafan.fraud.models import Fingerprint

    campaign(api)
    code = _referrer_seen_with(api, ip=IP)
    Fingerprint.objects.filter(participant__external_id="u-7").update(
        last_seen_at=timezone.now() - timedelta(days=31)
    )
    assert reasons(signup(api, "u-8", code=code, context={"ip": IP})) == []


# --- what the friend looks like ---------------------------------------------------------------


def test_swapped_first_and_last_names_are_a_weak_similar_name(api):
    campaign(api)
    code = referrer(api, name="Анна Каренина")
    data = signup(api, {"external_id": "u-8", "name": "Каренина Анна"}, code=code)
    assert reasons(data) == ["similar_name"]
    assert data["fraud"]["score"] == pytest.approx(0.2)
    assert data["fraud"]["decision"] == "allow"
    assert data["referral"]["status"] == "pending"


def test_different_names_are_not_similar(api):
    campaign(api)
    code = referrer(api, name="Анна Каренина")
    assert reasons(signup(api, {"external_id": "u-8", "name": "Борис Годунов"}, code=code)) == []


def test_disposable_email_goes_to_review(api):
    campaign(api, rules=BOTH_REWARDS)
    code = referrer(api)
    data = signup(api, {"external_id": "u-8", "email": "x1@mailinator.com"}, code=code)
    assert reasons(data) == ["disposable_email"]
    assert data["fraud"]["decision"] == "review"
    assert detail(data, "disposable_email")["domain"] == "mailinator.com"
    assert [r["status"] for r in data["rewards"]] == ["review"]


def test_existing_customer_is_no_referral_in_a_new_customers_only_campaign(api):
    campaign(api, new_customers_only=True)
    code = referrer(api)
    buy(api, "u-8", "before-1")
    data = buy(api, "u-8", "o-2", code=code)
    assert data["referral"] is None
    assert data["rewards"] == []
    assert reasons(data) == ["existing_customer"]
    assert detail(data, "existing_customer")["message"]
    assert not Referral.objects.exists()


def test_existing_customer_is_welcome_when_the_campaign_allows_it(api):
    campaign(
        api,
        new_customers_only=False,
        rules=[{**REFERRER_REWARD, "trigger": "repeat_order"}],
    )
    code = referrer(api)
    buy(api, "u-8", "before-1")
    data = buy(api, "u-8", "o-2", code=code)
    assert data["referral"]["status"] == "pending"
    assert [r["recipient"] for r in data["rewards"]] == ["u-7"]


# --- block lists ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "value", "customer", "context"),
    [
        ("email_pattern", "bot*@*", {"email": "bot17@mail.example"}, {}),
        ("email_pattern", "anna.k@gmail.com", {"email": "an.na.k+1@gmail.com"}, {}),
        ("email_domain", "spam.example", {"email": "x@mx.spam.example"}, {}),
        ("email_domain", "@Spam.Example", {"email": "x@spam.example"}, {}),
        ("ip_range", "198.51.100.0/24", {}, {"ip": "198.51.100.23"}),
        ("ip_range", "2001:db8::/32", {}, {"ip": "2001:db8:1::5"}),
    ],
)
def test_block_list_entries_block_the_friend(api, kind, value, customer, context):
    campaign(api, rules=BOTH_REWARDS)
    code = referrer(api)
    entry = ok(api.post("fraud/blocklist", {"kind": kind, "value": value, "note": "spam"}))
    assert entry["kind"] == kind
    data = signup(api, {"external_id": "u-8", **customer}, code=code, context=context)
    _blocked_without_rewards(data, "blocklisted")
    assert detail(data, "blocklisted")["entry"] == f"{kind}:{entry['value']}"


def test_friends_outside_the_block_list_pass(api):
    campaign(api)
    code = referrer(api)
    ok(api.post("fraud/blocklist", {"kind": "email_domain", "value": "spam.example"}))
    ok(api.post("fraud/blocklist", {"kind": "ip_range", "value": "198.51.100.0/24"}))
    data = signup(
        api,
        {"external_id": "u-8", "email": "x@notspam.example"},
        code=code,
        context={"ip": "198.51.101.1"},
    )
    assert reasons(data) == []


def test_a_new_block_list_entry_applies_to_the_next_event_at_once(api):
    campaign(api)
    code = referrer(api)
    assert reasons(signup(api, "u-8", code=code)) == []  # the project's lists are read now
    ok(api.post("fraud/blocklist", {"kind": "email_domain", "value": "spam.example"}))
    data = signup(api, {"external_id": "u-9", "email": "x@spam.example"}, code=code)
    assert reasons(data) == ["blocklisted"]


def test_block_list_is_listed_and_entries_removed(api):
    campaign(api)
    code = referrer(api)
    entry = ok(api.post("fraud/blocklist", {"kind": "email_domain", "value": "spam.example"}))
    listed = ok(api.get("fraud/blocklist"), 200)
    assert [e["value"] for e in listed["data"]] == ["spam.example"]
    blocked = signup(api, {"external_id": "u-8", "email": "x@spam.example"}, code=code)
    assert reasons(blocked) == ["blocklisted"]
    assert ok(api.delete(f"fraud/blocklist/{entry['id']}"), 200)["deleted"] is True
    data = signup(api, {"external_id": "u-9", "email": "y@spam.example"}, code=code)
    assert reasons(data) == []
    assert error(api.delete(f"fraud/blocklist/{entry['id']}"), 404)["type"] == "not_found"


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        ("ip_range", "300.1.1.0/24"),
        ("ip_range", "not an address"),
        ("email_domain", "spam"),
        ("email_domain", "a@b.example"),
        ("email_pattern", "nobody"),
    ],
)
def test_bad_block_list_values_are_422_naming_the_value(api, kind, value):
    err = error(api.post("fraud/blocklist", {"kind": kind, "value": value}), 422)
    assert (err["type"], err["param"]) == ("invalid_request", "value")


def test_unknown_block_list_kind_and_duplicates_are_refused(api):
    assert error(api.post("fraud/blocklist", {"kind": "phone", "value": "+7"}), 422)["param"]
    ok(api.post("fraud/blocklist", {"kind": "ip_range", "value": "198.51.100.0/24"}))
    again = api.post("fraud/blocklist", {"kind": "ip_range", "value": "198.51.100.7/24"})
    assert error(again, 409)["code"] == "duplicate"


# --- fraudsters -------------------------------------------------------------------------------


def test_a_fraudsters_device_flags_a_later_friend_who_shares_it(api):
    campaign(api, rules=BOTH_REWARDS)
    first, second = referrer(api, "u-7"), referrer(api, "u-9")
    case = signup(api, "u-42", code=first, context={"device_id": "dev-fraud", "ip": IP})
    marked = ok(api.post("fraud/fraudsters", {"participant": "u-42", "reason": "chargebacks"}), 200)
    assert marked == {"object": "fraudster", "participant": "u-42", "rejected": 1}
    assert referral(api, case["referral"]["id"])["status"] == "rejected"

    data = signup(api, "u-43", code=second, context={"device_id": "dev-fraud"})
    _blocked_without_rewards(data, "flagged_signal")
    assert "device" in detail(data, "flagged_signal")["signals"]


def test_a_friend_of_a_marked_referrer_is_blocked(api):
    campaign(api, rules=BOTH_REWARDS)
    code = referrer(api)
    ok(api.post("fraud/fraudsters", {"participant": "u-7"}), 200)
    data = signup(api, "u-8", code=code)
    _blocked_without_rewards(data, "referrer_flagged")


def test_taking_a_fraudster_mark_back_stops_the_flagging(api):
    campaign(api)
    first, second = referrer(api, "u-7"), referrer(api, "u-9")
    signup(api, "u-42", code=first, context={"device_id": "dev-fraud"})
    ok(api.post("fraud/fraudsters", {"participant": "u-42"}), 200)
    assert ok(api.delete("fraud/fraudsters/u-42"), 200)["deleted"] is True
    data = signup(api, "u-43", code=second, context={"device_id": "dev-fraud"})
    assert "flagged_signal" not in reasons(data)
    assert Participant.objects.get(external_id="u-42").fraud_flagged_at is None


def test_marking_an_unknown_participant_is_404(api):
    err = error(api.post("fraud/fraudsters", {"participant": "nobody"}), 404)
    assert err["param"] == "participant"
    assert error(api.post("fraud/fraudsters", {"participant": "u-7", "x": 1}), 422)


# --- how the friend arrived -------------------------------------------------------------------


@pytest.mark.parametrize("query", ["gclid=Cj0KCQ", "yclid=5501", "fbclid=IwAR", "GCLID=Cj0"])
def test_a_click_from_a_paid_ad_is_flagged(api, query):
    campaign(api, rules=BOTH_REWARDS)
    code = referrer(api)
    _, visitor = visit(f"/r/{code}?{query}")
    data = signup(api, "u-8", context={"visitor_id": visitor})
    assert data["referral"]["referrer"] == "u-7"
    assert reasons(data) == ["paid_ad_traffic"]
    assert data["fraud"]["decision"] == "review"
    assert detail(data, "paid_ad_traffic")["params"] == [query.split("=")[0].lower()]
    assert [r["status"] for r in data["rewards"]] == ["review"]


def test_a_partners_click_id_is_not_a_paid_ad(api):
    campaign(api)
    code = referrer(api)
    _, visitor = visit(f"/r/{code}?prm_click_id=abc")
    assert reasons(signup(api, "u-8", context={"visitor_id": visitor})) == []


def test_a_campaigns_own_paid_ad_params_replace_the_default_list(api):
    campaign(api, fraud={"paid_ad_params": ["prm_click_id"]})
    code = referrer(api)
    _, visitor = visit(f"/r/{code}?prm_click_id=abc")
    assert reasons(signup(api, "u-8", context={"visitor_id": visitor})) == ["paid_ad_traffic"]
    _, other = visit(f"/r/{code}?gclid=abc")
    assert reasons(signup(api, "u-9", context={"visitor_id": other})) == []


def test_a_paid_ad_click_is_flagged_when_the_event_also_names_the_code(api):
    campaign(api)
    code = referrer(api)
    _, visitor = visit(f"/r/{code}?gclid=Cj0KCQ")
    data = signup(api, "u-8", code=code, context={"visitor_id": visitor})
    assert reasons(data) == ["paid_ad_traffic"]


@pytest.mark.parametrize(
    "referer",
    [
        "https://coupons.example/deal/1",
        "https://www.coupons.example/",
        "http://m.coupons.example/x",
    ],
)
def test_a_click_from_a_banned_site_is_blocked(api, referer):
    campaign(api, rules=BOTH_REWARDS, fraud={"banned_referrer_domains": ["coupons.example"]})
    code = referrer(api)
    _, visitor = visit(f"/r/{code}", HTTP_REFERER=referer)
    data = signup(api, "u-8", context={"visitor_id": visitor})
    _blocked_without_rewards(data, "banned_referrer")
    assert detail(data, "banned_referrer")["domain"] == "coupons.example"


def test_a_click_from_another_site_is_fine(api):
    campaign(api, fraud={"banned_referrer_domains": ["coupons.example"]})
    code = referrer(api)
    _, visitor = visit(f"/r/{code}", HTTP_REFERER="https://notcoupons.example/")
    assert reasons(signup(api, "u-8", context={"visitor_id": visitor})) == []


@pytest.mark.parametrize(
    "user_agent",
    [
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        "TelegramBot (like TwitterBot)",
        "curl/8.5.0",
        "",
    ],
)
def test_a_bots_click_never_attributes(api, user_agent):
    campaign(api, rules=BOTH_REWARDS)
    code = referrer(api)
    _, visitor = visit(f"/r/{code}", user_agent=user_agent)
    data = signup(api, "u-8", context={"visitor_id": visitor})
    assert data["referral"] is None
    assert data["rewards"] == []


# --- after a rejection ------------------------------------------------------------------------


def test_a_customer_rejected_as_fraud_earns_nobody_anything_later(api):
    campaign(
        api,
        rules=[
            REFERRER_REWARD,
            {
                "recipient": "referrer",
                "trigger": "repeat_order",
                "kind": "percent",
                "percent": "5",
            },
        ],
    )
    code = referrer(api, email="anna@example.ru")
    other = referrer(api, "u-9")
    data = signup(api, {"external_id": "u-8", "email": "anna@example.ru"}, code=code)
    assert data["referral"]["status"] == "rejected"
    first = buy(api, "u-8", "o-1", code=other)
    again = buy(api, "u-8", "o-2", code=other)
    for body in (first, again):
        assert body["referral"]["referrer"] == "u-7"
        assert body["referral"]["status"] == "rejected"
        assert body["rewards"] == []
        assert body["fraud"]["decision"] == "block"
    assert not Reward.objects.exists()


# --- refunds ----------------------------------------------------------------------------------


def _four_friends_ordered(api):
    campaign(api)
    code = referrer(api)
    for index in range(4):
        buy(api, f"f{index}", f"o{index}", code=code)
    return code


def test_refunds_over_a_quarter_of_referred_orders_flag_the_referrer(api):
    code = _four_friends_ordered(api)
    refund(api, "o0")
    assert Participant.objects.get(external_id="u-7").risk_flags == []  # exactly 25 %
    refund(api, "o1")
    assert Participant.objects.get(external_id="u-7").risk_flags == ["high_refund_rate"]

    data = signup(api, "f9", code=code)
    assert reasons(data) == ["high_refund_rate"]
    assert data["fraud"]["decision"] == "review"
    assert data["referral"]["status"] == "review"
    evidence = referral(api, data["referral"]["id"])["evidence"]
    assert evidence["referrer"]["risk_flags"] == ["high_refund_rate"]


def test_refunds_below_the_minimum_number_of_orders_flag_nobody(api):
    campaign(api)
    code = referrer(api)
    for index in range(3):
        buy(api, f"f{index}", f"o{index}", code=code)
        refund(api, f"o{index}")
    assert Participant.objects.get(external_id="u-7").risk_flags == []


def test_the_campaign_sets_the_refund_threshold(api):
    campaign(api, fraud={"refund_rate_threshold": 0.2, "refund_rate_min_orders": 2})
    code = referrer(api)
    for index in range(4):
        buy(api, f"f{index}", f"o{index}", code=code)
    refund(api, "o0")  # 25 % > 20 %
    assert Participant.objects.get(external_id="u-7").risk_flags == ["high_refund_rate"]


def test_a_refund_cancels_rewards_still_held_or_in_review(api):
    campaign(api, rules=[{**REFERRER_REWARD, "hold_days": 14}])
    code = referrer(api)
    [pending] = buy(api, "u-8", "o-1", code=code)["rewards"]
    [review] = buy(api, {"external_id": "u-9", "email": "u-9@mailinator.com"}, "o-2", code=code)[
        "rewards"
    ]
    assert (pending["status"], review["status"]) == ("pending", "review")
    assert [r["status"] for r in refund(api, "o-1")["rewards"]] == ["cancelled"]
    assert [r["status"] for r in refund(api, "o-2")["rewards"]] == ["cancelled"]
    assert not Certificate.objects.exists()


def test_a_refund_claws_back_the_rewards_of_the_order(api):
    campaign(api, rules=[REFERRER_REWARD, {**REFERRER_REWARD, "trigger": "repeat_order"}])
    code = referrer(api)
    [issued] = buy(api, "u-8", "o-1", code=code)["rewards"]
    certificate = api.get(f"rewards/{issued['id']}").json()["certificate"]
    redeem = f"certificates/{certificate['code']}/redeem"
    ok(api.post(redeem, {"amount": "200.00", "order_id": "shop-1"}))
    data = refund(api, "o-1")
    assert data["clawed_back"] == "300.00"
    assert [r["status"] for r in data["rewards"]] == ["cancelled"]
    assert api.get(f"certificates/{certificate['code']}").json()["balance"] == "0.00"


# --- the fraud object -------------------------------------------------------------------------


def test_the_fraud_object_explains_each_reason_in_the_requests_language(api):
    campaign(api)
    code = _referrer_seen_with(api, ip=IP, user_agent=FIREFOX)
    friend = {"external_id": "u-8", "email": "x@mailinator.com"}
    data = signup(
        api,
        friend,
        code=code,
        context={"ip": IP, "user_agent": SAFARI},
        headers={"Accept-Language": "en"},
    )
    fraud = data["fraud"]
    assert set(fraud) == {"score", "decision", "reasons", "details"}
    assert fraud["reasons"] == ["same_ip", "disposable_email"]
    assert fraud["score"] == pytest.approx(0.72)  # 1 − 0.7 × 0.4
    assert fraud["decision"] == "review"
    assert [item["code"] for item in fraud["details"]] == fraud["reasons"]
    with translation.override("en"):
        assert detail(data, "disposable_email")["message"] == (
            "The friend's e-mail is on a disposable (throw-away) domain."
        )
    assert detail(data, "same_ip")["message"] == (
        "Referrer and friend came from the same IP address or subnet."
    )
    stored = referral(api, data["referral"]["id"])
    assert stored["risk"]["reasons"] == fraud["reasons"]
    assert stored["risk"]["score"] == fraud["score"]
    in_russian = api.request(
        "GET", f"referrals/{data['referral']['id']}", headers={"Accept-Language": "ru"}
    ).json()
    assert detail(in_russian, "same_ip")["message"] != detail(data, "same_ip")["message"]


def test_marking_a_referrer_rejects_rewards_still_in_their_hold_period(api):
    from datetime import timedelta

    from django.utils import timezone

    from sarafan.rewards.services import release_due_rewards

    campaign(api, rules=[{**REFERRER_REWARD, "hold_days": 14}])
    code = referrer(api)
    data = buy(api, "u-8", "o-1", code=code)
    assert data["referral"]["status"] == "qualified"
    [held] = data["rewards"]
    assert held["status"] == "pending"
    assert ok(api.post("fraud/fraudsters", {"participant": "u-7"}), 200)["rejected"] == 1
    assert referral(api, data["referral"]["id"])["status"] == "rejected"
    assert api.get(f"rewards/{held['id']}").json()["status"] == "rejected"
    assert release_due_rewards(now=timezone.now() + timedelta(days=15)) == 0
    assert not Certificate.objects.exists()


def test_block_lists_and_fraudster_marks_are_per_mode(api, live_api):
    campaign(api)
    campaign(live_api)
    test_code, live_code = referrer(api), referrer(live_api)
    ok(api.post("fraud/blocklist", {"kind": "email_domain", "value": "spam.example"}))
    assert ok(live_api.get("fraud/blocklist"), 200)["data"] == []
    friend = {"external_id": "u-8", "email": "x@spam.example"}
    assert reasons(signup(live_api, dict(friend), code=live_code)) == []
    assert reasons(signup(api, dict(friend), code=test_code)) == ["blocklisted"]
    assert error(live_api.post("fraud/fraudsters", {"participant": "u-9"}), 404)
    assert ok(live_api.get("fraud/decisions"), 200)["data"] == []
