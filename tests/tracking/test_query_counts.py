"""The events endpoint's query count is bounded and does not grow with the data."""

from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.factories import create_campaign, create_referrer, order

# Round trips for a first paid order from a new customer that creates the customer (with
# their link), a referral, a reward and its certificate, once the process has the campaign
# in memory. Savepoints count: each is a round trip too (two here: the new customer's
# insert, and the event's own transaction, a savepoint inside the test's transaction).
# The anti-fraud checks take four of them: the identity signals' upsert, the signals the
# referrer shares, flagged signals, and the referrer's referrals this hour. The order's six
# outbox events (sarafan.events) take one INSERT; the referral it creates is written
# already qualified. 27 round trips today (28 before the outbox): the budget stays 28.
ORDER_QUERY_BUDGET = 28


def _count(fn):
    with CaptureQueriesContext(connection) as ctx:
        response = fn()
    assert response.status_code in (200, 201), response.content
    return len(ctx.captured_queries)


def test_order_event_queries_are_bounded_and_flat(api, settings):
    # What a process keeps in memory lasts the whole test, however slow the machine: an
    # entry expiring between two orders would count its reload as the order's.
    for cache in ("KEY", "FRAUD_RULES", "LINK"):
        setattr(settings, f"SARAFAN_{cache}_CACHE_SECONDS", 3600.0)
    create_campaign(api)
    codes = [create_referrer(api, f"u-{i}")["referral_code"] for i in range(5)]
    # The first event of a process also reads the campaign and its rules, the stop-rules
    # and the block list into memory.
    cold = _count(lambda: order(api, "c0", "o0", code=codes[0]))
    first = _count(lambda: order(api, "c1", "o1", code=codes[1]))
    assert cold == first + 4
    # More data, spread over referrers (ten referrals an hour by one referrer trips the
    # velocity stop-rule, which holds rewards instead of issuing them).
    for i in range(2, 30):
        order(api, f"c{i}", f"o{i}", code=codes[2 + i % 2])
    later = _count(lambda: order(api, "c99", "o99", code=codes[4]))
    assert first <= ORDER_QUERY_BUDGET, first
    assert later == first
    duplicate = _count(lambda: order(api, "c99", "o99", code=codes[4]))
    assert duplicate < first
