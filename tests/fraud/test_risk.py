"""The risk score: 1 − Π(1 − w), the decision table, campaign overrides, holds and merging."""

import pytest
from django.utils import translation

from sarafan.fraud.risk import (
    ALLOW,
    BLOCK,
    REASONS,
    REVIEW,
    Finding,
    Risk,
    decide,
    merge,
    message,
    score,
)


def test_no_reasons_score_zero_and_allow():
    risk = score([])
    assert (risk.score, risk.decision, risk.reasons, risk.details) == (0.0, ALLOW, [], {})


def test_weak_reasons_add_up_as_independent_evidence():
    risk = score([Finding("same_ip"), Finding("similar_name")])
    # 1 − (1 − 0.3)(1 − 0.2)
    assert risk.score == pytest.approx(0.44)
    assert risk.decision == ALLOW
    assert risk.reasons == ["same_ip", "similar_name"]


def test_two_signals_of_point_three_make_point_five_one():
    risk = score([Finding("same_ip"), Finding("paid_ad_traffic")], weights={"paid_ad_traffic": 0.3})
    assert risk.score == pytest.approx(0.51)
    assert risk.decision == REVIEW


def test_one_strong_reason_is_enough_and_the_score_stays_within_one():
    risk = score(
        [Finding("self_referral_email"), Finding("self_referral_card"), Finding("same_ip")]
    )
    assert risk.score == 1.0
    assert risk.decision == BLOCK


def test_a_reason_found_twice_counts_once():
    risk = score([Finding("same_ip", {"signal": "ip"}), Finding("same_ip", {"signal": "ip_net"})])
    assert risk.score == pytest.approx(0.3)
    assert risk.reasons == ["same_ip"]
    assert risk.details["same_ip"] == {"weight": 0.3, "signal": "ip"}


def test_same_ip_with_the_same_user_agent_weighs_point_six():
    risk = score(
        [Finding("same_ip", {"same_user_agent": True}, weight_key="same_ip_and_user_agent")]
    )
    assert risk.score == pytest.approx(0.6)
    assert risk.decision == REVIEW
    assert risk.reasons == ["same_ip"]
    assert risk.details["same_ip"]["weight"] == 0.6


@pytest.mark.parametrize(
    ("value", "decision"),
    [
        (0.0, ALLOW),
        (0.4999, ALLOW),
        (0.5, REVIEW),
        (0.8999, REVIEW),
        (0.9, BLOCK),
        (1.0, BLOCK),
    ],
)
def test_decision_table_with_the_default_thresholds(value, decision):
    assert decide(value) == decision


@pytest.mark.parametrize(
    ("code", "decision"),
    [
        ("similar_name", ALLOW),  # 0.2
        ("same_ip", ALLOW),  # 0.3
        ("fast_conversion", ALLOW),  # 0.4, without a hold
        ("paid_ad_traffic", REVIEW),  # 0.5: exactly review_at
        ("high_refund_rate", REVIEW),  # 0.5
        ("disposable_email", REVIEW),  # 0.6
        ("velocity_device", REVIEW),  # 0.7
        ("self_referral_device", BLOCK),  # 0.9: exactly block_at
        ("self_referral_email", BLOCK),  # 1.0
        ("blocklisted", BLOCK),
        ("banned_referrer", BLOCK),
    ],
)
def test_each_reason_alone_decides_by_its_default_weight(code, decision):
    assert score([Finding(code)]).decision == decision


def test_exactly_at_the_campaigns_thresholds_is_the_stricter_decision():
    two_halves = [Finding("paid_ad_traffic"), Finding("high_refund_rate")]  # 1 − 0.5² = 0.75
    assert score(two_halves, review_at=0.75, block_at=0.95).decision == REVIEW
    assert score(two_halves, review_at=0.5, block_at=0.75).decision == BLOCK
    assert score(two_halves, review_at=0.76, block_at=0.95).decision == ALLOW


def test_campaign_weights_replace_the_defaults():
    risk = score([Finding("same_ip")], weights={"same_ip": 0.95})
    assert (risk.score, risk.decision) == (pytest.approx(0.95), BLOCK)
    assert risk.details["same_ip"]["weight"] == 0.95
    silenced = score([Finding("self_referral_device")], weights={"self_referral_device": 0.0})
    assert (silenced.score, silenced.decision) == (0.0, ALLOW)
    assert silenced.reasons == ["self_referral_device"]  # listed, though weightless


def test_campaign_thresholds_move_the_boundaries():
    findings = [Finding("same_ip")]
    assert score(findings, review_at=0.3, block_at=0.9).decision == REVIEW
    assert score(findings, review_at=0.2, block_at=0.3).decision == BLOCK
    assert score(findings, review_at=0.31, block_at=0.9).decision == ALLOW


def test_a_hold_forces_review_whatever_the_score():
    held = score([Finding("fast_conversion", {"seconds": 3}, hold=True)])
    assert (held.score, held.decision) == (pytest.approx(0.4), REVIEW)
    weightless = score([Finding("velocity_ip", hold=True)], weights={"velocity_ip": 0.0})
    assert weightless.decision == REVIEW


def test_a_hold_never_relaxes_a_block():
    risk = score([Finding("self_referral_email"), Finding("velocity_ip", hold=True)])
    assert risk.decision == BLOCK


def test_unknown_codes_weigh_nothing():
    risk = score([Finding("limit_per_referrer")])
    assert (risk.score, risk.decision, risk.reasons) == (0.0, ALLOW, ["limit_per_referrer"])


def test_merge_adds_only_new_reasons():
    old = score([Finding("same_ip")])
    fresh = score([Finding("same_ip"), Finding("similar_name")])
    merged, added = merge(old, fresh)
    assert added == ["similar_name"]
    assert merged.reasons == ["same_ip", "similar_name"]
    # same_ip is not counted a second time: 1 − 0.7 × 0.8, not 1 − 0.7² × 0.8.
    assert merged.score == pytest.approx(0.44)
    assert merged.decision == ALLOW


def test_merge_with_the_same_evidence_again_changes_nothing():
    old = score([Finding("same_ip"), Finding("disposable_email")])
    merged, added = merge(old, score([Finding("disposable_email"), Finding("same_ip")]))
    assert added == []
    assert (merged.score, merged.decision, merged.reasons) == (old.score, old.decision, old.reasons)


def test_merge_escalates_when_new_evidence_crosses_a_threshold():
    old = score([Finding("same_ip")])
    merged, added = merge(old, score([Finding("self_referral_card", {"signal": "card"})]))
    assert added == ["self_referral_card"]
    assert (merged.score, merged.decision) == (1.0, BLOCK)
    assert merged.details["self_referral_card"] == {"weight": 1.0, "signal": "card"}
    assert merged.details["same_ip"] == old.details["same_ip"]


def test_merge_never_relaxes_the_decision():
    old = Risk(score=0.95, decision=BLOCK, reasons=["self_referral_device"], details={})
    merged, added = merge(old, score([]))
    assert (merged.decision, added) == (BLOCK, [])
    # A moderator's or a hold's review stays review though the score is low.
    held = Risk(score=0.1, decision=REVIEW, reasons=["velocity_ip"], details={})
    merged, _ = merge(held, score([Finding("similar_name")]))
    assert merged.decision == REVIEW


def test_merge_of_a_new_hold_forces_review():
    old = score([Finding("similar_name")])
    merged, added = merge(old, score([Finding("fast_conversion", hold=True)]))
    assert added == ["fast_conversion"]
    assert merged.decision == REVIEW


def test_merge_uses_the_campaigns_thresholds():
    old = score([Finding("similar_name")])
    fresh = score([Finding("same_ip")])
    merged, _ = merge(old, fresh, review_at=0.4, block_at=0.9)
    assert merged.decision == REVIEW  # 0.44 ≥ 0.4


def test_every_reason_has_a_weight_within_zero_and_one_and_a_message():
    for code, (weight, text) in REASONS.items():
        assert 0.0 <= weight <= 1.0, code
        assert str(text), code


def test_messages_are_in_the_active_language():
    with translation.override("en"):
        assert message("self_referral_email") == "Referrer and friend share an e-mail mailbox."
        assert message("limit_per_referrer") == (
            "The referrer reached the campaign's monthly limit."
        )
        assert message("no_such_code") == "no_such_code"


def test_every_reason_and_outcome_reads_in_russian_and_english():
    from sarafan.fraud.risk import OUTCOMES

    for code in [*REASONS, *OUTCOMES]:
        with translation.override("en"):
            english = message(code)
        with translation.override("ru"):
            russian = message(code)
        assert english != code, code
        assert russian != english, f"{code} has no Russian text"
