"""The events endpoint's query count is bounded and does not grow with the data."""

from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.factories import create_campaign, create_referrer, order

# Round trips for a first paid order from a new customer that creates the customer (with
# their link), a referral, a reward and its certificate, once the process has the campaign
# in memory. Savepoints count: each is a round trip too (two here: the new customer's
# insert, and the event's own transaction, a savepoint inside the test's transaction).
ORDER_QUERY_BUDGET = 24


def _count(fn):
    with CaptureQueriesContext(connection) as ctx:
        response = fn()
    assert response.status_code in (200, 201), response.content
    return len(ctx.captured_queries)


def test_order_event_queries_are_bounded_and_flat(api):
    create_campaign(api)
    code = create_referrer(api)["referral_code"]
    # The first event of a process also reads the campaign and its rules into memory.
    cold = _count(lambda: order(api, "c0", "o0", code=code))
    first = _count(lambda: order(api, "c1", "o1", code=code))
    assert cold == first + 2
    for i in range(2, 30):
        order(api, f"c{i}", f"o{i}", code=code)
    later = _count(lambda: order(api, "c99", "o99", code=code))
    assert first <= ORDER_QUERY_BUDGET, first
    assert later == first
    duplicate = _count(lambda: order(api, "c99", "o99", code=code))
    assert duplicate < first
