"""Attribution properties over generated sequences of events."""

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sarafan.referrals.models import Referral
from sarafan.rewards.models import Reward
from tests.factories import create_campaign, create_referrer, order, signup

REFERRERS = 4


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    steps=st.lists(
        st.tuples(
            st.sampled_from(["signup", "order"]), st.integers(0, REFERRERS - 1), st.integers(0, 2)
        ),
        min_size=1,
        max_size=8,
    )
)
def test_first_referrer_keeps_the_customer_and_orders_pay_once(api, steps):
    Referral.objects.all().delete()
    Reward.objects.all().delete()
    from sarafan.tracking.models import Order

    Order.objects.all().delete()
    if not hasattr(test_first_referrer_keeps_the_customer_and_orders_pay_once, "codes"):
        create_campaign(
            api,
            new_customers_only=False,
            rules=[
                {
                    "recipient": "referrer",
                    "trigger": "first_order",
                    "kind": "fixed",
                    "amount": "10.00",
                },
                {
                    "recipient": "referrer",
                    "trigger": "repeat_order",
                    "kind": "fixed",
                    "amount": "1.00",
                },
            ],
        )
    codes = [create_referrer(api, f"r{i}")["referral_code"] for i in range(REFERRERS)]
    customer = f"c-{len(steps)}-{steps[0][1]}"
    first_referrer = None
    for kind, who, order_no in steps:
        response = (
            signup(api, customer, codes[who])
            if kind == "signup"
            else order(api, customer, f"{customer}-o{order_no}", code=codes[who])
        )
        assert response.status_code in (200, 201)
        first_referrer = first_referrer or f"r{who}"
        assert response.json()["referral"]["referrer"] == first_referrer
    orders = {order_no for kind, _, order_no in steps if kind == "order"}
    rewards = Reward.objects.filter(recipient__external_id=first_referrer)
    assert rewards.count() == len(orders)
    assert Reward.objects.exclude(recipient__external_id=first_referrer).count() == 0
