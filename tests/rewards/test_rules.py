"""The reward arithmetic, checked by properties over many generated rules and orders."""

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from sarafan.rewards.rules import RuleTerms, amount_for, applies

money = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("1000000"), places=2)
percents = st.decimals(min_value=Decimal("0.001"), max_value=Decimal("100"), places=3)


@given(order=money, percent=percents, cap=st.none() | money)
def test_percent_reward_is_the_share_of_the_order_never_above_cap(order, percent, cap):
    terms = RuleTerms(trigger="first_order", kind="percent", percent=percent, max_amount=cap)
    value = amount_for(terms, order_amount=order, referrer_successes=1)
    exact = order * percent / 100
    if value is None:
        assert exact < Decimal("0.005")
        return
    assert value == value.quantize(Decimal("0.01"))
    assert value > 0
    if cap is not None:
        assert value <= cap
    if cap is None or exact <= cap:
        assert abs(value - exact) <= Decimal("0.005")


@given(
    starts=st.lists(st.integers(min_value=1, max_value=50), min_size=1, max_size=6, unique=True),
    successes=st.integers(min_value=0, max_value=60),
)
def test_tiered_reward_is_the_highest_tier_reached(starts, successes):
    starts = sorted(starts)
    tiers = tuple((start, Decimal(100 * (i + 1))) for i, start in enumerate(starts))
    terms = RuleTerms(trigger="first_order", kind="tiered", tiers=tiers)
    value = amount_for(terms, order_amount=None, referrer_successes=successes)
    reached = [amount for start, amount in tiers if start <= successes]
    assert value == (reached[-1] if reached else None)


@given(
    order=st.none() | money,
    minimum=st.none() | money,
    trigger=st.sampled_from(["signup", "first_order", "repeat_order"]),
)
def test_rule_applies_only_to_its_trigger_and_above_its_minimum(order, minimum, trigger):
    terms = RuleTerms(
        trigger="first_order", kind="fixed", amount=Decimal(1), min_order_amount=minimum
    )
    result = applies(terms, trigger=trigger, order_amount=order)
    if trigger != "first_order":
        assert result is False
    elif minimum is None:
        assert result is True
    else:
        assert result == (order is not None and order >= minimum)


def test_fixed_reward_pays_its_amount_whatever_the_order():
    terms = RuleTerms(trigger="signup", kind="fixed", amount=Decimal("300.00"))
    assert amount_for(terms, order_amount=None, referrer_successes=0) == Decimal("300.00")
    assert amount_for(terms, order_amount=Decimal("1.00"), referrer_successes=9) == Decimal(
        "300.00"
    )


def test_percent_reward_without_an_order_pays_nothing():
    terms = RuleTerms(trigger="first_order", kind="percent", percent=Decimal(5))
    assert amount_for(terms, order_amount=None, referrer_successes=1) is None
