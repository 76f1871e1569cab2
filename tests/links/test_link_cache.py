"""The per-process link cache of /r/<code>: a hit costs no query, an entry lives the TTL.

The ages of entries are read from a clock the tests move (`clock`), not from the wall: on
a loaded machine a fraction of a second between two requests is no promise.
"""

import pytest

from sarafan.campaigns.models import Campaign
from sarafan.links import cache as cache_module
from sarafan.links import selectors
from sarafan.links.cache import LinkCache
from sarafan.links.models import Link
from sarafan.links.selectors import LinkTarget, refresh_link_cache
from sarafan.participants.models import Participant
from tests.links.support import make_campaign


class Clock:
    """Stands in for the `time` module of the cache: monotonic() is what the test says."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(cache_module, "time", clock)
    monkeypatch.setattr(selectors, "time", clock)
    return clock


@pytest.fixture
def campaign(project):
    return make_campaign(project)


@pytest.fixture
def code(api, campaign):
    return api.put("participants/u-7", {"email": "anna@example.ru"}).json()["referral_code"]


def test_cached_link_redirects_without_a_query(client, code, django_assert_num_queries):
    assert client.head(f"/r/{code}").status_code == 302  # HEAD records no click
    with django_assert_num_queries(0):
        response = client.head(f"/r/{code}")
    assert response.status_code == 302
    assert f"ref={code}" in response["Location"]


def test_cached_link_is_looked_up_again_after_the_ttl(client, code, campaign, settings, clock):
    settings.SARAFAN_LINK_CACHE_SECONDS = 0.2
    assert client.head(f"/r/{code}")["Location"].startswith("https://shop.example/welcome?")
    Campaign.objects.filter(pk=campaign.pk).update(landing_url="https://shop.example/new")
    assert client.head(f"/r/{code}")["Location"].startswith("https://shop.example/welcome?")
    clock.advance(0.25)
    assert client.head(f"/r/{code}")["Location"].startswith("https://shop.example/new?")


def test_zero_ttl_looks_up_every_time(client, code, settings, django_assert_num_queries):
    settings.SARAFAN_LINK_CACHE_SECONDS = 0
    client.head(f"/r/{code}")
    with django_assert_num_queries(1):
        assert client.head(f"/r/{code}").status_code == 302


def test_unknown_code_is_not_remembered(client, api, project, campaign):
    assert client.head("/r/LATE2222").status_code == 404
    api.put("participants/u-8", {})
    Link.objects.create(
        project=project,
        participant=Participant.objects.get(external_id="u-8"),
        campaign=campaign,
        code="LATE2222",
        channel="link",
    )
    assert client.head("/r/LATE2222").status_code == 302


def test_cache_keeps_the_most_recently_used_links():
    cache = LinkCache(size=2)
    targets = {code: _target(code) for code in ("A", "B", "C")}
    cache.put("A", targets["A"])
    cache.put("B", targets["B"])
    assert cache.get("A", ttl=60) is targets["A"]
    cache.put("C", targets["C"])
    assert cache.get("B", ttl=60) is None
    assert cache.get("A", ttl=60) is targets["A"]
    assert cache.get("C", ttl=60) is targets["C"]


def test_links_in_use_are_read_again_before_they_expire(
    client, code, campaign, settings, django_assert_num_queries, clock
):
    settings.SARAFAN_LINK_CACHE_SECONDS = 1.0
    client.head(f"/r/{code}")
    client.head(f"/r/{code}")  # in use
    Campaign.objects.filter(pk=campaign.pk).update(landing_url="https://shop.example/new")
    assert refresh_link_cache() == 0  # not half its TTL old yet
    clock.advance(0.55)
    with django_assert_num_queries(1):
        assert refresh_link_cache() == 1
    with django_assert_num_queries(0):
        assert client.head(f"/r/{code}")["Location"].startswith("https://shop.example/new?")


def test_refresh_forgets_a_deleted_link(client, code, settings, clock):
    settings.SARAFAN_LINK_CACHE_SECONDS = 1.0
    client.head(f"/r/{code}")
    client.head(f"/r/{code}")
    Link.objects.filter(code=code).delete()
    clock.advance(0.55)
    assert refresh_link_cache() == 1
    assert client.head(f"/r/{code}").status_code == 404


def test_unused_entries_are_left_to_expire():
    cache = LinkCache(size=10)
    cache.put("A", _target("A"))
    cache.put("B", _target("B"))
    cache.get("A", ttl=60)
    assert cache.stale(age=0) == ["A"]


def _target(code: str) -> LinkTarget:
    return LinkTarget(
        link_id=1,
        project_id=1,
        livemode=False,
        participant_id=1,
        campaign_id=None,
        code=code,
        channel="link",
        utm={},
        landing_url=None,
    )
