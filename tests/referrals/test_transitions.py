"""The referral state machine: every move the code makes is in the table, and a move not
in it is refused."""

from collections.abc import Iterator

import pytest
from django.db.models.signals import pre_save

from sarafan.core.errors import Conflict
from sarafan.referrals.models import Referral, ReferralStatus
from sarafan.referrals.moves import move
from sarafan.referrals.transitions import INITIAL, TRANSITIONS, can_move
from tests.fraud.support import (
    REFEREE_SIGNUP_REWARD,
    REFERRER_REWARD,
    buy,
    campaign,
    ok,
    referrer,
    signup,
)
from tests.moderation.test_api import IP, _case

S = ReferralStatus


@pytest.fixture
def moves() -> Iterator[set[tuple[str, str]]]:
    """Every status change written to a saved referral, as (from, to)."""
    seen: set[tuple[str, str]] = set()

    def record(sender: type[Referral], instance: Referral, **kwargs: object) -> None:
        fields = kwargs.get("update_fields")
        if instance.pk is None or (fields is not None and "status" not in fields):
            return
        before = Referral.objects.filter(pk=instance.pk).values_list("status", flat=True).get()
        if before != instance.status:
            seen.add((before, instance.status))

    pre_save.connect(record, sender=Referral, dispatch_uid="test-referral-moves")
    try:
        yield seen
    finally:
        pre_save.disconnect(sender=Referral, dispatch_uid="test-referral-moves")


def test_the_table_names_every_status():
    assert set(TRANSITIONS) == set(S.values)
    assert set(S.values) >= INITIAL
    assert all(to in S.values for targets in TRANSITIONS.values() for to in targets)


def test_every_move_the_code_makes_is_in_the_table(api, moves):
    # The friend's reward waits out a hold period, so an approval can still be reversed.
    campaign(api, rules=[{**REFEREE_SIGNUP_REWARD, "hold_days": 14}, REFERRER_REWARD])
    code = referrer(api)
    browser = {"ip": IP, "user_agent": "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Firefox/133.0"}
    signup(api, "u-7", context=browser)
    # Approved, reversed (back in review), rejected, reversed again, approved after the order.
    case = _case(api, "u-8", code=code)["referral"]["id"]
    approval = ok(api.post(f"referrals/{case}/approve"), 200)["decision"]
    ok(api.post(f"fraud/decisions/{approval}/reverse"), 200)
    rejection = ok(api.post(f"referrals/{case}/reject"), 200)["decision"]
    ok(api.post(f"fraud/decisions/{rejection}/reverse"), 200)
    buy(api, "u-8", "o-8")
    ok(api.post(f"referrals/{case}/approve"), 200)
    # Approved, then an order from the referrer's own browser holds it again.
    held = _case(api, "u-9", code=code)["referral"]["id"]
    ok(api.post(f"referrals/{held}/approve"), 200)
    assert buy(api, "u-9", "o-9", context=browser)["referral"]["status"] == "review"
    # Pending, qualified by its first order, rejected by a fraudster mark.
    signup(api, "u-10", code=code)
    assert buy(api, "u-10", "o-10")["referral"]["status"] == "qualified"
    signup(api, "u-11", code=code)
    ok(api.post("fraud/fraudsters", {"participant": "u-11"}), 200)

    assert moves == {
        (S.REVIEW, S.PENDING),
        (S.PENDING, S.REVIEW),
        (S.REVIEW, S.REJECTED),
        (S.REJECTED, S.REVIEW),
        (S.REVIEW, S.QUALIFIED),
        (S.PENDING, S.QUALIFIED),
        (S.PENDING, S.REJECTED),
    }
    assert all(can_move(before, after) for before, after in moves)


def test_a_move_not_in_the_table_is_refused(api):
    campaign(api, rules=[REFEREE_SIGNUP_REWARD])
    case = _case(api, "u-8", code=referrer(api))["referral"]["id"]
    ok(api.post(f"referrals/{case}/reject"), 200)
    referral = Referral.objects.get(public_id=case)
    assert not can_move(S.REJECTED, S.QUALIFIED)

    with pytest.raises(Conflict) as refused:
        move(referral, S.QUALIFIED)

    assert refused.value.status == 409
    assert refused.value.as_body()["error"]["code"] == "invalid_status_transition"
    assert Referral.objects.get(pk=referral.pk).status == S.REJECTED
