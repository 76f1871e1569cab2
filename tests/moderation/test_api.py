"""The moderation queue through the API: list, evidence, approve, reject, bulk, reverse, deadlines."""

from datetime import timedelta

import pytest
from django.utils import timezone

from sarafan.moderation.services import apply_review_deadlines
from sarafan.referrals.models import Referral, ReferralEvent
from sarafan.rewards.models import Certificate
from tests.fraud.support import (
    REFEREE_SIGNUP_REWARD,
    REFERRER_REWARD,
    buy,
    campaign,
    error,
    ok,
    referral,
    referrer,
    signup,
)

IP = "203.0.113.7"
SIGNUP_AND_ORDER = [REFERRER_REWARD, REFEREE_SIGNUP_REWARD]


def _case(api, friend="u-8", *, code, name=None, context=None):
    """A friend with a throw-away e-mail (0.6 → review); returns the event's answer."""
    customer = {"external_id": friend, "email": f"{friend}@mailinator.com"}
    if name:
        customer["name"] = name
    data = signup(api, customer, code=code, context=context)
    assert data["referral"]["status"] == "review", data["fraud"]
    return data


def _stats(api, body):
    return ok(api.get(f"campaigns/{body['id']}"), 200)["stats"]


def _reward(api, reward_id):
    return ok(api.get(f"rewards/{reward_id}"), 200)


def _decisions(api):
    return ok(api.get("fraud/decisions", limit=100), 200)["data"]


def _list(api, **query):
    return ok(api.get("referrals", limit=100, **query), 200)["data"]


@pytest.fixture
def three_cases(api):
    """Cases scored 0.6 (throw-away e-mail), 0.68 (+ similar name) and 0.72 (+ same IP)."""
    campaign(api, rules=SIGNUP_AND_ORDER)
    code = referrer(api, name="Анна Каренина")
    signup(api, "u-7", context={"ip": IP})
    plain = _case(api, "a", code=code)
    named = _case(api, "b", code=code, name="Каренина Анна")
    same_ip = _case(api, "c", code=code, context={"ip": IP})
    allowed = signup(api, "d", code=code)
    return {
        "plain": plain["referral"]["id"],
        "named": named["referral"]["id"],
        "same_ip": same_ip["referral"]["id"],
        "allowed": allowed["referral"]["id"],
    }


# --- the queue --------------------------------------------------------------------------------


def test_list_filters_by_status_score_and_reason(api, three_cases):
    ids = three_cases
    assert {r["id"] for r in _list(api, status="review")} == {
        ids["plain"],
        ids["named"],
        ids["same_ip"],
    }
    assert {r["id"] for r in _list(api, status="review", min_score=0.65)} == {
        ids["named"],
        ids["same_ip"],
    }
    assert [r["id"] for r in _list(api, reason="similar_name")] == [ids["named"]]
    assert [r["id"] for r in _list(api, reason="same_ip")] == [ids["same_ip"]]
    assert [r["id"] for r in _list(api, status="pending")] == [ids["allowed"]]
    scores = {r["id"]: r["risk"]["score"] for r in _list(api)}
    assert scores[ids["plain"]] == pytest.approx(0.6)
    assert scores[ids["named"]] == pytest.approx(0.68)
    assert scores[ids["same_ip"]] == pytest.approx(0.72)


def test_list_filter_errors(api, three_cases):
    assert error(api.get("referrals", min_score=2), 422)["type"] == "invalid_request"
    assert error(api.get("referrals", status="lost"), 422)["type"] == "invalid_request"
    assert error(api.get("referrals", referrer="nobody"), 404)["param"] == "referrer"


def test_detail_shows_the_evidence_side_by_side(api, three_cases):
    case = referral(api, three_cases["same_ip"])
    assert case["status"] == "review"
    assert case["risk"]["reasons"] == ["same_ip", "disposable_email"]
    assert [d["code"] for d in case["risk"]["details"]] == ["same_ip", "disposable_email"]
    assert all(d["message"] for d in case["risk"]["details"])
    evidence = case["evidence"]
    assert evidence["referrer"]["external_id"] == "u-7"
    assert evidence["referee"]["external_id"] == "c"
    signals = {row["kind"]: row for row in evidence["signals"]}
    assert signals["ip"]["shared"] is True
    assert signals["ip"]["referrer"] == signals["ip"]["referee"]
    assert signals["email"]["shared"] is False
    assert error(api.get("referrals/ref_nope"), 404)["param"] == "id"


# --- approve and reject -----------------------------------------------------------------------


def test_approve_issues_the_held_rewards(api):
    campaign(api, rules=SIGNUP_AND_ORDER)
    code = referrer(api)
    case = _case(api, code=code)
    [held] = case["rewards"]
    assert held["status"] == "review"

    answer = ok(api.post(f"referrals/{case['referral']['id']}/approve", {"reason": "called"}), 200)
    assert answer["status"] == "pending"  # no order yet
    assert answer["decision"].startswith("dec_")
    reward = _reward(api, held["id"])
    assert reward["status"] == "issued"
    assert reward["certificate"]["balance"] == "300.00"
    # The friend's first order then pays the referrer as usual.
    order = buy(api, "u-8", "o-1")
    assert order["referral"]["status"] == "qualified"
    assert [(r["recipient"], r["status"]) for r in order["rewards"]] == [("u-7", "issued")]


def test_approve_after_the_first_order_qualifies_the_referral(api):
    campaign(api, rules=SIGNUP_AND_ORDER)
    case = _case(api, code=referrer(api))
    order = buy(api, "u-8", "o-1")
    assert order["referral"]["status"] == "review"
    [held] = order["rewards"]
    answer = ok(api.post(f"referrals/{case['referral']['id']}/approve"), 200)
    assert answer["status"] == "qualified"
    assert answer["qualified_at"] is not None
    assert _reward(api, held["id"])["status"] == "issued"


def test_approve_keeps_a_reward_in_its_hold_period_pending(api):
    campaign(api, rules=[{**REFEREE_SIGNUP_REWARD, "hold_days": 14}])
    case = _case(api, code=referrer(api))
    [held] = case["rewards"]
    ok(api.post(f"referrals/{case['referral']['id']}/approve"), 200)
    reward = _reward(api, held["id"])
    assert (reward["status"], reward["certificate"]) == ("pending", None)


def test_reject_rejects_the_rewards_and_releases_the_budget(api):
    body = campaign(api, rules=SIGNUP_AND_ORDER, limits={"budget": "10000.00"})
    case = _case(api, code=referrer(api))
    [held] = case["rewards"]
    assert _stats(api, body) == {"spent": "300.00", "rewards_count": 1}

    answer = ok(api.post(f"referrals/{case['referral']['id']}/reject", {"reason": "fake"}), 200)
    assert answer["status"] == "rejected"
    assert _reward(api, held["id"])["status"] == "rejected"
    assert _stats(api, body) == {"spent": "0.00", "rewards_count": 0}
    later = buy(api, "u-8", "o-1")
    assert later["rewards"] == []
    assert not Certificate.objects.exists()


def test_deciding_twice_or_a_case_not_in_review_is_a_conflict(api):
    campaign(api)
    code = referrer(api)
    case = _case(api, code=code)
    path = f"referrals/{case['referral']['id']}"
    ok(api.post(f"{path}/reject"), 200)
    assert error(api.post(f"{path}/approve"), 409)["code"] == "not_in_review"
    allowed = signup(api, "u-9", code=code)
    err = error(api.post(f"referrals/{allowed['referral']['id']}/reject"), 409)
    assert (err["type"], err["code"]) == ("conflict", "not_in_review")


def test_decision_errors_are_in_the_error_shape(api):
    campaign(api)
    case = _case(api, code=referrer(api))
    path = f"referrals/{case['referral']['id']}"
    assert error(api.post("referrals/ref_nope/approve"), 404)["type"] == "not_found"
    assert error(api.post(f"{path}/approve", {"why": "x"}), 422)["type"] == "invalid_request"
    assert error(api.post(f"{path}/reject", {"reason": "x" * 501}), 422)["param"]
    assert referral(api, case["referral"]["id"])["status"] == "review"


def test_every_decision_records_who_when_and_why(api):
    campaign(api)
    case = _case(api, code=referrer(api))
    answer = ok(api.post(f"referrals/{case['referral']['id']}/reject", {"reason": "fake"}), 200)
    [decision] = _decisions(api)
    assert decision["id"] == answer["decision"]
    assert decision["action"] == "reject"
    assert decision["referral"] == case["referral"]["id"]
    assert decision["reward"] is None
    assert (decision["actor"], decision["reason"]) == ("api", "fake")
    assert decision["created_at"]
    assert decision["reversed_at"] is None


# --- bulk -------------------------------------------------------------------------------------


def test_bulk_decision_by_ids(api, three_cases):
    ids = three_cases
    body = {
        "action": "reject",
        "ids": [ids["plain"], ids["named"], "ref_nope", ids["allowed"]],
        "reason": "ring",
    }
    result = ok(api.post("referrals/review", body), 200)
    assert (result["decided"], result["skipped"]) == (2, 2)
    statuses = {r["id"]: r["status"] for r in _list(api)}
    assert statuses[ids["plain"]] == statuses[ids["named"]] == "rejected"
    assert statuses[ids["same_ip"]] == "review"
    assert statuses[ids["allowed"]] == "pending"


def test_bulk_decision_by_filter(api, three_cases):
    ids = three_cases
    low = ok(
        api.post("referrals/review", {"action": "approve", "filter": {"max_score": 0.65}}), 200
    )
    assert (low["decided"], low["skipped"]) == (1, 0)
    high = ok(
        api.post("referrals/review", {"action": "reject", "filter": {"reason": "same_ip"}}), 200
    )
    assert high["decided"] == 1
    statuses = {r["id"]: r["status"] for r in _list(api)}
    assert statuses[ids["plain"]] == "pending"
    assert statuses[ids["same_ip"]] == "rejected"
    assert statuses[ids["named"]] == "review"
    rest = ok(api.post("referrals/review", {"action": "reject", "filter": {"min_score": 0.6}}), 200)
    assert rest["decided"] == 1
    assert _list(api, status="review") == []


def test_bulk_decision_errors(api, three_cases):
    for body in (
        {"action": "approve"},
        {"action": "approve", "ids": [three_cases["plain"]], "filter": {}},
        {"action": "approve", "ids": []},
        {"action": "maybe", "ids": [three_cases["plain"]]},
        {"action": "approve", "filter": {"min_score": 3}},
    ):
        assert error(api.post("referrals/review", body), 422)["type"] == "invalid_request"
    bad = {"action": "approve", "filter": {"reason": "bad_vibes"}}
    assert error(api.post("referrals/review", bad), 422)["param"] == "filter.reason"
    assert len(_list(api, status="review")) == 3


# --- single rewards ---------------------------------------------------------------------------


def test_reward_approve_and_reject_are_recorded_decisions(api):
    body = campaign(api, rules=SIGNUP_AND_ORDER, limits={"budget": "10000.00"})
    code = referrer(api)
    [first] = _case(api, "u-8", code=code)["rewards"]
    [second] = _case(api, "u-9", code=code)["rewards"]

    approved = ok(api.post(f"rewards/{first['id']}/approve", {"note": "fine"}), 200)
    assert approved["status"] == "issued"
    assert approved["certificate"]["amount"] == "300.00"
    rejected = ok(api.post(f"rewards/{second['id']}/reject", {"note": "fake"}), 200)
    assert rejected["status"] == "rejected"
    assert _stats(api, body)["spent"] == "300.00"

    newest, oldest = _decisions(api)
    assert (oldest["action"], oldest["reward"], oldest["reason"]) == (
        "approve",
        first["id"],
        "fine",
    )
    assert (newest["action"], newest["reward"], newest["reason"]) == (
        "reject",
        second["id"],
        "fake",
    )
    assert newest["referral"] == rejected["referral"]
    assert error(api.post(f"rewards/{second['id']}/approve"), 409)["type"] == "conflict"
    assert error(api.post("rewards/rwd_nope/reject"), 404)["type"] == "not_found"


def test_a_reward_rejection_is_reversed_back_into_review(api):
    body = campaign(api, rules=SIGNUP_AND_ORDER, limits={"budget": "10000.00"})
    [held] = _case(api, code=referrer(api))["rewards"]
    ok(api.post(f"rewards/{held['id']}/reject"), 200)
    [decision] = _decisions(api)
    ok(api.post(f"fraud/decisions/{decision['id']}/reverse"), 200)
    assert _reward(api, held["id"])["status"] == "review"
    assert _stats(api, body)["spent"] == "300.00"


# --- reversing --------------------------------------------------------------------------------


def test_reversing_a_rejection_puts_the_case_back_in_review(api):
    body = campaign(api, rules=SIGNUP_AND_ORDER, limits={"budget": "10000.00"})
    case = _case(api, code=referrer(api))
    [held] = case["rewards"]
    decision = ok(api.post(f"referrals/{case['referral']['id']}/reject"), 200)["decision"]
    assert _stats(api, body)["spent"] == "0.00"

    reversed_ = ok(api.post(f"fraud/decisions/{decision}/reverse", {"reason": "mistake"}), 200)
    assert reversed_["reversed_at"] is not None
    assert reversed_["reversed_by"] == "api"
    assert referral(api, case["referral"]["id"])["status"] == "review"
    assert _reward(api, held["id"])["status"] == "review"
    assert _stats(api, body) == {"spent": "300.00", "rewards_count": 1}
    again = api.post(f"fraud/decisions/{decision}/reverse")
    assert error(again, 409)["code"] == "already_reversed"
    # And it can be decided anew.
    ok(api.post(f"referrals/{case['referral']['id']}/approve"), 200)
    assert _reward(api, held["id"])["status"] == "issued"


def test_reversing_an_approval_while_the_reward_is_held(api):
    campaign(api, rules=[{**REFEREE_SIGNUP_REWARD, "hold_days": 14}])
    case = _case(api, code=referrer(api))
    [held] = case["rewards"]
    decision = ok(api.post(f"referrals/{case['referral']['id']}/approve"), 200)["decision"]
    assert _reward(api, held["id"])["status"] == "pending"

    ok(api.post(f"fraud/decisions/{decision}/reverse"), 200)
    assert referral(api, case["referral"]["id"])["status"] == "review"
    assert _reward(api, held["id"])["status"] == "review"
    assert [r["id"] for r in _list(api, status="review")] == [case["referral"]["id"]]


def test_no_reversal_once_a_reward_is_paid_out(api):
    campaign(api, rules=SIGNUP_AND_ORDER)
    case = _case(api, code=referrer(api))
    decision = ok(api.post(f"referrals/{case['referral']['id']}/approve"), 200)["decision"]
    err = error(api.post(f"fraud/decisions/{decision}/reverse"), 409)
    assert (err["type"], err["code"]) == ("conflict", "already_paid_out")
    assert referral(api, case["referral"]["id"])["status"] == "pending"
    assert [d["reversed_at"] for d in _decisions(api)] == [None]


def test_no_reversal_of_a_rejection_the_budget_no_longer_covers(api):
    campaign(api, rules=SIGNUP_AND_ORDER, limits={"budget": "300.00"})
    code = referrer(api)
    case = _case(api, code=code)
    decision = ok(api.post(f"referrals/{case['referral']['id']}/reject"), 200)["decision"]
    assert [r["status"] for r in signup(api, "u-9", code=code)["rewards"]] == ["issued"]
    err = error(api.post(f"fraud/decisions/{decision}/reverse"), 409)
    assert err["code"] == "budget_exhausted"
    assert referral(api, case["referral"]["id"])["status"] == "rejected"


def test_reversing_an_unknown_decision_is_404(api):
    assert error(api.post("fraud/decisions/dec_nope/reverse"), 404)["param"] == "id"


# --- review deadline --------------------------------------------------------------------------


def _age(referral_id, days):
    """The case was created, and went to review, `days` ago."""
    then = timezone.now() - timedelta(days=days)
    Referral.objects.filter(public_id=referral_id).update(created_at=then)
    ReferralEvent.objects.filter(referral__public_id=referral_id).update(created_at=then)


@pytest.mark.parametrize(
    ("action", "status", "reward"),
    [("approve", "pending", "issued"), ("reject", "rejected", "rejected")],
)
def test_cases_nobody_decided_are_decided_at_the_deadline(api, action, status, reward):
    campaign(
        api,
        rules=SIGNUP_AND_ORDER,
        fraud={"review_deadline_days": 3, "review_deadline_action": action},
    )
    case = _case(api, code=referrer(api))
    [held] = case["rewards"]
    assert apply_review_deadlines() == 0
    _age(case["referral"]["id"], 2)
    assert apply_review_deadlines() == 0
    _age(case["referral"]["id"], 4)
    assert apply_review_deadlines() == 1

    assert referral(api, case["referral"]["id"])["status"] == status
    assert _reward(api, held["id"])["status"] == reward
    [decision] = _decisions(api)
    assert (decision["action"], decision["actor"]) == (action, "system:review_deadline")
    assert "3 days" in decision["reason"]


def test_a_campaign_without_a_deadline_keeps_its_cases(api):
    campaign(api, fraud={"weights": {"same_ip": 0.4}})
    case = _case(api, code=referrer(api))
    _age(case["referral"]["id"], 400)
    assert apply_review_deadlines() == 0
    assert referral(api, case["referral"]["id"])["status"] == "review"


def test_the_deadline_counts_from_when_the_case_was_held(api):
    campaign(api, fraud={"review_deadline_days": 3, "review_deadline_action": "approve"})
    code = referrer(api)
    browser = {"ip": IP, "user_agent": "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Firefox/133.0"}
    signup(api, "u-7", context=browser)
    early = signup(api, "u-8", code=code)
    assert early["referral"]["status"] == "pending"
    _age(early["referral"]["id"], 10)
    # Ten days on, the friend orders from the referrer's browser: a fresh case to look at.
    held = buy(api, "u-8", "o-1", context=browser)
    assert held["referral"]["status"] == "review", held["fraud"]
    assert apply_review_deadlines() == 0
    assert referral(api, early["referral"]["id"])["status"] == "review"


def test_new_evidence_puts_an_approved_case_back_in_the_queue(api):
    campaign(api, rules=SIGNUP_AND_ORDER)
    code = referrer(api)
    browser = {"ip": IP, "user_agent": "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Firefox/133.0"}
    signup(api, "u-7", context=browser)
    case = _case(api, code=code)
    ok(api.post(f"referrals/{case['referral']['id']}/approve"), 200)
    # The same throw-away address again changes nothing…
    again = signup(api, {"external_id": "u-8", "email": "u-8@mailinator.com"})
    assert again["referral"]["status"] == "pending"
    # …but an order from the referrer's own browser is new evidence.
    order = buy(api, "u-8", "o-1", context=browser)
    assert order["referral"]["status"] == "review"
    assert order["fraud"]["reasons"] == ["disposable_email", "same_ip"]
    assert [r["status"] for r in order["rewards"]] == ["review"]


def test_no_reversal_of_a_rejection_past_the_referrers_monthly_limit(api):
    campaign(api, limits={"per_referrer_per_month": 1})
    code = referrer(api)
    case = _case(api, code=code)
    [held] = buy(api, "u-8", "o-1")["rewards"]
    assert held["status"] == "review"
    decision = ok(api.post(f"referrals/{case['referral']['id']}/reject"), 200)["decision"]
    # The rejected reward freed the month's one slot, and another friend took it.
    assert [r["status"] for r in buy(api, "u-9", "o-2", code=code)["rewards"]] == ["issued"]
    err = error(api.post(f"fraud/decisions/{decision}/reverse"), 409)
    assert err["code"] == "limit_per_referrer"
    assert _reward(api, held["id"])["status"] == "rejected"
    assert referral(api, case["referral"]["id"])["status"] == "rejected"
