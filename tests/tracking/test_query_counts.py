"""The events endpoint's query count is bounded and does not grow with the data."""

from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.factories import create_campaign, create_referrer, order

# Statements for a first paid order that creates a referral, a reward and its certificate;
# savepoints are not counted (they are cheap and differ by database).
ORDER_QUERY_BUDGET = 24


def _count(fn):
    with CaptureQueriesContext(connection) as ctx:
        response = fn()
    assert response.status_code in (200, 201), response.content
    return sum(1 for q in ctx.captured_queries if not q["sql"].startswith(("SAVEPOINT", "RELEASE")))


def test_order_event_queries_are_bounded_and_flat(api):
    create_campaign(api)
    code = create_referrer(api)["referral_code"]
    first = _count(lambda: order(api, "c0", "o0", code=code))
    for i in range(1, 30):
        order(api, f"c{i}", f"o{i}", code=code)
    later = _count(lambda: order(api, "c99", "o99", code=code))
    assert first <= ORDER_QUERY_BUDGET
    assert later == first
    duplicate = _count(lambda: order(api, "c99", "o99", code=code))
    assert duplicate < first
